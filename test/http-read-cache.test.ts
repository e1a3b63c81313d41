// The HTTP read cache (src/http/read-cache.ts) against real nodes over HTTP on loopback: a kept answer is
// byte for byte what the whole resolution path writes (compared with a node that keeps none, holding the
// same records), a write or a TTL running out on the node's clock ends it at once, an authenticated read
// never fills nor reads it, and it stays within its byte bound.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_ADMIN_PERMISSIONS } from '../src/model/admin.js';
import { makeValue, Perm } from '../src/model/value.js';
import { encodeAdmin } from '../src/protocol/admin-data.js';
import type { HttpReadCache } from '../src/http/read-cache.js';
import type { IdresNode } from '../src/node/node.js';
import { TestClock } from './helpers/clock.js';
import { startTestNode, type TestNode } from './helpers/node.js';
import { JSON_HEADERS, USER, USER_SECRET, addIdentities, baseOf, basic, call } from './helpers/http.js';
import { tcpText } from './helpers/raw.js';

/** Both nodes' records are written at this time, so their JSON (which carries timestamps) can be compared. */
const WRITTEN = Date.UTC(2026, 10, 1) / 1000;

function fill(node: IdresNode): void {
  const r = node.registry!;
  // USER01 (helpers/http.ts, given its secret on the node that writes) administers both handles.
  const admin = (permissions: number) => makeValue(100, 'HS_ADMIN', encodeAdmin({ handle: USER, index: 300, permissions: ALL_ADMIN_PERMISSIONS }), { permissions });
  r.create(
    '88.118.8/ABC123',
    [
      makeValue(1, 'URL', 'https://example.com/p/ABC123'),
      makeValue(2, 'EMAIL', 'owner@example.com'),
      makeValue(3, 'URL.mobile', 'https://m.example.com/p/ABC123'),
      makeValue(4, 'blob', Buffer.from([0, 1, 2, 0xff])),
      makeValue(5, 'productName', '智能水泵 XB200'),
      makeValue(20, 'internal.cost', '12.50 CNY', { permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE }),
      admin(Perm.PUBLIC_READ | Perm.ADMIN_READ | Perm.ADMIN_WRITE),
    ],
    { now: WRITTEN },
  );
  r.create('88.118.8/SECRET', [makeValue(1, 'note', 'admins only', { permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE }), admin(Perm.ADMIN_READ | Perm.ADMIN_WRITE)], {
    now: WRITTEN,
  });
  node.noticeWrites();
}

function readsOf(node: IdresNode): HttpReadCache {
  const reads = node.http!.api.reads;
  assert.ok(reads, 'the node keeps a read cache');
  return reads;
}

/** A GET or HEAD as raw as undici gives it: status, the headers that depend on the answer, the body bytes. */
async function raw(base: string, target: string, method = 'GET', headers: Record<string, string> = {}) {
  const r = await call(base, method, target, { headers });
  return { status: r.status, type: r.headers['content-type'], length: r.headers['content-length'], text: r.text };
}

