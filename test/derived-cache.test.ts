// The cache of answers derived from the hot cache (DNS responses, HTTP replies) serves an entry exactly
// while the hot-cache entry it was made from is the fresh one there, and asks the hot cache only when
// something may have changed: an entry left the hot cache, or the source's freshness ran out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AnswerCache } from '../src/resolve/cache/answer-cache.js';
import { DerivedCache, type DerivedEntry } from '../src/resolve/cache/derived-cache.js';
import { ResolutionPipeline } from '../src/resolve/pipeline.js';
import { Responder } from '../src/protocol/responder.js';

const plain = new Responder(0, true);

function setup(maxBytes = 1 << 20) {
  let now = 1_000_000;
  const clock = () => now;
  const cache = new AnswerCache({ packetOf: (rc, body) => plain.template(rc, body), maxBytes, staleWindowMs: 0, now: clock });
  const pipeline = new ResolutionPipeline(cache, undefined, undefined, {
    allowRecursion: false,
    alwaysRecurse: false,
    maxRecursionCount: 4,
    negativeTtlSeconds: 30,
    maxTtlSeconds: 86400,
    foldSuffix: true,
    now: clock,
  });
  // Count the hot-cache lookups the derived cache makes.
  let lookups = 0;
  const freshUntilOf = pipeline.freshUntilOf.bind(pipeline);
  pipeline.freshUntilOf = (k, serial, t) => {
    lookups++;
    return freshUntilOf(k, serial, t);
  };
  const derived = new DerivedCache<DerivedEntry>(1 << 20, pipeline, (e, k) => e.bytes.length + k.length);
  const put = (key: string, handle: string, ttlMs: number, size = 10) =>
    cache.set(key, { responseCode: 1, body: Buffer.alloc(size, 7), handleKey: handle, freshUntil: now + ttlMs, local: false }, now)!;
  const derive = (key: string, source: string, serial: number) => derived.set(key, { bytes: Buffer.from(key), sourceKey: source, sourceSerial: serial });
  return {
    cache,
    derived,
    put,
    derive,
    get: (key: string) => derived.get(key, now),
    lookups: () => lookups,
    advance: (ms: number) => (now += ms),
  };
}

test('a derived entry is confirmed once, then served without asking while nothing left the hot cache', () => {
  const t = setup();
  const a = t.put('ka', '88.118.8/A', 60_000);
  t.derive('dA', 'ka', a.serial);
  assert.ok(t.get('dA'));
  assert.equal(t.lookups(), 1, 'the first hit confirms the source');
  for (let i = 0; i < 5; i++) assert.ok(t.get('dA'));
  assert.equal(t.lookups(), 1, 'later hits do not ask');

  // An entry added under another key removes nothing: still no need to ask.
  t.put('kb', '88.118.8/B', 60_000);
  assert.ok(t.get('dA'));
  assert.equal(t.lookups(), 1);

  // An entry leaving (another handle's write) makes the next hit ask again; the source is still there.
  t.cache.invalidate('88.118.8/B');
  assert.ok(t.get('dA'));
  assert.equal(t.lookups(), 2);
  assert.ok(t.get('dA'));
  assert.equal(t.lookups(), 2);
});

test('a derived entry ends with its source: replaced, invalidated, evicted, cleared, or past its freshness', () => {
  {
    const t = setup();
    const a = t.put('ka', '88.118.8/A', 60_000);
    t.derive('dA', 'ka', a.serial);
    assert.ok(t.get('dA'));
    t.put('ka', '88.118.8/A', 60_000); // a newer answer under the same key
    assert.equal(t.get('dA'), undefined);
    assert.equal(t.derived.stats.outdated, 1);
  }
  {
    const t = setup();
    const a = t.put('ka', '88.118.8/A', 60_000);
    t.derive('dA', 'ka', a.serial);
    assert.ok(t.get('dA'));
    t.cache.invalidate('88.118.8/A');
    assert.equal(t.get('dA'), undefined);
  }
  {
    const t = setup();
    const a = t.put('ka', '88.118.8/A', 60_000);
    t.derive('dA', 'ka', a.serial);
    assert.ok(t.get('dA'));
    t.cache.clear();
    assert.equal(t.get('dA'), undefined);
  }
  {
    const t = setup();
    const a = t.put('ka', '88.118.8/A', 1_000);
    t.derive('dA', 'ka', a.serial);
    assert.ok(t.get('dA'));
    t.advance(999);
    assert.ok(t.get('dA'), 'fresh until its last millisecond');
    t.advance(1);
    assert.equal(t.get('dA'), undefined, 'not served once the source is past its freshness, though nothing was removed');
  }
  {
    // A small hot cache: filling it evicts the source (served without asking until then).
    const t = setup(8 * 1024);
    const a = t.put('ka', '88.118.8/A', 60_000, 500);
    t.derive('dA', 'ka', a.serial);
    assert.ok(t.get('dA'));
    for (let i = 0; i < 40; i++) t.put(`k${i}`, `88.118.8/F${i}`, 60_000, 500);
    assert.equal(t.get('dA'), undefined, 'evicted with its source');
    assert.equal(t.cache.slotOf('ka', 1_000_000), -1, 'the source was evicted');
  }
});
