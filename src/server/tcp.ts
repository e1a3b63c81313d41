import net from 'node:net';
import { ENVELOPE_SIZE, Limits, OpFlag } from '../protocol/constants.js';
import type { PacketHandler } from '../resolve/handler.js';
import { OrderedReplies, listenTcp } from './ordered-replies.js';

export interface TcpOptions {
  /** How long a connection may wait for a complete request (also the idle limit between KC requests). */
  idleTimeoutMs: number;
  maxConnections: number;
}

/**
 * The TCP front end: one request per connection and close, as the reference does (some clients read until
 * EOF) — unless the request sets KC, in which case the connection stays open and each request is answered
 * in turn, in order, until the client closes or stays idle past the timeout.
 */
export class TcpFrontEnd {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  /** Connections closed for sending a frame over the size limit. */
  rejectedFrames = 0;

  constructor(
    private readonly handler: PacketHandler,
    private readonly opts: TcpOptions,
  ) {}

  /** Bound and not closed (readiness). */
  get listening(): boolean {
    return this.server?.listening ?? false;
  }

  /** Bind; with `shared`, a worker of several serving one port (cluster shares the listening socket). */
  async listen(host: string, port: number, shared = false): Promise<number> {
    this.server = await listenTcp(host, port, shared, this.opts.maxConnections, (s) => this.onConnection(s));
    return (this.server.address() as net.AddressInfo).port;
  }

  private onConnection(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setTimeout(this.opts.idleTimeoutMs, () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());

    const replies = new OrderedReplies<{ frame: Buffer; keep: boolean }, Buffer | Buffer[]>(
      socket,
      (r) => this.handler.handle(r.frame, { transport: 'tcp', ...(socket.remoteAddress ? { peer: socket.remoteAddress } : {}) }),
      (r, reply) => {
        // Several messages (a streamed list) go out back to back, as one write.
        const bytes = Array.isArray(reply) ? Buffer.concat(reply) : reply;
        if (r.keep) {
          if (bytes) socket.write(bytes);
          return true;
        }
        if (bytes) socket.end(bytes);
        else socket.end();
        return false;
      },
    );
    let chunks: Buffer[] = [];
    let buffered = 0;
    /** No more requests are read: the last one did not set KC, or the stream was broken. */
    let lastRead = false;

    socket.on('data', (chunk: Buffer) => {
      if (lastRead) return;
      chunks.push(chunk);
      buffered += chunk.length;
      while (!lastRead && buffered >= ENVELOPE_SIZE) {
        const head = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, buffered);
        chunks = [head];
        const messageLength = head.readUInt32BE(16);
        if (messageLength > Limits.MAX_MESSAGE_LENGTH) {
          // The length lies or is hostile: the handler answers PROTOCOL_ERROR for the envelope alone; then close.
          this.rejectedFrames++;
          lastRead = true;
          replies.push({ frame: head.subarray(0, ENVELOPE_SIZE), keep: false });
          break;
        }
        const frameLength = ENVELOPE_SIZE + messageLength;
        if (buffered < frameLength) break;
        const frame = head.subarray(0, frameLength);
        const rest = head.subarray(frameLength);
        chunks = rest.length ? [rest] : [];
        buffered = rest.length;
        const keep = frame.length >= ENVELOPE_SIZE + 12 && (frame.readUInt32BE(ENVELOPE_SIZE + 8) & OpFlag.KC) !== 0;
        if (!keep) lastRead = true;
        replies.push({ frame, keep });
      }
    });
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