describe('the HTTP read cache', () => {
  let cached: TestNode;
  let plain: TestNode;

  before(async () => {
    cached = await startTestNode();
    plain = await startTestNode({ patch: (c) => ((c.http as Record<string, unknown>).readCacheMaxBytes = 0) });
    fill(cached.node);
    fill(plain.node);
    addIdentities(cached.node);
  });
  after(async () => {
    await cached.stop();
    await plain.stop();
  });

  test('a node with http.readCacheMaxBytes 0 keeps none', () => {
    assert.equal(plain.node.http!.api.reads, undefined);
  });

  const targets = [
    '/api/handles/88.118.8/ABC123',
    '/api/handles/88.118.8/abc123',
    '/api/handles/88.118.8%2FABC123',
    '/api/handles/88.118.8/ABC123?index=1',
    '/api/handles/88.118.8/ABC123?index=3&index=1',
    '/api/handles/88.118.8/ABC123?type=URL',
    '/api/handles/88.118.8/ABC123?type=URL.',
    '/api/handles/88.118.8/ABC123?type=EMAIL&index=4',
    '/api/handles/88.118.8/ABC123?index=20',
    '/api/handles/88.118.8/ABC123?index=99',
    '/api/handles/88.118.8/ABC123?pretty',
    '/api/handles/88.118.8/ABC123?callback=show',
    '/api/handles/88.118.8/ABC123?publicOnly=true',
    '/api/handles/88.118.8',
    '/api/handles/0.NA/88.118.8',
    '/api/handles/88.118.8/SECRET',
    '/api/handles/88.118.8/MISSING',
    '/api/handles/77.1/ELSEWHERE',
  ];

  test('a kept answer is byte for byte the whole path\'s, for GET and HEAD, across filters and outcomes', async () => {
    const reads = readsOf(cached.node);
    const outcomes = new Set<number>();
    for (const target of targets) {
      // The prefix handle is each node's own (its keys, its ports): there the reference is the first answer,
      // which the whole path wrote (no hit counted).
      const own = target.includes('/88.118.8?') || target.endsWith('/88.118.8');
      let hits = reads.stats.hits;
      const first = await raw(baseOf(cached.node), target);
      assert.equal(reads.stats.hits, hits, `the first GET of ${target} goes the whole way`);
      const reference = own ? first : await raw(baseOf(plain.node), target);
      outcomes.add(reference.status);
      assert.equal(Number(first.length), Buffer.byteLength(first.text), `Content-Length of ${target}`);
      assert.deepEqual(first, reference, `first GET ${target}`);
      // A prefix not homed here (RC 301) is not an answer the hot cache keeps, so neither is it kept here.
      const kept = target.includes('/77.1/') ? 0 : 1;
      hits = reads.stats.hits;
      const second = await raw(baseOf(cached.node), target);
      assert.equal(reads.stats.hits, hits + kept, `the second GET of ${target} is served from the read cache`);
      assert.deepEqual(second, reference, `kept GET ${target}`);
      const head = await raw(baseOf(cached.node), target, 'HEAD');
      assert.equal(reads.stats.hits, hits + 2 * kept, `HEAD ${target} is served from the read cache`);
      assert.deepEqual(head, { ...reference, text: '' }, `kept HEAD ${target}`);
      if (!own) assert.deepEqual(await raw(baseOf(plain.node), target, 'HEAD'), head, `HEAD ${target} on the node without a read cache`);
    }
    // The spread covers answers, no values, not found and not homed here.
    assert.deepEqual([...outcomes].sort(), [200, 400, 404]);
  });

  test('a CORS request served from the cache still gets its Access-Control headers', async () => {
    const target = '/api/handles/88.118.8/ABC123?index=2';
    const origin = { Origin: 'https://dashboard.example.com' };
    await call(baseOf(cached.node), 'GET', target);
    const hits = readsOf(cached.node).stats.hits;
    const a = await call(baseOf(cached.node), 'GET', target, { headers: origin });
    const b = await call(baseOf(plain.node), 'GET', target, { headers: origin });
    assert.equal(readsOf(cached.node).stats.hits, hits + 1);
    for (const h of ['access-control-allow-origin', 'access-control-expose-headers']) assert.equal(a.headers[h], b.headers[h], h);
    assert.equal(a.text, b.text);
  });

  test('a PUT, then a GET: the new values at once, never the kept answer', async () => {
    const base = baseOf(cached.node);
    const target = '/api/handles/88.118.8/ABC123?type=URL';
    await call(base, 'GET', target);
    const hits = readsOf(cached.node).stats.hits;
    assert.equal((await call(base, 'GET', target)).json.values[0].data.value, 'https://example.com/p/ABC123');
    assert.equal(readsOf(cached.node).stats.hits, hits + 1);
    const put = await call(base, 'PUT', '/api/handles/88.118.8/ABC123?index=1', {
      headers: { ...JSON_HEADERS, ...basic(`300:${USER}`, USER_SECRET) },
      body: JSON.stringify({ values: [{ index: 1, type: 'URL', data: 'https://example.com/p/ABC123-v2' }] }),
    });
    assert.equal(put.status, 200, put.text);
    const after = await call(base, 'GET', target);
    assert.equal(after.json.values[0].data.value, 'https://example.com/p/ABC123-v2');
    // And a DELETE: the handle is gone for the next reader.
    const del = await call(base, 'DELETE', '/api/handles/88.118.8/ABC123', { headers: basic(`300:${USER}`, USER_SECRET) });
    assert.equal(del.status, 200, del.text);
    assert.equal((await call(base, 'GET', target)).status, 404);
  });

  test('an authenticated read neither fills nor reads the public answers', async () => {
    const base = baseOf(cached.node);
    const reads = readsOf(cached.node);
    const target = '/api/handles/88.118.8/SECRET';
    const auth = basic(`300:${USER}`, USER_SECRET);
    let hits = reads.stats.hits;
    const stored = reads.stats.stored;
    const first = await call(base, 'GET', target, { headers: auth });
    assert.equal(first.json.values[0].data.value, 'admins only');
    assert.equal(reads.stats.stored, stored, 'an authenticated answer is not kept');
    // The public answer, kept; then the authenticated reader again, who still sees what only it may.
    assert.deepEqual((await call(base, 'GET', target)).json, { responseCode: 200, values: [], handle: '88.118.8/SECRET' });
    await call(base, 'GET', target);
    assert.ok(reads.stats.hits > hits, 'the public answer is kept');
    hits = reads.stats.hits;
    const again = await call(base, 'GET', target, { headers: auth });
    assert.equal(again.json.values[0].data.value, 'admins only');
    assert.equal(reads.stats.hits, hits, 'an authenticated read is not served from the cache');
    // However its header name is written (credentials are looked for in the raw headers).
    const port = cached.node.http!.port;
    for (const name of ['authorization', 'AUTHORIZATION']) {
      const text = await tcpText(port, `GET ${target} HTTP/1.1\r\nHost: x\r\n${name}: ${auth.Authorization}\r\nConnection: close\r\n\r\n`);
      assert.match(text, /admins only/, name);
    }
    assert.equal(reads.stats.hits, hits, 'nor when its header name is in another case');
    // An anonymous reader asking for more than public values goes the whole way too, and is not kept.
    const s = reads.stats.stored;
    await call(base, 'GET', `${target}?publicOnly=false`);
    await call(base, 'GET', `${target}?publicOnly=false`);
    assert.equal(reads.stats.stored, s);
    assert.equal(reads.stats.hits, hits);
  });
});

