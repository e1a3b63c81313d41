// HTTP requests by route, method and status, and their handling time by route, counted into flat arrays
// where the exchange sends its reply (exchange.ts) and read only when /metrics is scraped (node/metrics.ts),
// as the Handle transports' answers are (wire/counters.ts). A request costs one clock read, two table reads
// and three increments: no listener on the response, no label object, no string built, no map consulted
// unless its status is one idres does not send.

/** What the router (app.ts) calls each request's route: the `route` label. */
export const HTTP_ROUTES = ['api_handles', 'api_other', 'status', 'metrics', 'healthz', 'readyz', 'redirect', 'preflight', 'other'] as const;
export type HttpRouteName = (typeof HTTP_ROUTES)[number];

/** The `method` label: these seven as sent, every other method (PATCH, PROPFIND…) as OTHER. */
export const HTTP_METHOD_LABELS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'OTHER'] as const;

/**
 * The status counted for a reply that was not sent because its client had closed the connection first (a
 * slow answer, an upload cut off): nginx's "client closed request", so such requests are neither lost nor
 * taken for the server's errors.
 */
export const CLIENT_GONE = 499;

/** The statuses idres sends, a slot each; any other (node allows 100–999) is counted in a map. */
const STATUSES = [200, 201, 204, 300, 302, 304, 400, 401, 403, 404, 405, 408, 409, 413, 415, 429, CLIENT_GONE, 500, 501, 502, 503, 504];

const ROUTE_SLOT: Readonly<Record<HttpRouteName, number>> = Object.fromEntries(HTTP_ROUTES.map((r, i) => [r, i])) as Record<HttpRouteName, number>;
const METHODS = HTTP_METHOD_LABELS.length;
const OTHER_METHOD = METHODS - 1;
const STATUS_SLOTS = STATUSES.length;
/** No slot: the status goes to the map. */
const NO_SLOT = 0xff;
/** status → slot, for every status node lets a response have. */
const STATUS_SLOT = (() => {
  const t = new Uint8Array(1000).fill(NO_SLOT);
  STATUSES.forEach((s, i) => (t[s] = i));
  return t;
})();

function methodSlot(m: string | undefined): number {
  // The parser hands over its own interned method strings: these compare by identity first.
  switch (m) {
    case 'GET':
      return 0;
    case 'HEAD':
      return 1;
    case 'POST':
      return 2;
    case 'PUT':
      return 3;
    case 'DELETE':
      return 4;
    case 'OPTIONS':
      return 5;
    case 'TRACE':
      return 6;
    default:
      return OTHER_METHOD;
  }
}

/** One non-zero count of idres_http_requests_total. */
export interface HttpCountRow {
  route: HttpRouteName;
  method: string;
  status: number;
  count: number;
}

/** One route's latency histogram: counts per bucket (not cumulative; the last is over every bound), their sum. */
export interface HttpLatencyRow {
  route: HttpRouteName;
  /** buckets.length + 1 counts: [i] those ≤ buckets[i] and > buckets[i-1]; the last, those above every bound. */
  counts: Float64Array;
  count: number;
  sum: number;
}

export class HttpCounters {
  private readonly counts = new Float64Array(HTTP_ROUTES.length * METHODS * STATUS_SLOTS);
  /** Counts of statuses without a slot, by (route, method) slot × 1000 + status: at most 9 × 8 × 900 keys. */
  private readonly odd = new Map<number, number>();
  /** Per route, buckets.length + 1 bucket counts. */
  private readonly latency: Float64Array;
  private readonly latencySum = new Float64Array(HTTP_ROUTES.length);
  private readonly latencyCount = new Float64Array(HTTP_ROUTES.length);
  private readonly width: number;

  /** `buckets`: the histogram's upper bounds in seconds, ascending (prom-client's: a value equal to a bound is in it). */
  constructor(readonly buckets: readonly number[]) {
    this.width = buckets.length + 1;
    this.latency = new Float64Array(HTTP_ROUTES.length * this.width);
  }

  /** One request answered (or given up): its route, method as sent, status, and seconds from arrival. */
  count(route: HttpRouteName, method: string | undefined, status: number, seconds: number): void {
    const r = ROUTE_SLOT[route];
    const rm = r * METHODS + methodSlot(method);
    const s = status >= 0 && status < 1000 ? STATUS_SLOT[status]! : NO_SLOT;
    if (s !== NO_SLOT) this.counts[rm * STATUS_SLOTS + s]!++;
    else {
      const key = rm * 1000 + (status >= 0 && status < 1000 ? status : 0);
      this.odd.set(key, (this.odd.get(key) ?? 0) + 1);
    }
    // Most answers fall in the first buckets: a scan from the bottom ends at once.
    const b = this.buckets;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    this.latency[r * this.width + i]!++;
    this.latencySum[r]! += seconds;
    this.latencyCount[r]!++;
  }

  /** Every non-zero count, for the scrape. */
  rows(): HttpCountRow[] {
    const out: HttpCountRow[] = [];
    for (let i = 0; i < this.counts.length; i++) {
      const n = this.counts[i]!;
      if (n === 0) continue;
      const rm = Math.floor(i / STATUS_SLOTS);
      out.push({ route: HTTP_ROUTES[Math.floor(rm / METHODS)]!, method: HTTP_METHOD_LABELS[rm % METHODS]!, status: STATUSES[i % STATUS_SLOTS]!, count: n });
    }
    for (const [key, n] of this.odd) {
      const rm = Math.floor(key / 1000);
      out.push({ route: HTTP_ROUTES[Math.floor(rm / METHODS)]!, method: HTTP_METHOD_LABELS[rm % METHODS]!, status: key % 1000, count: n });
    }
    return out;
  }

  /** Each route that had a request, its histogram (copies: the scrape may take its time). */
  latencies(): HttpLatencyRow[] {
    const out: HttpLatencyRow[] = [];
    HTTP_ROUTES.forEach((route, r) => {
      const count = this.latencyCount[r]!;
      if (count === 0) return;
      out.push({ route, counts: this.latency.slice(r * this.width, (r + 1) * this.width), count, sum: this.latencySum[r]! });
    });
    return out;
  }
}
