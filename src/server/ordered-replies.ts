import net from 'node:net';
import { MessageStream } from '../protocol/message-stream.js';
import type { ConnectionGuard, Watched } from './connection-guard.js';
import { BrokenStream, type Framer } from './framing.js';

/** Requests read ahead on one connection before reading pauses (pipelining clients). */
const MAX_QUEUED = 64;

/** What goes on the wire for one request: a message, several, many made page by page, or nothing. */
export type Outgoing = Buffer | readonly Buffer[] | MessageStream | null;

/**
 * Serves one stream connection (shared by the Handle and DNS TCP front ends, which differ in framing and in
 * what they answer): requests are answered one at a time, in the order they came (a slow answer holds those
 * behind it), and the connection stays open until the client ends it.
 *
 * What one connection may hold is bounded, whatever the client does:
 * * an answer is written only once the client has taken what was written before (the socket drained), so a
 *   client that pipelines and never reads holds at most one answer (one page of a streamed list) here; the
 *   rest waits, unanswered, as requests;
 * * reading pauses while an answer waits to be taken, while MAX_QUEUED requests wait, or while the requests
 *   waiting hold the guard's readAhead bytes; the client's further bytes stay in the kernel, and TCP's own
 *   flow control stops it;
 * * a connection that holds more than maxQueuedBytes all the same is closed (`queue_limit`);
 * * a request must arrive whole within requestTimeoutMs of its first byte (`request_deadline`), and written
 *   answers must be taken within it (`write_stall`): the guard's sweep closes what is late.
 */
export class OrderedReplies implements Watched {
  frameStartedAt = 0;
  stalledSince = 0;
  private readonly queue: Buffer[] = [];
  /** Bytes of the requests in the queue. */
  private queuedIn = 0;
  private pumping = false;
  private paused = false;
  /** No more requests are read: the stream broke. What was read is answered, then the connection ends. */
  private broken = false;
  /** The client has finished sending: end once what it sent is answered. */
  private clientEnded = false;

  constructor(
    readonly socket: net.Socket,
    private readonly guard: ConnectionGuard,
    private readonly framer: Framer,
    private readonly answer: (request: Buffer) => Outgoing | Promise<Outgoing>,
  ) {
    guard.watch(this);
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('end', () => {
      this.clientEnded = true;
      if (!this.pumping) this.endIfDone();
    });
    socket.on('drain', () => {
      this.stalledSince = 0;
      this.throttle();
      void this.pump();
    });
  }

  /** Bytes this connection holds: requests waiting, the request being read, answers not yet taken. */
  held(): number {
    return this.queuedIn + this.framer.buffered + this.socket.writableLength;
  }

  private read(chunk: Buffer): void {
    if (this.broken) return;
    const f = this.framer;
    f.push(chunk);
    let took = false;
    for (;;) {
      const frame = f.next();
      if (frame === undefined) break;
      took = true;
      if (frame instanceof BrokenStream) {
        this.broken = true;
        this.guard.count('frame_too_long');
        if (frame.lastRequest) this.enqueue(frame.lastRequest);
        // Bytes that follow are read and dropped; the connection goes once its last answer is out, and
        // soon in any case.
        setTimeout(() => this.socket.destroy(), this.guard.bounds.requestTimeoutMs ?? 10000).unref();
        break;
      }
      this.enqueue(frame);
    }
    // The request deadline runs from the first byte of a request until it is whole.
    if (this.broken || f.buffered === 0) this.frameStartedAt = 0;
    else if (took || this.frameStartedAt === 0) this.frameStartedAt = Date.now();
    const held = this.held();
    this.guard.observe(held);
    if (held > (this.guard.bounds.maxQueuedBytes ?? Infinity)) {
      this.guard.close(this.socket, 'queue_limit');
      return;
    }
    this.throttle();
    void this.pump();
  }

  private enqueue(request: Buffer): void {
    this.queue.push(request);
    this.queuedIn += request.length;
  }

  /** Pause reading while answers wait to be taken or requests pile up; resume when they no longer do. */
  private throttle(): void {
    const full = this.queue.length >= MAX_QUEUED || this.queuedIn >= this.guard.readAhead || this.socket.writableNeedDrain;
    if (full && !this.paused) {
      this.paused = true;
      this.socket.pause();
      // Reading stopped on the node's account: the request being read is not late for that.
      this.frameStartedAt = 0;
    } else if (!full && this.paused) {
      this.paused = false;
      this.socket.resume();
      if (this.framer.buffered > 0) this.frameStartedAt = Date.now();
    }
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0) {
        // The next answer waits until the client has taken the last ('drain' starts the pump again).
        if (this.socket.destroyed || this.socket.writableNeedDrain) return;
        const request = this.queue.shift()!;
        this.queuedIn -= request.length;
        this.throttle();
        let out = this.answer(request);
        if (out instanceof Promise) out = await out;
        if (this.socket.destroyed) return;
        if (out instanceof MessageStream) {
          if (!(await this.stream(out))) return;
        } else if (out) this.write(out);
      }
      this.endIfDone();
    } catch {
      // The answerers turn every failure into a response; anything else ends this connection, not the node.
      this.socket.destroy();
    } finally {
      this.pumping = false;
    }
  }

  private write(out: Buffer | readonly Buffer[]): void {
    if (out instanceof Uint8Array) this.socket.write(out);
    else {
      this.socket.cork();
      for (const m of out) this.socket.write(m);
      this.socket.uncork();
    }
    this.guard.observe(this.held());
    if (this.socket.writableNeedDrain) {
      if (this.stalledSince === 0) this.stalledSince = Date.now();
      this.throttle();
    }
  }

  /**
   * A streamed answer, a page at a time: after each page, wait for the client to take it when it has not,
   * and let other connections be served in any case. False when the connection went meanwhile.
   */
  private async stream(s: MessageStream): Promise<boolean> {
    const pages = s.pages();
    try {
      for (;;) {
        const page = pages.next();
        if (page.done) return true;
        this.write(page.value);
        if (this.socket.writableNeedDrain) await this.drained();
        // Always a turn of the event loop: a drain can come at once (the kernel took the page), and other
        // connections must be served between pages all the same.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.socket.destroyed) return false;
      }
    } finally {
      pages.return?.();
    }
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  private endIfDone(): void {
    if (this.queue.length > 0 || this.socket.destroyed) return;
    if (this.broken || this.clientEnded) this.socket.end();
  }
}

/**
 * A TCP server on host:port; `shared` for one of several workers on the port (cluster shares it).
 * `allowHalfOpen`: a client that has finished sending still gets the answers to what it sent (the caller
 * ends the connection).
 */
export async function listenTcp(
  host: string,
  port: number,
  shared: boolean,
  maxConnections: number,
  onConnection: (socket: net.Socket) => void,
  allowHalfOpen = false,
  onDrop?: () => void,
): Promise<net.Server> {
  const server = net.createServer({ noDelay: true, allowHalfOpen }, onConnection);
  server.maxConnections = maxConnections;
  if (onDrop) server.on('drop', onDrop);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: !shared }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