describe('the HTTP read cache, its clock and its bound', () => {
  const clock = new TestClock();
  let t: TestNode;
  before(async () => {
    t = await startTestNode({ patch: (c) => ((c.http as Record<string, unknown>).readCacheMaxBytes = 8192), start: { clock: clock.now } });
    const r = t.node.registry!;
    r.create('88.118.8/SHORT', [makeValue(1, 'URL', 'https://example.com/short', { ttl: 60 })]);
    for (let i = 0; i < 60; i++) r.create(`88.118.8/ITEM-${i}`, [makeValue(1, 'URL', `https://example.com/items/${i}/${'x'.repeat(200)}`)]);
    t.node.noticeWrites();
  });
  after(async () => {
    await t.stop();
  });

  test('a TTL running out on the node\'s clock ends the kept answer; the next one is kept anew', async () => {
    const base = baseOf(t.node);
    const reads = readsOf(t.node);
    const target = '/api/handles/88.118.8/SHORT';
    await call(base, 'GET', target);
    let hits = reads.stats.hits;
    await call(base, 'GET', target);
    assert.equal(reads.stats.hits, hits + 1);
    clock.advance(30_000);
    await call(base, 'GET', target);
    assert.equal(reads.stats.hits, hits + 2, 'still fresh half way through its TTL');
    const outdated = reads.stats.outdated;
    clock.advance(31_000);
    const r = await call(base, 'GET', target);
    assert.equal(r.json.values[0].data.value, 'https://example.com/short');
    assert.equal(reads.stats.outdated, outdated + 1, 'past its TTL the kept answer is dropped');
    assert.equal(reads.stats.hits, hits + 2);
    hits = reads.stats.hits;
    await call(base, 'GET', target);
    assert.equal(reads.stats.hits, hits + 1, 'and the fresh answer is kept again');
  });

  test('the kept answers stay within http.readCacheMaxBytes, the least recent going first', async () => {
    const base = baseOf(t.node);
    const reads = readsOf(t.node);
    for (let i = 0; i < 60; i++) {
      const r = await call(base, 'GET', `/api/handles/88.118.8/ITEM-${i}`);
      assert.equal(r.status, 200);
      assert.ok(reads.bytes <= 8192, `${reads.bytes} bytes held after ${i + 1} answers`);
    }
    assert.ok(reads.size > 5 && reads.size < 60, `${reads.size} answers kept`);
    const hits = reads.stats.hits;
    await call(base, 'GET', '/api/handles/88.118.8/ITEM-59');
    assert.equal(reads.stats.hits, hits + 1, 'the latest is kept');
    await call(base, 'GET', '/api/handles/88.118.8/ITEM-0');
    assert.equal(reads.stats.hits, hits + 1, 'the first is long gone');
  });
});
