import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ConnectionGuard, type ConnectionStats } from './connection-guard.js';

// The HTTP transport: node's own http server, bounded (body size, header and whole-request time, idle
// keep-alive, connections, a share of them per address), handing each request to one route function as an
// HttpExchange. It knows nothing of handles; what a path means is http-app.ts's business.

export interface HttpLimits {
  maxBodyBytes: number;
  requestTimeoutMs: number;
  /** The request line and headers must arrive within this (capped at requestTimeoutMs). */
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
}

/** A failure with an HTTP status, for the route to turn into a response (the API as JSON, pages as text). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** One request and its response, as the routes see them. */
export class HttpExchange {
  /** The path exactly as sent (no query), still percent-encoded: the API takes the handle from it raw. */
  readonly rawPath: string;
  readonly rawQuery: string;
  readonly query: URLSearchParams;
  readonly started = process.hrtime.bigint();
  /** What the metrics call this request's route (set by the router). */
  route = 'other';

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    private readonly maxBodyBytes: number,
  ) {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    this.rawPath = q < 0 ? url : url.slice(0, q);
    this.rawQuery = q < 0 ? '' : url.slice(q + 1);
    this.query = new URLSearchParams(this.rawQuery);
  }

  get method(): string {
    return this.req.method ?? 'GET';
  }

  /** The peer's address (IPv4-mapped IPv6 written as IPv4). */
  get peer(): string {
    const a = this.req.socket.remoteAddress ?? '';
    return a.startsWith('::ffff:') ? a.slice(7) : a;
  }

  get peerIsLoopback(): boolean {
    const a = this.peer;
    return a === '::1' || a.startsWith('127.');
  }

  header(name: string): string | undefined {
    const v = this.req.headers[name.toLowerCase()];
    return Array.isArray(v) ? v.join(', ') : v;
  }

  /**
   * The request body, at most maxBodyBytes: a Content-Length over the limit is refused before anything is
   * read, and a chunked body is cut off (413) as soon as it passes it.
   */
  body(): Promise<Buffer> {
    const declared = Number(this.req.headers['content-length'] ?? NaN);
    if (declared > this.maxBodyBytes) return Promise.reject(new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${this.maxBodyBytes}`));
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      this.req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > this.maxBodyBytes) {
          this.req.removeAllListeners('data');
          this.req.resume();
          reject(new HttpError(413, `request body exceeds the limit of ${this.maxBodyBytes} bytes`));
          return;
        }
        chunks.push(c);
      });
      this.req.once('end', () => resolve(Buffer.concat(chunks, size)));
      this.req.once('error', reject);
    });
  }

  /** Send a whole response (HEAD gets the headers and length, no body). */
  send(status: number, headers: Record<string, string | string[]>, body: Buffer | string = ''): void {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    if (this.res.headersSent) return;
    // After a body refused unread the connection cannot carry another request: close it.
    const close = status === 413 ? { Connection: 'close' } : {};
    this.res.writeHead(status, { ...headers, ...close, 'Content-Length': String(bytes.length) });
    this.res.end(this.method === 'HEAD' ? undefined : bytes);
  }

  /**
   * Send a response whose body is made piece by piece (chunked; a listing of many handles is never held
   * whole): each piece is written as the client takes it, and other connections are served between pieces.
   * HEAD gets the headers and nothing is made. A failure after the headers went out ends the connection.
   */
  async sendStream(status: number, headers: Record<string, string | string[]>, pieces: Iterator<string>): Promise<void> {
    const res = this.res;
    if (res.headersSent) return;
    res.writeHead(status, headers);
    if (this.method === 'HEAD') {
      res.end();
      return;
    }
    for (let r = pieces.next(); !r.done; r = pieces.next()) {
      if (res.destroyed) {
        pieces.return?.();
        return;
      }
      if (r.value.length > 0 && !res.write(r.value)) await drained(res);
      // A turn of the event loop between pieces in any case (a drain can come at once).
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (!res.destroyed) res.end();
  }

  seconds(): number {
    return Number(process.hrtime.bigint() - this.started) / 1e9;
  }
}

/** Until the response can take more (or its connection is gone). */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

export type HttpRoute = (ex: HttpExchange) => void | Promise<void>;

export class HttpFrontEnd {
  private server: http.Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly guard: ConnectionGuard;
  /** Requests that failed inside a route (answered 500). */
  internalErrors = 0;

  constructor(
    private readonly route: HttpRoute,
    private readonly limits: HttpLimits,
    private readonly onDone: (ex: HttpExchange) => void = () => undefined,
    private readonly log: (msg: string) => void = (m) => console.error(m),
  ) {
    this.guard = new ConnectionGuard({ maxConnectionsPerAddress: limits.maxConnectionsPerAddress });
  }

  /** Connections, refusals and closes, for the metrics. */
  get connections(): ConnectionStats {
    return this.guard.stats;
  }

  get listening(): boolean {
    return this.server?.listening ?? false;
  }

  async listen(host: string, port: number): Promise<number> {
    const headersTimeout = Math.min(this.limits.headersTimeoutMs, this.limits.requestTimeoutMs);
    const server = http.createServer(
      {
        requestTimeout: this.limits.requestTimeoutMs,
        // Also for a connection that sends nothing at all: half-sent requests cannot hold connections.
        headersTimeout,
        keepAliveTimeout: this.limits.keepAliveTimeoutMs,
        // How often node looks for requests past their time (default 30 s): often enough that a slow client
        // is cut off near its deadline, not half a minute later.
        connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(headersTimeout / 2))),
        // The reference sends one JSON object per request; nothing here needs more headers than this.
        maxHeaderSize: 16384,
      },
      (req, res) => this.onRequest(req, res),
    );
    server.maxConnections = this.limits.maxConnections;
    // No byte either way for requestTimeoutMs (a response the client does not take, say): closed. Between
    // requests keepAliveTimeoutMs comes first; while one arrives, the header and request deadlines.
    server.timeout = this.limits.requestTimeoutMs;
    server.on('timeout', (s: Socket) => this.guard.close(s, 'idle'));
    server.on('drop', () => this.guard.dropped());
    server.on('connection', (s: Socket) => {
      // A share of the connections per address, so one client cannot take them all.
      if (!this.guard.admit(s)) return;
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    // A malformed request line or headers: 400; a request not whole within its deadline: 408. Never throw.
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      const late = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'ERR_HTTP_HEADERS_TIMEOUT';
      if (late) this.guard.count('request_deadline');
      // Closed once the answer is out, whatever the client goes on sending.
      if (socket.writable) socket.end(`HTTP/1.1 ${late ? '408 Request Timeout' : '400 Bad Request'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
      else socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const ex = new HttpExchange(req, res, this.limits.maxBodyBytes);
    res.once('finish', () => this.onDone(ex));
    const fail = (err: unknown) => {
      this.internalErrors++;
      this.log(`http: internal error answering ${req.method} ${req.url}: ${(err as Error).stack ?? err}`);
      if (!res.headersSent) ex.send(500, { 'Content-Type': 'application/json;charset=UTF-8' }, '{"responseCode":2,"message":"Unexpected server error"}');
      else res.destroy();
    };
    try {
      const r = this.route(ex);
      if (r instanceof Promise) r.catch(fail);
    } catch (err) {
      fail(err);
    }
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    // Requests in flight get a moment to finish; then their connections go too.
    const t = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, 1000);
    await closed;
    clearTimeout(t);
  }
}
