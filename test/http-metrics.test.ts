// HTTP requests on /metrics: idres_http_requests_total{route,method,status} and the histogram
// idres_http_request_duration_seconds{route}, counted where each reply is sent (http/counters.ts) and read
// when scraped. A known set of requests over real HTTP — cached and uncached reads, HEAD, error statuses, odd
// methods, a preflight, a body refused, a streamed listing whole and cut off by its client — and the exact
// counts they leave; plus the counters' own edges (statuses idres does not send, bucket bounds).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { makeValue } from '../src/model/value.js';
import { HttpCounters } from '../src/http/counters.js';
import { LATENCY_BUCKETS } from '../src/node/metrics.js';
import { startTestNode, type TestNode } from './helpers/node.js';
import { addIdentities, baseOf, basic, call, USER, USER_SECRET } from './helpers/http.js';
import { tcpText } from './helpers/raw.js';
import { until } from './helpers/wait.js';

const REQUESTS = 'idres_http_requests_total';
const DURATION = 'idres_http_request_duration_seconds';

/** Every sample of the Prometheus text: "name{labels}" → value (labels as written). */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** A sample's value (0 when absent); labels in the order idres writes them. */
function value(s: Map<string, number>, name: string, labels: Record<string, string | number> = {}): number {
  const l = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  return s.get(l.length ? `${name}{${l.join(',')}}` : name) ?? 0;
}

describe('HTTP request metrics', () => {
  let t: TestNode;
  let base: string;
  let port: number;
  const LISTED = 20000;

  before(async () => {
    t = await startTestNode({ patch: (c) => Object.assign(c.http as Record<string, unknown>, { maxBodyBytes: 1024 }) });
    base = baseOf(t.node);
    port = t.node.http!.port;
    const r = t.node.registry!;
    r.create('88.118.8/M1', [makeValue(1, 'URL', 'https://example.com/m1')]);
    addIdentities(t.node);
    // Enough identifiers that a listing is streamed in many pieces (a thousand a piece).
    const now = Math.floor(Date.now() / 1000);
    const url = [makeValue(1, 'URL', 'https://example.cn/p')];
    const keys: string[] = [];
    r.db.transaction(() => {
      for (let i = 0; i < LISTED; i++) {
        const h = `88.118.8/LIST-${String(i).padStart(6, '0')}`;
        r.createInTxn(h, url, false, now, { quiet: true });
        keys.push(r.key(h));
      }
      r.logBulk(LISTED, now, keys);
    })();
    t.node.noticeWrites();
  });
  after(async () => {
    await t.stop();
  });

  const scrape = async () => samples((await call(base, 'GET', '/metrics')).text);

  test('each request is counted once by route, method and status, and timed by route', async () => {
    const before = await scrape();
    const target = '/api/handles/88.118.8/M1';
    for (let i = 0; i < 3; i++) assert.equal((await call(base, 'GET', target)).status, 200); // a miss, then the read cache
    for (let i = 0; i < 2; i++) assert.equal((await call(base, 'HEAD', target)).status, 200);
    assert.equal((await call(base, 'GET', '/api/handles/88.118.8/NOPE')).status, 404);
    assert.equal((await call(base, 'PATCH', target)).status, 501);
    assert.match(await tcpText(port, `TRACE ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`), /^HTTP\/1\.1 405 /);
    const big = await tcpText(port, `PUT ${target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n`);
    assert.match(big, /^HTTP\/1\.1 413 /);
    assert.equal((await call(base, 'GET', '/healthz')).status, 200);
    const pre = await call(base, 'OPTIONS', target, { headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'GET' } });
    assert.equal(pre.status, 200);
    assert.equal((await call(base, 'GET', '/favicon.ico')).status, 404);
    const after = await scrape();

    const d = (route: string, method: string, status: number) => value(after, REQUESTS, { route, method, status }) - value(before, REQUESTS, { route, method, status });
    assert.equal(d('api_handles', 'GET', 200), 3);
    assert.equal(d('api_handles', 'HEAD', 200), 2);
    assert.equal(d('api_handles', 'GET', 404), 1);
    assert.equal(d('api_handles', 'OTHER', 501), 1);
    assert.equal(d('api_handles', 'TRACE', 405), 1);
    assert.equal(d('api_handles', 'PUT', 413), 1);
    assert.equal(d('healthz', 'GET', 200), 1);
    assert.equal(d('preflight', 'OPTIONS', 200), 1);
    assert.equal(d('other', 'GET', 404), 1);
    // The first scrape is counted once its reply went out; this one is not yet.
    assert.equal(d('metrics', 'GET', 200), 1);
    const total = (s: Map<string, number>) => [...s].filter(([k]) => k.startsWith(`${REQUESTS}{`)).reduce((n, [, v]) => n + v, 0);
    assert.equal(total(after) - total(before), 13, 'nothing else was counted');

    // The histogram: as many observations per route as requests, cumulative buckets ending at the count.
    const count = (s: Map<string, number>, route: string) => value(s, `${DURATION}_count`, { route });
    assert.equal(count(after, 'api_handles') - count(before, 'api_handles'), 9);
    assert.equal(count(after, 'healthz') - count(before, 'healthz'), 1);
    assert.equal(count(after, 'preflight') - count(before, 'preflight'), 1);
    for (const route of ['api_handles', 'healthz', 'preflight', 'other', 'metrics']) {
      let last = 0;
      for (const le of LATENCY_BUCKETS) {
        const v = value(after, `${DURATION}_bucket`, { le, route });
        assert.ok(v >= last, `${route} bucket ${le} is cumulative`);
        last = v;
      }
      assert.equal(value(after, `${DURATION}_bucket`, { le: '+Inf', route }), count(after, route));
      assert.ok(value(after, `${DURATION}_sum`, { route }) > 0);
    }
  });

  test('a streamed listing is counted once, whole or cut off by its client', async () => {
    const listed = async () => value(await scrape(), REQUESTS, { route: 'api_handles', method: 'GET', status: 200 });
    const timed = async () => value(await scrape(), `${DURATION}_count`, { route: 'api_handles' });
    let n = await listed();
    const whole = await call(base, 'GET', '/api/handles?prefix=88.118.8', { headers: basic(`300:${USER}`, USER_SECRET) });
    assert.equal(whole.status, 200);
    assert.ok(whole.json.handles.length > LISTED);
    assert.equal(await listed(), n + 1);

    // The client reads the head and first piece and goes away: the stream ends there.
    n = await listed();
    const h = await timed();
    const auth = basic(`300:${USER}`, USER_SECRET).Authorization;
    await new Promise<void>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.on('error', () => undefined);
      s.once('data', () => {
        s.destroy();
        resolve();
      });
      s.write(`GET /api/handles?prefix=88.118.8 HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\n\r\n`);
    });
    await until('the cut-off listing is counted', async () => (await listed()) === n + 1);
    // Once, not again when its connection closes; timed once too (the scrapes above count as metrics, not here).
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await listed(), n + 1);
    assert.equal(await timed(), h + 1);
  });
});

