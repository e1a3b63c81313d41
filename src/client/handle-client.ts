import type { KeyObject } from 'node:crypto';
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { ENVELOPE_SIZE, Limits, OpCode, OpFlag, ResponseCode } from '../protocol/constants.js';
import { DecodeError } from '../protocol/errors.js';
import { Reassembler, fragmentPacket } from '../protocol/fragment.js';
import { type Packet, decodePacket } from '../protocol/message.js';
import {
  decodeErrorBody,
  decodeReferral,
  decodeResolutionResponse,
  decodeSiteInfoResponse,
  encodeResolutionRequest,
  encodeSiteInfoRequest,
} from '../protocol/bodies.js';
import type { HandleValue } from '../model/value.js';
import type { SiteInfo } from '../model/site.js';
import { encodeAddress } from '../protocol/site.js';
import { DEFAULT_RESOLVE_FLAGS, type RequestSpec, encodeRequest, newRequestId } from './request.js';
import { REFUSAL_REASONS, type RefusalReason, type SentRequest, checkAnswer, sentRequest } from './answer-check.js';

export interface ServerAddress {
  host: string;
  port: number;
}

export type TransportChoice = 'udp' | 'tcp' | 'auto';

export interface ClientOptions {
  /** Wait after each UDP try; the reference client waits 500, 1000 and 1500 ms, then falls back to TCP. */
  udpTimeoutsMs?: number[];
  /** Limit for a whole TCP exchange. */
  tcpTimeoutMs?: number;
  /**
   * A resolver's client, hardened against forged answers (docs/security.md): each UDP query from a socket of
   * its own on a port the kernel picks at random, bound to `sourceAddress`; a datagram believed only from the
   * address and port asked; the request digest (RD) asked for and checked, and the RequestId, opcode and
   * handle; over TCP the same checks of content. An answer that fails is dropped and counted (`stats`), and
   * the query waits on for the real one until its time is up. Absent: the plain client, one shared socket.
   */
  hardened?: HardeningOptions;
}

export interface HardeningOptions {
  /**
   * The address queries go out from: the node's listen address. Used for servers of its family; a loopback
   * address only for loopback servers. Otherwise (and when absent) the unspecified address.
   */
  sourceAddress?: string;
}

export interface ExchangeOptions {
  /** Ask for a certified answer (CT) and believe only one signed (HS_SIGNED) with this key. Hardened clients only. */
  verifyKey?: KeyObject;
}

/** What a client counts: answers it refused, by reason, and the sockets it holds open for its exchanges. */
export class ClientStats {
  readonly refused = Object.fromEntries(REFUSAL_REASONS.map((r) => [r, 0])) as Record<RefusalReason, number>;
  /** UDP sockets (hardened) and TCP connections open now. */
  openSockets = 0;
  /** The most ever open at once. */
  maxOpenSockets = 0;
}

export class ClientError extends Error {
  constructor(
    message: string,
    /** 'truncated': the server said over UDP that its answer needs TCP (a hardened client's unverifiable TC). */
    readonly kind: 'timeout' | 'network' | 'protocol' | 'truncated',
  ) {
    super(message);
    this.name = 'ClientError';
  }
}

export interface ResolveOptions {
  types?: string[];
  indexes?: number[];
  flags?: number;
  transport?: TransportChoice;
}

export interface ResolveResult {
  responseCode: number;
  handle: string;
  values: HandleValue[];
  /** The error message of a non-success answer. */
  message: string;
  /** The transport the answer came over. */
  transport: 'udp' | 'tcp';
  packet: Packet;
}

