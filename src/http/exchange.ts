import type { IncomingMessage, OutgoingHttpHeader, ServerResponse } from 'node:http';
import { CLIENT_GONE, type HttpCounters, type HttpRouteName } from './counters.js';

// One HTTP request and its response as the application (http/) sees them, whatever listener made them
// (server/http.ts): the raw path and query, bounded body reading, whole and streamed responses. Each
// exchange is counted once, by route, method and status, where its reply is sent (counters.ts): a whole
// reply when it is handed to the socket, a streamed one when it ends or is cut off, and a reply whose client
// went away before it could be sent as CLIENT_GONE (499).

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
  private parsedQuery: URLSearchParams | undefined;
  // A double, not a bigint: one allocation fewer per request; sub-microsecond resolution is plenty for a histogram.
  readonly started = performance.now();
  /** What the metrics call this request's route (set by the router). */
  route: HttpRouteName = 'other';
  private counted = false;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    private readonly maxBodyBytes: number,
    private readonly counters?: HttpCounters,
  ) {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    this.rawPath = q < 0 ? url : url.slice(0, q);
    this.rawQuery = q < 0 ? '' : url.slice(q + 1);
  }

  /** The query parameters, parsed when first asked for (a read served from the HTTP read cache never asks). */
  get query(): URLSearchParams {
    return (this.parsedQuery ??= new URLSearchParams(this.rawQuery));
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
    const lower = name.toLowerCase();
    // Looked for in the raw headers first: a request without it (most lack Origin, say) never builds the header object.
    if (!this.has(lower)) return undefined;
    const v = this.req.headers[lower];
    return Array.isArray(v) ? v.join(', ') : v;
  }

  /**
   * Whether the request carries this header (`name` in lower case), from the raw header list: asking
   * `req.headers` would build the whole header object, which a read answered from the cache never needs.
   */
  has(name: string): boolean {
    const raw = this.req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i]!;
      if (n.length === name.length && (n === name || n.toLowerCase() === name)) return true;
    }
    return false;
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
      // The client closed the connection before the whole body came: its fault, not the server's (never
      // logged as an internal error, which a client could otherwise cause at will).
      this.req.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'ECONNRESET' ? new HttpError(400, 'the request body was cut off: the client closed the connection') : err),
      );
    });
  }

  /** Send a whole response (HEAD gets the headers and length, no body). */
  send(status: number, headers: Record<string, string | string[]>, body: Buffer | string = ''): void {
    if (this.res.headersSent) return;
    if (this.res.destroyed) return this.done(CLIENT_GONE);
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const all: Record<string, string | string[]> = { ...headers };
    // After a body refused unread the connection cannot carry another request: close it.
    if (status === 413) all.Connection = 'close';
    all['Content-Length'] = String(bytes.length);
    this.res.writeHead(status, all);
    this.res.end(this.req.method === 'HEAD' ? undefined : bytes);
    this.done(status);
  }

  /**
   * Send finished bytes with their headers as a flat [name, value, …] list made once by whoever keeps the
   * bytes (Content-Type and Content-Length): the read cache's hit, with no header object made or string encoded.
   */
  sendBytes(status: number, head: readonly OutgoingHttpHeader[], bytes: Buffer): void {
    if (this.res.headersSent) return;
    if (this.res.destroyed) return this.done(CLIENT_GONE);
    // node reads the list and keeps nothing of it: passing the shared one is safe.
    this.res.writeHead(status, head as OutgoingHttpHeader[]);
    this.res.end(this.req.method === 'HEAD' ? undefined : bytes);
    this.done(status);
  }

  /**
   * Send a response whose body is made piece by piece (chunked; a listing of many handles is never held
   * whole): each piece is written as the client takes it, and other connections are served between pieces.
   * HEAD gets the headers and nothing is made. A failure after the headers went out ends the connection.
   */
  async sendStream(status: number, headers: Record<string, string | string[]>, pieces: Iterator<string>): Promise<void> {
    const res = this.res;
    if (res.headersSent) return;
    if (res.destroyed) return this.done(CLIENT_GONE);
    res.writeHead(status, headers);
    // Counted once it ends, whether whole, cut off by the client, or failed (the route's caller then ends
    // the connection): its time is the whole stream's.
    try {
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
    } finally {
      this.done(status);
    }
  }

  /** Count this exchange, once. */
  private done(status: number): void {
    if (this.counted) return;
    this.counted = true;
    this.counters?.count(this.route, this.req.method, status, (performance.now() - this.started) / 1000);
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
