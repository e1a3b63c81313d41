import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { HttpExchange, type HttpRoute } from '../http/exchange.js';
import type { HttpCounters } from '../http/counters.js';
import { ConnectionGuard, type ConnectionStats } from './connection-guard.js';

// The HTTP transport: node's own http server, bounded (body size, header and whole-request time, idle
// keep-alive, connections, a share of them per address), handing each request to one route function as an
// HttpExchange (http/exchange.ts), which counts it when it answers (http/counters.ts: no listener per
// request). It knows nothing of handles; what a path means is http/app.ts's business.

export interface HttpLimits {
  maxBodyBytes: number;
  requestTimeoutMs: number;
  /** The request line and headers must arrive within this (capped at requestTimeoutMs). */
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
}

export class HttpFrontEnd {
  private server: http.Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly guard: ConnectionGuard;
  /** Requests that failed inside a route (answered 500). */
  internalErrors = 0;

  constructor(
    private readonly route: HttpRoute,
    private readonly limits: HttpLimits,
    /** Where each request is counted by route, method and status, and timed (absent: not counted). */
    private readonly counters?: HttpCounters,
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
    const ex = new HttpExchange(req, res, this.limits.maxBodyBytes, this.counters);
    try {
      const r = this.route(ex);
      // A closure only for the routes that answer later: a read from the cache answers at once.
      if (r instanceof Promise) r.catch((err: unknown) => this.failed(ex, err));
    } catch (err) {
      this.failed(ex, err);
    }
  }

  /** A route failed: 500 if nothing was sent yet (counted as such), else the connection ends (the stream counted itself). */
  private failed(ex: HttpExchange, err: unknown): void {
    this.internalErrors++;
    this.log(`http: internal error answering ${ex.req.method} ${ex.req.url}: ${(err as Error).stack ?? err}`);
    if (!ex.res.headersSent) ex.send(500, { 'Content-Type': 'application/json;charset=UTF-8' }, '{"responseCode":2,"message":"Unexpected server error"}');
    else ex.res.destroy();
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
