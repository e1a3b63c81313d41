import net from 'node:net';

/** Requests read ahead on one connection before reading pauses (pipelining clients). */
const MAX_QUEUED = 64;

/**
 * Answers the requests of one stream connection one at a time, in the order they came (a slow answer — a
 * recursive one, say — holds those behind it), and stops reading while too many wait. Shared by the
 * Handle and DNS TCP front ends, which differ only in how requests are framed and replies sent.
 */
export class OrderedReplies<T, R = Buffer> {
  private readonly queue: T[] = [];
  private pumping = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly answer: (request: T) => R | null | Promise<R | null>,
    /** Send a reply; returns false when the connection is done (nothing after it is answered). */
    private readonly send: (request: T, reply: R | null) => boolean,
  ) {}

  push(request: T): void {
    this.queue.push(request);
    if (this.queue.length >= MAX_QUEUED) this.socket.pause();
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0 && !this.socket.destroyed) {
        const request = this.queue.shift()!;
        if (this.queue.length < MAX_QUEUED && this.socket.isPaused()) this.socket.resume();
        let reply = this.answer(request);
        if (reply instanceof Promise) reply = await reply;
        if (this.socket.destroyed || !this.send(request, reply)) return;
      }
    } finally {
      this.pumping = false;
    }
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
): Promise<net.Server> {
  const server = net.createServer({ noDelay: true, allowHalfOpen }, onConnection);
  server.maxConnections = maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: !shared }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
