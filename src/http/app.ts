import type { HttpExchange } from './exchange.js';
import type { JsonApi } from './api.js';
import type { Health } from './health.js';
import type { RedirectFront } from './redirect.js';

// What each path of the HTTP face means: /api/status, /api/* the JSON API, /metrics, /healthz, /readyz, and everything
// else the redirect front (when on). CORS as the reference's filter does it (docs/rest-api.md §11):
// any origin, credentials never, preflights answered here without running the endpoint.

const CORS_METHODS = ['GET', 'POST', 'HEAD', 'PUT', 'DELETE'];
const CORS_HEADERS = ['x-requested-with', 'authorization', 'origin', 'accept', 'content-type'];
const SAFELISTED = new Set(['cache-control', 'content-language', 'content-type', 'expires', 'last-modified', 'pragma']);

/** The /metrics page: Prometheus text (node/metrics.ts registers what it counts). */
export interface MetricsPage {
  text(): Promise<string>;
  readonly contentType: string;
}

export interface HttpAppParts {
  api: JsonApi;
  health: Health;
  metrics: MetricsPage;
  /** Absent when the redirect front is off: other paths are 404. */
  front?: RedirectFront;
  /** GET /api/status (status.ts). */
  status?: (ex: HttpExchange) => Promise<void>;
}

export function httpApp(p: HttpAppParts): (ex: HttpExchange) => void | Promise<void> {
  return (ex) => {
    const path = ex.rawPath;
    const origin = ex.header('origin');
    if (origin !== undefined) {
      if (ex.method === 'OPTIONS' && ex.header('access-control-request-method') !== undefined) {
        ex.route = 'preflight';
        return preflight(ex, origin);
      }
      exposeHeaders(ex, origin);
    }
    if (path === '/api/status' && p.status) {
      ex.route = 'status';
      return p.status(ex);
    }
    if (path === '/api' || path.startsWith('/api/')) {
      ex.route = path.startsWith('/api/handles') ? 'api_handles' : 'api_other';
      return p.api.answerFromCache(ex) ? undefined : p.api.handle(ex);
    }
    if (path === '/metrics') {
      ex.route = 'metrics';
      return p.metrics.text().then((text) => ex.send(200, { 'Content-Type': p.metrics.contentType }, text));
    }
    if (path === '/healthz') {
      ex.route = 'healthz';
      return p.health.live(ex);
    }
    if (path === '/readyz') {
      ex.route = 'readyz';
      return p.health.ready(ex);
    }
    if (path === '/favicon.ico' || !p.front) {
      ex.route = 'other';
      return ex.send(404, { 'Content-Type': 'text/plain;charset=UTF-8' }, 'not found\n');
    }
    ex.route = 'redirect';
    return p.front.handle(ex);
  };
}

function preflight(ex: HttpExchange, origin: string): void {
  const method = ex.header('access-control-request-method') ?? '';
  const asked = (ex.header('access-control-request-headers') ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== '');
  const headers: Record<string, string> = {};
  if (CORS_METHODS.includes(method) && asked.every((h) => CORS_HEADERS.includes(h))) {
    headers['Access-Control-Allow-Origin'] = origin;
    headers['Access-Control-Max-Age'] = '86400';
    headers['Access-Control-Allow-Methods'] = CORS_METHODS.join(',');
    headers['Access-Control-Allow-Headers'] = 'X-Requested-With,Authorization,Origin,Accept,Content-Type';
  }
  ex.send(200, headers);
}

/** Echo the origin, and expose every non-safelisted header the response will carry (set just before it goes). */
function exposeHeaders(ex: HttpExchange, origin: string): void {
  ex.res.setHeader('Access-Control-Allow-Origin', origin);
  const writeHead = ex.res.writeHead.bind(ex.res);
  ex.res.writeHead = ((status: number, ...rest: unknown[]) => {
    const given = rest.find((r) => typeof r === 'object' && r !== null) as Record<string, unknown> | unknown[] | undefined;
    // Headers come as an object, or as a flat [name, value, …] list (exchange.ts sendBytes).
    const givenNames = Array.isArray(given) ? given.filter((_, i) => i % 2 === 0).map(String) : Object.keys(given ?? {});
    const names = new Set(['Content-Length']);
    for (const n of [...ex.res.getHeaderNames(), ...givenNames]) {
      const l = n.toLowerCase();
      if (!SAFELISTED.has(l) && !l.startsWith('access-control-') && l !== 'content-length') names.add(n);
    }
    ex.res.setHeader('Access-Control-Expose-Headers', [...names].join(','));
    return (writeHead as (...a: unknown[]) => unknown)(status, ...rest);
  }) as typeof ex.res.writeHead;
}
