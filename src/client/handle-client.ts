import dgram from 'node:dgram';
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
import { DEFAULT_RESOLVE_FLAGS, type RequestSpec, encodeRequest, newRequestId } from './request.js';

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
}

export class ClientError extends Error {
  constructor(
    message: string,
    readonly kind: 'timeout' | 'network' | 'protocol',
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
  private readonly udpTimeouts: number[];
  private readonly tcpTimeout: number;
  private sockets = new Map<'udp4' | 'udp6', dgram.Socket>();
  private pending = new Map<number, PendingUdp>();
  private readonly reassembler = new Reassembler({ timeoutMs: 10000 });

  constructor(opts: ClientOptions = {}) {
    this.udpTimeouts = opts.udpTimeoutsMs ?? [500, 1000, 1500];
    this.tcpTimeout = opts.tcpTimeoutMs ?? 10000;
  }

  close(): void {
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
  async udpRequest(server: ServerAddress, spec: RequestSpec): Promise<Packet> {
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

  /** One request over TCP; returns every response message (several when the server streams with CN). */
  tcpRequest(server: ServerAddress, spec: RequestSpec): Promise<Packet[]> {
    return this.tcpSend(server, encodeRequest(spec));
  }

  /** One encoded request packet over TCP (a signed or MAC'd one, say); every response message. */
  tcpSend(server: ServerAddress, packet: Buffer): Promise<Packet[]> {
    return new Promise<Packet[]>((resolve, reject) => {
      const out: Packet[] = [];
      let buf: Buffer = Buffer.alloc(0);
      let settled = false;
      const socket = net.connect({ host: server.host, port: server.port, noDelay: true });
      const done = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        if (err) reject(err);
        else resolve(out);
      };
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
            const p = decodePacket(buf.subarray(0, ENVELOPE_SIZE + len));
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
  request(server: ServerAddress, spec: RequestSpec, transport: TransportChoice = 'auto'): Promise<{ packet: Packet; transport: 'udp' | 'tcp' }> {
    return this.requestAt(
      {
        host: server.host,
        ...(transport !== 'tcp' ? { udpPort: server.port } : {}),
        ...(transport !== 'udp' ? { tcpPort: server.port } : {}),
      },
      spec,
    );
  }

  /**
   * The same, to a server whose UDP and TCP ports may differ (as a site record can say): UDP first when it
   * has a UDP port, TCP when UDP is not offered, gets no answer, or says the answer is too large (TC).
   */
  async requestAt(target: InterfaceTarget, spec: RequestSpec): Promise<{ packet: Packet; transport: 'udp' | 'tcp' }> {
    if (target.udpPort !== undefined) {
      try {
        const packet = await this.udpRequest({ host: target.host, port: target.udpPort }, spec);
        const tooLarge = packet.envelope.truncated && packet.header.responseCode !== ResponseCode.SUCCESS;
        if (!tooLarge || target.tcpPort === undefined) return { packet, transport: 'udp' };
      } catch (err) {
        if (target.tcpPort === undefined || !(err instanceof ClientError) || err.kind !== 'timeout') throw err;
      }
    }
    if (target.tcpPort === undefined) throw new ClientError(`${target.host} offers neither UDP nor TCP`, 'network');
    const packets = await this.tcpRequest({ host: target.host, port: target.tcpPort }, spec);
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