/** Parse "host:port", "[v6]:port" or a bare host (default port). */
export function parseServer(s: string, defaultPort = 2641): ServerAddress {
  const m6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (m6) return { host: m6[1]!, port: m6[2] ? Number(m6[2]) : defaultPort };
  const i = s.lastIndexOf(':');
  if (i > 0 && s.indexOf(':') === i) {
    const port = Number(s.slice(i + 1));
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad port in "${s}"`);
    return { host: s.slice(0, i), port };
  }
  return { host: s, port: defaultPort };
}

/** A server as a site record describes it: an address, and the ports of its UDP and TCP query interfaces. */
export interface InterfaceTarget {
  host: string;
  udpPort?: number;
  tcpPort?: number;
}

interface PendingUdp {
  resolve: (p: Packet) => void;
  reject: (e: Error) => void;
  key: string;
}

/**
 * A Handle protocol client: UDP with the reference client's retries and fragment reassembly, falling back to
 * TCP; TCP reads until a message without CN arrives. One UDP socket per address family, shared by all
 * requests and matched by RequestId.
 */
export class HandleClient {
  readonly stats = new ClientStats();
  private readonly udpTimeouts: number[];
  private readonly tcpTimeout: number;
  private readonly hardening: HardeningOptions | undefined;
  /** Ends each exchange in flight on its own socket (hardened UDP, and TCP): close() calls them. */
  private readonly inFlight = new Set<(err: Error) => void>();
  private sockets = new Map<'udp4' | 'udp6', dgram.Socket>();
  private pending = new Map<number, PendingUdp>();
  private readonly reassembler = new Reassembler({ timeoutMs: 10000 });

  constructor(opts: ClientOptions = {}) {
    this.udpTimeouts = opts.udpTimeoutsMs ?? [500, 1000, 1500];
    this.tcpTimeout = opts.tcpTimeoutMs ?? 10000;
    this.hardening = opts.hardened;
  }

  get hardened(): boolean {
    return this.hardening !== undefined;
  }

  close(): void {
    for (const end of [...this.inFlight]) end(new ClientError('client closed', 'network'));
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
    for (const p of this.pending.values()) p.reject(new ClientError('client closed', 'network'));
    this.pending.clear();
  }

  private async udpSocket(family: 'udp4' | 'udp6'): Promise<dgram.Socket> {
    let s = this.sockets.get(family);
    if (s) return s;
    s = dgram.createSocket(family);
    this.sockets.set(family, s);
    s.on('message', (msg) => this.onUdpMessage(msg));
    s.on('error', () => undefined);
    await new Promise<void>((resolve) => s!.bind(0, resolve));
    s.unref();
    return s;
  }

  private onUdpMessage(msg: Buffer): void {
    if (msg.length < ENVELOPE_SIZE) return;
    const rid = msg.readUInt32BE(8);
    const p = this.pending.get(rid);
    if (!p) return;
    try {
      const whole = this.reassembler.add(p.key, msg, Date.now());
      if (!whole) return;
      const packet = decodePacket(whole);
      this.pending.delete(rid);
      p.resolve(packet);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.pending.delete(rid);
      p.reject(new ClientError(`malformed response: ${err.message}`, 'protocol'));
    }
  }

  /** One request over UDP, retried after each timeout; rejects with kind 'timeout' when every try is spent. */
  async udpRequest(server: ServerAddress, spec: RequestSpec, ex: ExchangeOptions = {}): Promise<Packet> {
    if (this.hardening) return this.hardenedUdpRequest(server, spec, ex);
    if (ex.verifyKey) throw new Error('certified answers need a hardened client');
    const family = net.isIPv6(server.host) ? 'udp6' : 'udp4';
    const socket = await this.udpSocket(family);
    let requestId = spec.requestId ?? newRequestId();
    while (this.pending.has(requestId)) requestId = newRequestId();
    const datagrams = fragmentPacket(encodeRequest({ ...spec, requestId }));
    socket.ref();
    try {
      return await new Promise<Packet>((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        let tries = 0;
        const finish = () => {
          if (timer) clearTimeout(timer);
          this.pending.delete(requestId);
        };
        this.pending.set(requestId, {
          key: `${server.host}|${server.port}|${requestId}`,
          resolve: (p) => {
            finish();
            resolve(p);
          },
          reject: (e) => {
            finish();
            reject(e);
          },
        });
        const send = () => {
          if (tries >= this.udpTimeouts.length) {
            finish();
            reject(new ClientError(`no answer over UDP from ${server.host}:${server.port}`, 'timeout'));
            return;
          }
          const wait = this.udpTimeouts[tries++]!;
          for (const d of datagrams) socket.send(d, server.port, server.host);
          timer = setTimeout(send, wait);
        };
        send();
      });
    } finally {
      if (this.pending.size === 0) socket.unref();
    }
  }

  /**
   * A hardened client's UDP exchange: a socket of its own, bound to the source address on a random port, for
   * this query's tries and nothing else; every datagram checked, and those that fail dropped and counted.
   */
  private async hardenedUdpRequest(server: ServerAddress, spec: RequestSpec, ex: ExchangeOptions): Promise<Packet> {
    const host = await addressOf(server.host);
    const packet = this.checkedRequest(spec, ex);
    const sent = sentRequest(packet, ex.verifyKey);
    const datagrams = fragmentPacket(packet);
    const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    this.opened();
    const source = this.sourceFor(host);
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind({ port: 0, ...(source ? { address: source } : {}) }, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      this.closeUdp(socket);
      throw new ClientError(`cannot bind a UDP socket on ${source ?? 'any address'}: ${(err as Error).message}`, 'network');
    }
    socket.on('error', () => undefined);
    // Fragments of this one answer; a forged fragment spoils at most the message it lands in, which then
    // fails its checks, and the server's answer to the next try is put together afresh.
    const reassembler = new Reassembler({ maxPending: 1, timeoutMs: 10000 });
    let timer: NodeJS.Timeout | undefined;
    let end: ((err: Error) => void) | undefined;
    try {
      return await new Promise<Packet>((resolve, reject) => {
        end = reject;
        this.inFlight.add(end);
        socket.on('message', (msg, rinfo) => {
          if (rinfo.port !== server.port || !sameAddress(rinfo.address, host)) return this.refuse('address');
          if (msg.length < ENVELOPE_SIZE || msg.readUInt32BE(8) !== sent.requestId) return this.refuse('request_id');
          let whole: Buffer | undefined;
          try {
            whole = reassembler.add('answer', msg, Date.now());
          } catch {
            return this.refuse('malformed');
          }
          if (!whole) return;
          const verdict = checkAnswer(whole, sent);
          if (typeof verdict === 'string') {
            this.refuse(verdict);
            // A server over its UDP rate answers with a short TC error that carries no digest (it cannot be
            // checked); from the right address, port and RequestId it is taken as a hint to ask over TCP,
            // where every check applies. A forger gains nothing by it but a TCP exchange.
            if (verdict === 'digest' && whole[2]! & 0x20 && whole.length >= ENVELOPE_SIZE + 8 && whole.readUInt32BE(ENVELOPE_SIZE + 4) !== ResponseCode.SUCCESS) {
              reject(new ClientError(`${server.host}:${server.port} says its answer needs TCP`, 'truncated'));
            }
            return;
          }
          resolve(verdict);
        });
        let tries = 0;
        const send = () => {
          if (tries >= this.udpTimeouts.length) {
            reject(new ClientError(`no answer over UDP from ${server.host}:${server.port}`, 'timeout'));
            return;
          }
          const wait = this.udpTimeouts[tries++]!;
          for (const d of datagrams) socket.send(d, server.port, host);
          timer = setTimeout(send, wait);
        };
        send();
      });
    } finally {
      clearTimeout(timer);
      if (end) this.inFlight.delete(end);
      this.closeUdp(socket);
    }
  }

  /** A request as a hardened client sends it: RD always, CT when a signed answer is wanted, a fresh RequestId. */
  private checkedRequest(spec: RequestSpec, ex: ExchangeOptions): Buffer {
    const flags = (spec.flags ?? DEFAULT_RESOLVE_FLAGS) | OpFlag.RD | (ex.verifyKey ? OpFlag.CT : 0);
    return encodeRequest({ ...spec, flags: flags >>> 0, requestId: spec.requestId ?? newRequestId() });
  }

  /** The address to send from, for a server at `host` (an IP address). */
  private sourceFor(host: string): string | undefined {
    const src = this.hardening?.sourceAddress;
    if (!src || src === '0.0.0.0' || src === '::') return undefined;
    if (net.isIPv6(src) !== net.isIPv6(host)) return undefined;
    if (isLoopback(src) && !isLoopback(host)) return undefined;
    return src;
  }

  private refuse(reason: RefusalReason): void {
    this.stats.refused[reason]++;
  }

  private opened(): void {
    if (++this.stats.openSockets > this.stats.maxOpenSockets) this.stats.maxOpenSockets = this.stats.openSockets;
  }

  private closeUdp(socket: dgram.Socket): void {
    try {
      socket.close();
    } catch {
      // already closed
    }
    this.stats.openSockets--;
  }

  /** One request over TCP; returns every response message (several when the server streams with CN). */
  async tcpRequest(server: ServerAddress, spec: RequestSpec, ex: ExchangeOptions = {}): Promise<Packet[]> {
    if (!this.hardening) {
      if (ex.verifyKey) throw new Error('certified answers need a hardened client');
      return this.tcpSend(server, encodeRequest(spec));
    }
    const host = await addressOf(server.host);
    const packet = this.checkedRequest(spec, ex);
    return this.tcpSend({ host, port: server.port }, packet, sentRequest(packet, ex.verifyKey));
  }

  /**
   * One encoded request packet over TCP (a signed or MAC'd one, say); every response message. With `sent`
   * (a hardened client), each message must pass the answer checks, or the exchange fails.
   */
  tcpSend(server: ServerAddress, packet: Buffer, sent?: SentRequest): Promise<Packet[]> {
    return new Promise<Packet[]>((resolve, reject) => {
      const out: Packet[] = [];
      let buf: Buffer = Buffer.alloc(0);
      let settled = false;
      const source = sent && net.isIP(server.host) ? this.sourceFor(server.host) : undefined;
      const socket = net.connect({ host: server.host, port: server.port, noDelay: true, ...(source ? { localAddress: source } : {}) });
      this.opened();
      const done = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.inFlight.delete(done);
        socket.destroy();
        this.stats.openSockets--;
        if (err) reject(err);
        else resolve(out);
      };
      this.inFlight.add(done);
      const timer = setTimeout(
        () => done(new ClientError(`no answer over TCP from ${server.host}:${server.port}`, 'timeout')),
        this.tcpTimeout,
      );
      socket.on('connect', () => socket.write(packet));
      socket.on('error', (e) => done(new ClientError(`TCP ${server.host}:${server.port}: ${e.message}`, 'network')));
      socket.on('close', () => done(out.length ? undefined : new ClientError('connection closed before an answer', 'network')));
      socket.on('data', (chunk: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        try {
          while (buf.length >= ENVELOPE_SIZE) {
            const len = buf.readUInt32BE(16);
            if (len > Limits.MAX_MESSAGE_LENGTH) throw new DecodeError(`response length ${len} over the limit`);
            if (buf.length < ENVELOPE_SIZE + len) return;
            const frame = buf.subarray(0, ENVELOPE_SIZE + len);
            let p: Packet;
            if (sent) {
              const verdict = checkAnswer(frame, sent);
              if (typeof verdict === 'string') {
                this.refuse(verdict);
                return done(new ClientError(`answer over TCP from ${server.host}:${server.port} refused (${verdict})`, 'protocol'));
              }
              p = verdict;
            } else p = decodePacket(frame);
            buf = buf.subarray(ENVELOPE_SIZE + len);
            out.push(p);
            if (!(p.header.opFlags & OpFlag.CN)) return done();
          }
        } catch (err) {
          done(new ClientError(`malformed response: ${(err as Error).message}`, 'protocol'));
        }
      });
    });
  }

  /** UDP first, then TCP when UDP gets no answer or the answer was too large for UDP (TC). */
  request(
    server: ServerAddress,
    spec: RequestSpec,
    transport: TransportChoice = 'auto',
    ex: ExchangeOptions = {},
  ): Promise<{ packet: Packet; transport: 'udp' | 'tcp' }> {
    return this.requestAt(
      {
        host: server.host,
        ...(transport !== 'tcp' ? { udpPort: server.port } : {}),
        ...(transport !== 'udp' ? { tcpPort: server.port } : {}),
      },
      spec,
      ex,
    );
  }

  /**
   * The same, to a server whose UDP and TCP ports may differ (as a site record can say): UDP first when it
   * has a UDP port, TCP when UDP is not offered, gets no answer, or says the answer is too large (TC).
   */
  async requestAt(target: InterfaceTarget, spec: RequestSpec, ex: ExchangeOptions = {}): Promise<{ packet: Packet; transport: 'udp' | 'tcp' }> {
    if (target.udpPort !== undefined) {
      try {
        const packet = await this.udpRequest({ host: target.host, port: target.udpPort }, spec, ex);
        const tooLarge = packet.envelope.truncated && packet.header.responseCode !== ResponseCode.SUCCESS;
        if (!tooLarge || target.tcpPort === undefined) return { packet, transport: 'udp' };
      } catch (err) {
        if (target.tcpPort === undefined || !(err instanceof ClientError) || (err.kind !== 'timeout' && err.kind !== 'truncated')) throw err;
      }
    }
    if (target.tcpPort === undefined) throw new ClientError(`${target.host} offers neither UDP nor TCP`, 'network');
    const packets = await this.tcpRequest({ host: target.host, port: target.tcpPort }, spec, ex);
    return { packet: packets[0]!, transport: 'tcp' };
  }

  async resolve(server: ServerAddress, handle: string, opts: ResolveOptions = {}): Promise<ResolveResult> {
    const body = encodeResolutionRequest(handle, opts.indexes ?? [], opts.types ?? []);
    const flags = opts.flags ?? DEFAULT_RESOLVE_FLAGS;
    const { packet, transport } = await this.request(server, { opCode: OpCode.RESOLUTION, body, flags }, opts.transport);
    return interpretResolution(packet, transport);
  }

  async siteInfo(server: ServerAddress, transport: TransportChoice = 'auto'): Promise<SiteInfo> {
    const { packet } = await this.request(server, { opCode: OpCode.GET_SITE_INFO, body: encodeSiteInfoRequest(), flags: 0 }, transport);
    const hasDigest = (packet.header.opFlags & OpFlag.RD) !== 0;
    if (packet.header.responseCode !== ResponseCode.SUCCESS) {
      throw new ClientError(`site info: RC ${packet.header.responseCode} ${decodeErrorBody(packet.body, hasDigest).message}`, 'protocol');
    }
    return decodeSiteInfoResponse(packet.body, hasDigest);
  }
}

/** An IP address for a server given by address or name (a name is looked up once per exchange). */
async function addressOf(host: string): Promise<string> {
  if (net.isIP(host)) return host;
  try {
    return (await lookup(host)).address;
  } catch (err) {
    throw new ClientError(`cannot look up ${host}: ${(err as Error).message}`, 'network');
  }
}

function isLoopback(address: string): boolean {
  return net.isIPv4(address) ? address.startsWith('127.') : sameAddress(address, '::1') || /^::ffff:127\./i.test(address);
}

/** Two IP addresses are the same (IPv6 compared as 16 bytes, whatever their spelling). */
export function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  if (!net.isIPv6(a) || !net.isIPv6(b)) return false;
  try {
    return encodeAddress(a).equals(encodeAddress(b));
  } catch {
    return false;
  }
}

export function interpretResolution(packet: Packet, transport: 'udp' | 'tcp'): ResolveResult {
  const rc = packet.header.responseCode;
  const hasDigest = (packet.header.opFlags & OpFlag.RD) !== 0;
  try {
    if (rc === ResponseCode.SUCCESS) {
      const r = decodeResolutionResponse(packet.body, hasDigest);
      return { responseCode: rc, handle: r.handle, values: r.values, message: '', transport, packet };
    }
    if (rc === ResponseCode.PREFIX_REFERRAL || rc === ResponseCode.SERVICE_REFERRAL) {
      // A referral carries the values of the sites to ask next.
      const r = decodeReferral(packet.body, hasDigest);
      return { responseCode: rc, handle: r.handle, values: r.values, message: '', transport, packet };
    }
    if (rc === ResponseCode.AUTHENTICATION_NEEDED) {
      // The body is the challenge (digest and nonce), not a message.
      return { responseCode: rc, handle: '', values: [], message: 'authentication needed', transport, packet };
    }
    const m = decodeErrorBody(packet.body, hasDigest);
    return { responseCode: rc, handle: '', values: [], message: m.message, transport, packet };
  } catch (err) {
    if (err instanceof DecodeError) throw new ClientError(`malformed response: ${err.message}`, 'protocol');
    throw err;
  }
}