describe('HTTP request metrics: a client gone before its reply', () => {
  let t: TestNode;
  before(async () => {
    t = await startTestNode();
  });
  after(async () => {
    await t.stop();
  });

  test('an upload cut off by its client is counted once as 499, not as a server error, and not logged as one', async () => {
    const base = baseOf(t.node);
    const port = t.node.http!.port;
    const gone = async () => value(samples((await call(base, 'GET', '/metrics')).text), REQUESTS, { route: 'api_handles', method: 'PUT', status: 499 });
    const errors = t.node.http!.server.internalErrors;
    const n = await gone();
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.write('PUT /api/handles/88.118.8/CUT HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{"index":1,');
    // The node is reading the body when the client goes.
    await new Promise((r) => setTimeout(r, 100));
    s.destroy();
    await until('the cut-off upload is counted', async () => (await gone()) === n + 1);
    assert.equal(t.node.http!.server.internalErrors, errors);
    const text = (await call(base, 'GET', '/metrics')).text;
    assert.doesNotMatch(text, /idres_http_requests_total\{route="api_handles",method="PUT",status="5\d\d"\}/);
    assert.equal(t.node.registry!.getValues('88.118.8/CUT'), undefined, 'nothing was written');
  });
});

describe('HttpCounters', () => {
  test('statuses without a slot, methods beyond the seven, and bucket bounds', () => {
    const c = new HttpCounters([0.001, 0.01]);
    c.count('api_handles', 'GET', 200, 0.001); // on a bound: in that bucket
    c.count('api_handles', 'PATCH', 418, 0.0010001);
    c.count('api_handles', 'PATCH', 418, 5);
    c.count('redirect', 'HEAD', 999, 0);
    c.count('redirect', undefined, 302, 0.02);
    const rows = c.rows().map((r) => `${r.route} ${r.method} ${r.status} ${r.count}`);
    assert.deepEqual(rows.sort(), ['api_handles GET 200 1', 'api_handles OTHER 418 2', 'redirect HEAD 999 1', 'redirect OTHER 302 1']);
    const lat = Object.fromEntries(c.latencies().map((h) => [h.route, h]));
    assert.deepEqual(Object.keys(lat).sort(), ['api_handles', 'redirect']);
    assert.deepEqual([...lat.api_handles!.counts], [1, 1, 1]);
    assert.equal(lat.api_handles!.count, 3);
    assert.ok(Math.abs(lat.api_handles!.sum - 5.0020001) < 1e-9);
    assert.deepEqual([...lat.redirect!.counts], [1, 0, 1]);
  });
});
