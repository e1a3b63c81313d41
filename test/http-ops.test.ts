// Operations over HTTP: /metrics that move after traffic on every front end, /healthz, and /readyz that turns
// false when a resolver's upstream goes away; plus the http section of the configuration.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { HandleClient } from '../src/client/handle-client.js';
import { ConfigError, validateConfig } from '../src/node/config.js';
import { delegatePrefix } from '../src/admin/delegation.js';
import { makeValue } from '../src/model/value.js';
import type { IdresNode } from '../src/node/node.js';
import { cli, startTestNode, type TestNode } from './helpers/node.js';
import { Nodes, at } from './helpers/tiers.js';
import { TestClock } from './helpers/clock.js';
import { baseOf, call } from './helpers/http.js';
import { repoRoot } from './helpers/paths.js';

const fixturesDir = path.join(repoRoot, 'fixtures');

/** The value of one sample line of the Prometheus text, or 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (.+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(',').filter((x) => x !== '');
    if (want.every((w) => have.includes(w))) return Number(m[3]);
  }
  return 0;
}

const metrics = async (n: IdresNode) => (await call(baseOf(n), 'GET', '/metrics')).text;

describe('metrics and health of a business node', () => {
  let t: TestNode;
  const client = new HandleClient({ udpTimeoutsMs: [300, 600], tcpTimeoutMs: 3000 });

  before(async () => {
    t = await startTestNode();
    t.node.registry!.create('88.118.8/M1', [makeValue(1, 'URL', 'https://example.com/m1')]);
    t.node.noticeWrites();
  });
  after(async () => {
    client.close();
    await t.stop();
  });

  test('/healthz is alive, /readyz ready with every check true', async () => {
    const h = await call(baseOf(t.node), 'GET', '/healthz');
    assert.equal(h.status, 200);
    assert.equal(h.json.status, 'alive');
    const r = await call(baseOf(t.node), 'GET', '/readyz');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { status: 'ready', registry: true, udp: true, tcp: true, http: true });
  });

  test('Handle requests by transport, opcode and code, cache hits and misses move after traffic', async () => {
    const before = await metrics(t.node);
    const udpOk = { transport: 'udp', opcode: 'RESOLUTION', code: '1' };
    for (let i = 0; i < 5; i++) await client.resolve(t.server, '88.118.8/M1', { transport: 'udp' });
    await client.resolve(t.server, '88.118.8/NOPE', { transport: 'tcp' });
    await client.siteInfo(t.server, 'udp');
    const afterText = await metrics(t.node);
    assert.equal(sample(afterText, 'idres_requests_total', udpOk) - sample(before, 'idres_requests_total', udpOk), 5);
    assert.equal(sample(afterText, 'idres_requests_total', { transport: 'tcp', opcode: 'RESOLUTION', code: '100' }) - sample(before, 'idres_requests_total', { transport: 'tcp', opcode: 'RESOLUTION', code: '100' }), 1);
    assert.ok(sample(afterText, 'idres_requests_total', { transport: 'udp', opcode: 'GET_SITE_INFO', code: '1' }) >= 1);
    assert.ok(sample(afterText, 'idres_cache_hits_total') - sample(before, 'idres_cache_hits_total') >= 4);
    assert.ok(sample(afterText, 'idres_cache_misses_total') > sample(before, 'idres_cache_misses_total'));
    assert.ok(sample(afterText, 'idres_cache_entries') >= 1);
    assert.equal(sample(afterText, 'idres_registry_handles'), 2); // 0.NA/88.118.8 and 88.118.8/M1
    // NOPE, never asked before, is read by the miss path on the point reader.
    const pointReads = (text: string) => sample(text, 'idres_registry_point_reads_total', { kind: 'read' });
    assert.ok(pointReads(afterText) - pointReads(before) >= 1, 'the miss path read the registry');
    assert.ok(sample(afterText, 'idres_registry_point_reads_total', { kind: 'transaction' }) <= pointReads(afterText));
    assert.match(afterText, /^# TYPE idres_request_duration_seconds histogram$/m);
  });

  test('HTTP requests are counted by route, method and status, and timed', async () => {
    const base = baseOf(t.node);
    const before = await metrics(t.node);
    await call(base, 'GET', '/api/handles/88.118.8/M1');
    await call(base, 'GET', '/api/handles/88.118.8/NOPE');
    await call(base, 'GET', '/88.118.8/M1');
    const text = await metrics(t.node);
    const d = (labels: Record<string, string>) => sample(text, 'idres_http_requests_total', labels) - sample(before, 'idres_http_requests_total', labels);
    assert.equal(d({ route: 'api_handles', method: 'GET', status: '200' }), 1);
    assert.equal(d({ route: 'api_handles', method: 'GET', status: '404' }), 1);
    assert.equal(d({ route: 'redirect', method: 'GET', status: '302' }), 1);
    assert.ok(sample(text, 'idres_http_request_duration_seconds_count', { route: 'api_handles' }) >= 2);
    assert.ok(sample(text, 'idres_http_api_operations_total', { operation: 'resolve' }) >= 2);
  });

  test('import progress appears once an import ran into the registry', async () => {
    const r = await cli(['import', path.join(fixturesDir, 'import-example.csv'), '--dir', t.dir, '--progress', 'none']);
    assert.equal(r.code, 0, r.stderr);
    const text = await metrics(t.node);
    assert.ok(sample(text, 'idres_import_rows', { file: 'import-example.csv', outcome: 'created' }) > 0, text.split('\n').filter((l) => l.startsWith('idres_import')).join('\n'));
    assert.equal(sample(text, 'idres_import_done', { file: 'import-example.csv' }), 1);
  });
});

describe('readiness and metrics of a resolver', () => {
  const nodes = new Nodes();
  let business: IdresNode;
  let resolver: IdresNode;
  const clock = new TestClock();

  before(async () => {
    business = await nodes.start('business', { roles: ['business'], prefixes: ['88.118.8'] });
    business.registry!.create('88.118.8/R1', [makeValue(1, 'URL', 'https://example.com/r1')]);
    business.noticeWrites();
    resolver = await nodes.start('resolver', { roles: ['resolver'], upstream: at(business) }, undefined, 0, { clock: clock.now });
  });
  after(async () => {
    await nodes.stopAll();
  });

  test('a resolver answers the JSON API by recursion, and counts its upstream queries', async () => {
    const r = await call(baseOf(resolver), 'GET', '/api/handles/88.118.8/R1');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.values[0].data.value, 'https://example.com/r1');
    const text = await metrics(resolver);
    assert.ok(sample(text, 'idres_upstream_queries_total') >= 1);
    const w = await call(baseOf(resolver), 'PUT', '/api/handles/88.118.8/R2', { headers: { 'Content-Type': 'application/json' }, body: '[]' });
    assert.equal(w.status, 400);
    assert.equal(w.json.responseCode, 301);
  });

  test('/readyz is ready while the upstream answers and 503 once it is gone; failures are counted by server', async () => {
    let r = await call(baseOf(resolver), 'GET', '/readyz');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.upstreams, true);
    const upstream = at(business);
    await nodes.stop(business);
    // The probe's result stands for a second (by the node's clock); a second later it is redone.
    clock.advance(1100);
    r = await call(baseOf(resolver), 'GET', '/readyz');
    assert.equal(r.status, 503);
    assert.equal(r.json.status, 'not ready');
    assert.match(r.json.upstreams, /none of .* answered/);
    // What is cached is still answered; a new question fails upstream (RC 2 → 500) and is counted by server.
    const cached = await call(baseOf(resolver), 'GET', '/api/handles/88.118.8/R1');
    assert.equal(cached.status, 200);
    const fresh = await call(baseOf(resolver), 'GET', '/api/handles/88.118.8/R1?type=URL');
    assert.equal(fresh.status, 500);
    assert.equal(fresh.json.responseCode, 2);
    assert.equal(fresh.json.handle, '88.118.8/R1');
    const text = await metrics(resolver);
    assert.ok(sample(text, 'idres_upstream_failures_total', { server: upstream }) >= 1);
  });
});

describe('a top-level node over HTTP', () => {
  const nodes = new Nodes();
  after(async () => {
    await nodes.stopAll();
  });

  test('a prefix handle under a delegated prefix answers 300 with the referral (RC 303) and its values', async () => {
    const top = await nodes.start('top', { roles: ['top'], prefixes: ['88'] });
    const secondary = await nodes.start('secondary', { roles: ['secondary'], prefixes: ['88.118'] });
    delegatePrefix(top.registry!, { prefix: '88.118', sites: [secondary.site] });
    top.noticeWrites();
    const r = await call(baseOf(top), 'GET', '/api/handles/0.NA/88.118.8');
    assert.equal(r.status, 300, r.text);
    assert.equal(r.json.responseCode, 303);
    assert.equal(r.json.handle, '0.NA/88.118.8');
    const site = r.json.values.find((v: { type: string }) => v.type === 'HS_SITE.PREFIX');
    assert.equal(site.data.format, 'site');
    assert.equal(site.data.value.servers[0].interfaces[0].port, secondary.port);
  });
});

describe('the http section of the configuration', () => {
  test('defaults: on, port 8000, loopback through the listen address', () => {
    const c = validateConfig({});
    assert.equal(c.http.enabled, true);
    assert.equal(c.http.port, 8000);
    assert.equal(c.http.host, undefined);
    assert.equal(c.http.plainHttpAuth, 'loopback');
  });

  test('every bad setting is named', () => {
    assert.throws(
      () => validateConfig({ http: { port: 70000, enabled: 'yes', plainHttpAuth: 'sometimes', host: 'localhost', maxBodyBytes: 1, color: 1 } }),
      (e: unknown) =>
        e instanceof ConfigError &&
        /http\.port must be/.test(e.message) &&
        /http\.enabled must be true or false/.test(e.message) &&
        /http\.plainHttpAuth must be one of/.test(e.message) &&
        /http\.host must be an IP address/.test(e.message) &&
        /http\.maxBodyBytes must be/.test(e.message) &&
        /unknown setting "http\.color"/.test(e.message),
    );
    assert.throws(() => validateConfig({ listen: { port: 2641 }, http: { port: 2641 } }), /also the Handle TCP port/);
    assert.throws(() => validateConfig({ dns: { enabled: true, port: 8000 } }), /also the DNS gateway's port/);
  });

  test('idres init --http-port and --no-http', async () => {
    const { tempDir } = await import('./helpers/node.js');
    const { readFileSync, rmSync } = await import('node:fs');
    const root = tempDir('idres-http-init-');
    try {
      let r = await cli(['init', '--dir', path.join(root, 'a'), '--prefix', '88.118.8', '--http-port', '8123']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /HTTP API on 127\.0\.0\.1 port 8123/);
      assert.equal(JSON.parse(readFileSync(path.join(root, 'a', 'idres.json'), 'utf8')).http.port, 8123);
      r = await cli(['init', '--dir', path.join(root, 'b'), '--prefix', '88.118.8', '--no-http']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(readFileSync(path.join(root, 'b', 'idres.json'), 'utf8')).http.enabled, false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
