import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { ENVELOPE_SIZE, Limits, ResponseCode } from '../protocol/constants.js';
import { DecodeError } from '../protocol/errors.js';
import { Reassembler, fragmentPacket } from '../protocol/fragment.js';
import type { PacketHandler } from '../wire/dispatcher.js';
import { truncatedError } from '../protocol/message.js';
import { DROP, type ResponseRateLimiter, SEND, SLIP } from './udp-rate.js';

/** dgram's reusePort option arrived in Node 22.12. */
const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
export const HAS_REUSEPORT = major > 22 || (major === 22 && minor >= 12);

export interface UdpOptions {
  /** Largest response (message bytes) sent over UDP; larger answers are refused with TC so the client uses TCP. */
  maxResponseBytes: number;
  /** Response-rate limiting by source prefix (udp-rate.ts); absent: every answer goes out. */
  limiter?: ResponseRateLimiter;
  /** Called for each large response replaced by a TC answer because its prefix was over its byte budget. */
  onRateLimited?: () => void;
  /** The clock the limiter reads (ms). */
  now?: () => number;
  /** An error of the socket (default: standard error). */
  onError?: (err: Error) => void;
}

/**
 * The UDP front end: moves datagrams. Single-datagram requests (nearly all) go straight to the handler;
 * fragmented ones are reassembled first, keyed by peer and RequestId. Responses over 492 message bytes
 * leave as fragments.
 */
export class UdpFrontEnd {
  private socket?: dgram.Socket;
  private readonly reassembler = new Reassembler({ maxPending: 4096, maxBytes: 64 * 1024 * 1024, timeoutMs: 5000 });
  private sweeper?: NodeJS.Timeout;
  private readonly limiter: ResponseRateLimiter | undefined;
  private readonly now: () => number;

  constructor(
    private readonly handler: PacketHandler,
    private readonly opts: UdpOptions,
  ) {
    this.limiter = opts.limiter?.enabled ? opts.limiter : undefined;
    this.now = opts.now ?? Date.now;
  }

  /** Bound and not closed (readiness). */
  get listening(): boolean {
    return this.socket !== undefined;
  }

  /**
   * Bind. With `shared` (a worker of several serving one port): on Node 22.12 and later each worker gets a
   * socket of its own with SO_REUSEPORT and the kernel spreads the datagrams; before that, cluster hands
   * every worker the primary's one socket.
   */
  async listen(host: string, port: number, shared = false): Promise<number> {
    const options = {
      type: isIPv6(host) ? ('udp6' as const) : ('udp4' as const),
      recvBufferSize: 4 << 20,
      sendBufferSize: 4 << 20,
      ...(shared && HAS_REUSEPORT ? { reusePort: true } : {}),
    };
    const socket = dgram.createSocket(options);
    this.socket = socket;
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    socket.on('error', (err) => (this.opts.onError ? this.opts.onError(err) : console.error(`udp: ${err.message}`)));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port, address: host, exclusive: !shared || HAS_REUSEPORT }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    this.sweeper = setInterval(() => this.reassembler.sweep(Date.now()), 5000).unref();
    return socket.address().port;
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    let whole: Buffer | undefined = msg;
    // A datagram shorter than an envelope goes to the handler as it is, which answers or drops and counts it.
    const messageLength = msg.length >= ENVELOPE_SIZE ? msg.readUInt32BE(16) : 0;
    if (msg.length >= ENVELOPE_SIZE && !(messageLength <= Limits.UDP_FRAGMENT_SIZE && msg.length === ENVELOPE_SIZE + messageLength)) {
      try {
        whole = this.reassembler.add(`${rinfo.address}|${rinfo.port}|${msg.readUInt32BE(8)}`, msg, Date.now());
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
        whole = msg; // let the handler answer PROTOCOL_ERROR with the RequestId
      }
      if (!whole) return;
    }
    const reply = this.handler.handle(whole, { transport: 'udp', maxResponseBytes: this.opts.maxResponseBytes, peer: rinfo.address });
    if (reply instanceof Promise) {
      reply.then((r) => this.send(r, rinfo));
      return;
    }
    this.send(reply, rinfo);
  }

  private send(reply: Buffer | Buffer[] | null, rinfo: dgram.RemoteInfo): void {
    const socket = this.socket;
    if (!reply || !socket) return;
    if (this.limiter) {
      // One verdict per answer, however many messages or fragments it takes.
      let bytes = 0;
      if (Array.isArray(reply)) for (const r of reply) bytes += r.length - ENVELOPE_SIZE;
      else bytes = reply.length - ENVELOPE_SIZE;
      const verdict = this.limiter.check(rinfo.address, bytes, this.now());
      if (verdict !== SEND) {
        if (verdict === DROP) return;
        const first = Array.isArray(reply) ? reply[0] : reply;
        if (!first) return;
        if (verdict === SLIP) {
          socket.send(truncatedError(first, ResponseCode.SERVER_TOO_BUSY, 'rate limited: ask over TCP'), rinfo.port, rinfo.address);
          return;
        }
        this.opts.onRateLimited?.();
        socket.send(truncatedError(first, ResponseCode.SERVER_TOO_BUSY, 'UDP byte budget of this network exceeded; ask over TCP'), rinfo.port, rinfo.address);
        return;
      }
    }
    this.transmit(reply, socket, rinfo);
  }

  private transmit(reply: Buffer | Buffer[], socket: dgram.Socket, rinfo: dgram.RemoteInfo): void {
    if (Array.isArray(reply)) {
      for (const r of reply) this.transmit(r, socket, rinfo);
      return;
    }
    if (reply.length - ENVELOPE_SIZE <= Limits.UDP_FRAGMENT_SIZE) {
      socket.send(reply, rinfo.port, rinfo.address);
      return;
    }
    for (const d of fragmentPacket(reply)) socket.send(d, rinfo.port, rinfo.address);
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    const s = this.socket;
    this.socket = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
