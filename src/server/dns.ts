import dgram from 'node:dgram';
import net from 'node:net';
import { isIPv6 } from 'node:net';
import { HAS_REUSEPORT } from './udp.js';
import { type ConnectionBounds, ConnectionGuard, type ConnectionStats } from './connection-guard.js';
import { DnsFrameReader } from './framing.js';
import { OrderedReplies, listenTcp } from './ordered-replies.js';
import { DROP, type ResponseRateLimiter, SEND } from './udp-rate.js';

// The DNS front end: moves DNS messages over UDP and TCP (RFC 1035 4.2, RFC 7766) to a gateway and back.
// Like the Handle front ends it knows nothing of what it carries. Over TCP each message is preceded by its
// two-octet length; a connection may carry many queries, answered in order, until the client closes it or
// stays idle past the timeout. TCP connections are bounded as the Handle front end's are (the same tcp.*
// limits, counted apart): a share per address, bytes held, a deadline for a whole query and for its answer
// to be taken (ordered-replies.ts, docs/security.md).

/** What the transport needs: a query in, a response (or nothing) out, now or later. */
export interface DnsHandler {
  handle(bytes: Buffer, transport: 'udp' | 'tcp'): Buffer | null | Promise<Buffer | null>;
}

export interface DnsServerOptions {
  tcpIdleTimeoutMs: number;
  maxTcpConnections: number;
  /** Per-client bounds of TCP connections. */
  tcpBounds: Required<ConnectionBounds>;
  /** Response-rate limiting of UDP answers by source network (udp-rate.ts); a slipped answer is TC. */
  limiter?: ResponseRateLimiter;
  now?: () => number;
  /** An error of the UDP socket (default: standard error). */
  onError?: (err: Error) => void;
}

export class DnsServer {
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly guard: ConnectionGuard;

  constructor(
    private readonly handler: DnsHandler,
    private readonly opts: DnsServerOptions,
  ) {
    this.guard = new ConnectionGuard(opts.tcpBounds);
  }

  /** TCP connections, refusals and closes, for the metrics. */
  get connections(): ConnectionStats {
    return this.guard.stats;
  }

  /** Both sockets bound and not closed (readiness). */
  get listening(): boolean {
    return this.udp !== undefined && (this.tcp?.listening ?? false);
  }

  /**
   * UDP and TCP on one port; with port 0, the port the kernel gives UDP, retried if TCP finds it taken.
   * With `shared`, one of several workers on a fixed port (as the Handle front ends: see server/udp.ts).
   */
  async listen(host: string, port: number, shared = false): Promise<number> {
    if (shared && port === 0) throw new Error('workers need a fixed DNS port (dns.port)');
    for (let attempt = 0; ; attempt++) {
      const bound = await this.listenUdp(host, port, shared);
      try {
        await this.listenTcp(host, bound, shared);
        return bound;
      } catch (err) {
        await this.closeUdp();
        if (port !== 0 || attempt >= 20) throw err;
      }
    }
  }

  private async listenUdp(host: string, port: number, shared: boolean): Promise<number> {
    const socket = dgram.createSocket({
      type: isIPv6(host) ? ('udp6' as const) : ('udp4' as const),
      recvBufferSize: 4 << 20,
      sendBufferSize: 4 << 20,
      ...(shared && HAS_REUSEPORT ? { reusePort: true } : {}),
    });
    this.udp = socket;
    socket.on('message', (msg, rinfo) => {
      const reply = this.handler.handle(msg, 'udp');
      if (reply instanceof Promise) void reply.then((r) => this.sendUdp(r, rinfo));
      else this.sendUdp(reply, rinfo);
    });
    socket.on('error', (err) => (this.opts.onError ? this.opts.onError(err) : console.error(`dns udp: ${err.message}`)));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port, address: host, exclusive: !shared || HAS_REUSEPORT }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return socket.address().port;
  }

  private sendUdp(reply: Buffer | null, rinfo: dgram.RemoteInfo): void {
    if (!reply || !this.udp) return;
    const limiter = this.opts.limiter;
    if (limiter?.enabled) {
      const verdict = limiter.check(rinfo.address, 0, (this.opts.now ?? Date.now)());
      if (verdict !== SEND) {
        const tc = verdict === DROP ? undefined : truncatedDns(reply);
        if (tc) this.udp.send(tc, rinfo.port, rinfo.address);
        return;
      }
    }
    this.udp.send(reply, rinfo.port, rinfo.address);
  }

  private async listenTcp(host: string, port: number, shared: boolean): Promise<number> {
    this.tcp = await listenTcp(host, port, shared, this.opts.maxTcpConnections, (s) => this.onConnection(s), true, () => this.guard.dropped());
    return (this.tcp.address() as net.AddressInfo).port;
  }

  /** Over TCP each message is preceded by its two-octet length; queries are answered in order. */
  private onConnection(socket: net.Socket): void {
    socket.on('error', () => socket.destroy());
    if (!this.guard.admit(socket)) return;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.setTimeout(this.opts.tcpIdleTimeoutMs, () => this.guard.close(socket, 'idle'));
    new OrderedReplies(socket, this.guard, new DnsFrameReader(), (frame) => {
      const reply = this.handler.handle(frame.subarray(2), 'tcp');
      return reply instanceof Promise ? reply.then(lengthPrefixed) : lengthPrefixed(reply);
    });
  }

  private async closeUdp(): Promise<void> {
    const s = this.udp;
    this.udp = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  async close(): Promise<void> {
    await this.closeUdp();
    const server = this.tcp;
    this.tcp = undefined;
    this.guard.stop();
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A DNS message as TCP carries it: its two-octet length first. */
function lengthPrefixed(reply: Buffer | null): Buffer | null {
  if (!reply) return null;
  const frame = Buffer.allocUnsafe(2 + reply.length);
  frame.writeUInt16BE(reply.length, 0);
  reply.copy(frame, 2);
  return frame;
}

/**
 * A DNS response cut to its header and question with TC set and no records (RFC 1035 4.1.1, as RRL's slip
 * answers): the client asks again over TCP. Undefined when the question cannot be walked.
 */
export function truncatedDns(reply: Buffer): Buffer | undefined {
  if (reply.length < 12) return undefined;
  const questions = reply.readUInt16BE(4);
  let at = 12;
  for (let q = 0; q < questions; q++) {
    for (;;) {
      if (at >= reply.length) return undefined;
      const len = reply[at]!;
      if (len === 0) {
        at++;
        break;
      }
      if ((len & 0xc0) === 0xc0) {
        at += 2;
        break;
      }
      if (len > 63) return undefined;
      at += 1 + len;
    }
    at += 4;
    if (at > reply.length) return undefined;
  }
  const out = Buffer.from(reply.subarray(0, at));
  out[2] = out[2]! | 0x02; // TC
  out.writeUInt16BE(0, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(0, 10);
  return out;
}
