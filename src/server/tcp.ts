import net from 'node:net';
import { ENVELOPE_SIZE, Limits } from '../protocol/constants.js';
import type { ConnectionScope, PacketHandler } from '../resolve/handler.js';
import { OrderedReplies, listenTcp } from './ordered-replies.js';

export interface TcpOptions {
  /** How long a connection may stay idle, waiting for (the rest of) a request, before it is closed. */
  idleTimeoutMs: number;
  maxConnections: number;
}

/**
 * The TCP front end. A connection stays open after an answer and each further request on it is answered in
 * turn, in order, until the client closes it or stays idle past the timeout: the national SDK pools its
 * connections and sends its next request on one it used before without setting KC, and the reference's own
 * client, which reads one answer and closes, is served the same. A request with KC gets KC in its answer.
 * Every answer is one message (a streamed LIST is several, each whole); none is ever fragmented.
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
    this.server = await listenTcp(host, port, shared, this.opts.maxConnections, (s) => this.onConnection(s), true);
    return (this.server.address() as net.AddressInfo).port;
  }

  private onConnection(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setTimeout(this.opts.idleTimeoutMs, () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());

    // What the layers above keep for this connection (the national SDK's login), gone with it.
    const scope: ConnectionScope = {};
    const meta = { transport: 'tcp' as const, connection: scope, ...(socket.remoteAddress ? { peer: socket.remoteAddress } : {}) };
    const frames = new FrameReader();
    /** No more requests are read: the stream was broken. */
    let broken = false;
    /** The client has finished sending: close once the requests it sent are answered. */
    let ended = false;
    let pending = 0;

    const replies = new OrderedReplies<Buffer, Buffer | Buffer[]>(
      socket,
      (frame) => this.handler.handle(frame, meta),
      (_frame, reply) => {
        pending--;
        // Several messages (a streamed list) go out back to back, as one write.
        const bytes = Array.isArray(reply) ? Buffer.concat(reply) : reply;
        if (broken && pending === 0) {
          if (bytes) socket.end(bytes);
          else socket.end();
          return false;
        }
        if (bytes) socket.write(bytes);
        if (ended && pending === 0) socket.end();
        return true;
      },
    );

    socket.on('end', () => {
      ended = true;
      if (pending === 0) socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      if (broken) return;
      frames.push(chunk);
      for (;;) {
        const frame = frames.next();
        if (frame === undefined) break;
        if (frame === TOO_LONG) {
          // The length lies or is hostile: the handler answers PROTOCOL_ERROR for the envelope alone; then close.
          this.rejectedFrames++;
          broken = true;
          pending++;
          replies.push(frames.envelope!);
          break;
        }
        pending++;
        replies.push(frame);
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

const TOO_LONG = Buffer.alloc(0);

/**
 * Cuts a TCP byte stream into Handle messages (envelope + MessageLength bytes). Chunks are kept as they
 * come and joined once per frame, when the whole frame is there, so a frame dribbled in small pieces costs
 * time linear in its length.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** The envelope of the frame being read, once its 20 bytes are in. */
  envelope?: Buffer;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next whole frame, TOO_LONG for a frame over the protocol's limit, or undefined until more bytes come. */
  next(): Buffer | undefined {
    if (this.envelope === undefined) {
      if (this.buffered < ENVELOPE_SIZE) return undefined;
      this.envelope = this.take(ENVELOPE_SIZE, false);
    }
    const messageLength = this.envelope.readUInt32BE(16);
    if (messageLength > Limits.MAX_MESSAGE_LENGTH) return TOO_LONG;
    const frameLength = ENVELOPE_SIZE + messageLength;
    if (this.buffered < frameLength) return undefined;
    const frame = this.take(frameLength, true);
    this.envelope = undefined;
    return frame;
  }

  /** The first n buffered bytes as one Buffer; consumed when `consume`, else only joined in place. */
  private take(n: number, consume: boolean): Buffer {
    let head = this.chunks[0]!;
    if (head.length < n) {
      // Join just the chunks that hold the n bytes, once.
      let have = 0;
      let k = 0;
      while (have < n) have += this.chunks[k++]!.length;
      head = Buffer.concat(this.chunks.slice(0, k), have);
      this.chunks.splice(0, k, head);
    }
    const out = head.subarray(0, n);
    if (consume) {
      if (head.length === n) this.chunks.shift();
      else this.chunks[0] = head.subarray(n);
      this.buffered -= n;
    }
    return out;
  }
}
