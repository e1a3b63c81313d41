// The answer cache: freshness, the stale window, invalidation of every variant of a handle, the byte bound,
// and its slab structure: lookups by bytes verified against the stored key (collisions forced), exact LRU
// order under the bound, slab space reused after many evictions (against a simple reference model).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AnswerCache, type CacheOptions, ENTRY_OVERHEAD } from '../src/resolve/cache/answer-cache.js';
import type { ByteHash } from '../src/resolve/cache/hash.js';
import { Responder } from '../src/protocol/responder.js';

const answer = (handleKey: string, freshUntil: number, local = false, size = 10) => ({
  responseCode: 1,
  body: Buffer.alloc(size, 1),
  handleKey,
  freshUntil,
  local,
});

const plain = new Responder(0, true);
const templateOf = (rc: number, body: Buffer) => plain.template(rc, body);

/** A request body as the wire carries it: the handle's length, the handle, no indexes, no types. */
function requestBody(handle: string): Buffer {
  const h = Buffer.from(handle, 'utf8');
  const b = Buffer.alloc(4 + h.length + 8);
  b.writeUInt32BE(h.length, 0);
  h.copy(b, 4);
  return b;
}

/** The packet the hot path would copy for a slot. */
function packetAt(c: AnswerCache, slot: number): Buffer {
  const start = c.packetStartAt(slot);
  return c.slabAt(slot).subarray(start, start + c.packetLengthAt(slot));
}

test('fresh until the TTL, then only as a stale answer within the window, then gone (by the cache clock)', () => {
  let now = 1_000_000;
  const c = new AnswerCache({ packetOf: templateOf, maxBytes: 1 << 20, staleWindowMs: 150, now: () => now });
  c.set('k', answer('H', now + 100), now);
  assert.ok(c.get('k', now + 50));
  assert.equal(c.get('k', now + 120), undefined, 'past its TTL it is no fresh answer');
  now += 120;
  assert.ok(c.getStale('k'), 'inside the stale window');
  now += 200;
  assert.equal(c.getStale('k'), undefined, 'past the window');
  c.set('local', answer('L', now + 100, true), now);
  assert.equal(c.getStale('local'), undefined, 'local answers are never served stale');
});

test('the stale window by the clock handed in; an entry past it is dropped when looked at', () => {
  const c = new AnswerCache({ packetOf: templateOf, maxBytes: 1 << 20, staleWindowMs: 1000 });
  const t = 1_000_000;
  c.set('k', answer('H', t + 100), t);
  c.set('l', answer('L', t + 100, true), t);
  assert.equal(c.get('k', t + 100), undefined, 'fresh means before freshUntil');
  assert.equal(c.getStale('k', t + 1099)?.handleKey, 'H');
  assert.equal(c.getStale('l', t + 50), undefined, 'a local answer, even fresh, is not served stale');
  assert.equal(c.size, 2);
  assert.equal(c.get('k', t + 1100), undefined);
  assert.equal(c.size, 1, 'past the window it is gone');
  assert.equal(c.get('l', t + 100), undefined);
  assert.equal(c.size, 0, 'a local answer has no window');
  assert.equal(c.bytes, 0);
  assert.equal(c.set('x', answer('X', t), t), undefined, 'no TTL left: not kept');
});

test('invalidating a handle drops every variant of its answers, and only those', () => {
  const c = new AnswerCache({ packetOf: templateOf, maxBytes: 1 << 20, staleWindowMs: 0 });
  const now = Date.now();
  c.set('a1', answer('A', now + 1e6), now);
  c.set('a2', answer('A', now + 1e6), now);
  c.set('a3', answer('A', now + 1e6), now);
  c.set('b1', answer('B', now + 1e6), now);
  c.invalidate('A');
  assert.equal(c.get('a1', now), undefined);
  assert.equal(c.get('a2', now), undefined);
  assert.equal(c.get('a3', now), undefined);
  assert.ok(c.get('b1', now));
  c.set('a1', answer('A', now + 1e6), now);
  c.invalidate('A');
  assert.equal(c.get('a1', now), undefined, 'the index follows re-insertion');
  assert.equal(c.stats.invalidations, 2);
  c.invalidate('A');
  assert.equal(c.stats.invalidations, 2, 'nothing to drop is no invalidation');
});

test('invalidation under colliding hashes compares the handle bytes', () => {
  const c = new AnswerCache({ packetOf: templateOf, maxBytes: 1 << 20, staleWindowMs: 0, hash: () => 7 });
  const now = 0;
  const handles = ['88.118.8/A', '88.118.8/B', '88.118.8/AB', '88.118.8/产品', '88.118.8/产品X'];
  for (const h of handles) for (let v = 0; v < 4; v++) c.set(`${h}|${v}`, answer(h, 1e6), now);
  assert.equal(c.size, 20);
  c.invalidate('88.118.8/产品');
  c.invalidate('88.118.8/A');
  for (const h of handles) {
    const gone = h === '88.118.8/产品' || h === '88.118.8/A';
    for (let v = 0; v < 4; v++) assert.equal(c.get(`${h}|${v}`, now) === undefined, gone, `${h} variant ${v}`);
  }
  assert.equal(c.size, 12);
});

test('bounded in bytes: old answers are evicted, cached bytes are copies', () => {
  const c = new AnswerCache({ packetOf: templateOf, maxBytes: 100_000, staleWindowMs: 0 });
  const now = Date.now();
  for (let i = 0; i < 1000; i++) c.set(`k${i}`, answer(`H${i}`, now + 1e6, false, 200), now);
  assert.ok(c.bytes <= 100_000, `${c.bytes} bytes`);
  assert.ok(c.size < 1000 && c.size > 50);
  assert.ok(c.get('k999', now), 'the newest stays');
  assert.equal(c.get('k0', now), undefined, 'the oldest went');
  // The cache keeps a copy of what it is handed, and hands out copies: neither side can change the other.
  const pooled = Buffer.from('abc');
  c.set('own', { ...answer('O', now + 1e6), body: pooled }, now);
  pooled.fill(0);
  const got = c.get('own', now)!;
  assert.equal(got.body.toString(), 'abc');
  got.body.fill(0);
  assert.equal(c.get('own', now)!.body.toString(), 'abc');
  for (let i = 0; i < 1000; i++) c.invalidate(`H${i}`);
  c.invalidate('O');
  assert.equal(c.size, 0);
  assert.equal(c.bytes, 0);
});

test('eviction is in LRU order, by what each entry costs', () => {
  const body = Buffer.alloc(100, 2);
  const cost = AnswerCache.entryCost(2, 1, templateOf(1, body).length);
  const c = new AnswerCache({ packetOf: templateOf, maxBytes: 3 * cost, staleWindowMs: 0 });
  const a = (h: string) => ({ responseCode: 1, body, handleKey: h, freshUntil: 1e9, local: false });
  c.set('ka', a('a'), 0);
  c.set('kb', a('b'), 0);
  c.set('kc', a('c'), 0);
  assert.equal(c.bytes, 3 * cost, 'the bound counts exactly the entries');
  assert.ok(c.get('ka', 0), 'ka is now the most recently used');
  c.set('kd', a('d'), 0);
  assert.deepEqual(['ka', 'kb', 'kc', 'kd'].map((k) => c.get(k, 0) !== undefined), [true, false, true, true]);
  // A hit by bytes (the hot path) counts as a use too.
  const c2 = new AnswerCache({ packetOf: templateOf, maxBytes: 3 * AnswerCache.entryCost(requestBody('x/1').length, 1, templateOf(1, body).length), staleWindowMs: 0 });
  for (const n of ['1', '2', '3']) c2.set(AnswerCache.key(requestBody(`x/${n}`), false), a(n), 0);
  const b1 = requestBody('x/1');
  assert.ok(c2.getAt(b1, 0, b1.length, 0) >= 0);
  c2.set(AnswerCache.key(requestBody('x/4'), false), a('4'), 0);
  assert.deepEqual(
    ['1', '2', '3', '4'].map((n) => c2.get(AnswerCache.key(requestBody(`x/${n}`), false), 0) !== undefined),
    [true, false, true, true],
  );
});

test('overwriting a key replaces its answer and its cost', () => {
  const c = new AnswerCache({ packetOf: templateOf, maxBytes: 1 << 20, staleWindowMs: 0 });
  c.set('k', answer('H', 1e6, false, 10), 0);
  const first = c.get('k', 0)!;
  assert.equal(c.get('k', 0)!.serial, first.serial, 'the same answer has the same serial');
  c.set('k', { ...answer('H2', 1e6, true, 500), responseCode: 2 }, 0);
  const second = c.get('k', 0)!;
  assert.notEqual(second.serial, first.serial);
  assert.equal(second.responseCode, 2);
  assert.equal(second.handleKey, 'H2');
  assert.equal(second.body.length, 500);
  assert.equal(c.size, 1);
  assert.equal(c.bytes, AnswerCache.entryCost(1, 2, templateOf(2, Buffer.alloc(500)).length));
  c.invalidate('H');
  assert.equal(c.size, 1, 'the old handle no longer names it');
  c.invalidate('H2');
  assert.equal(c.size, 0);
});

test('authenticated and unauthenticated keys of one body are different answers', () => {
  for (const hash of [undefined, (() => 1) as ByteHash]) {
    const c = new AnswerCache({ packetOf: templateOf, maxBytes: 1 << 20, staleWindowMs: 0, ...(hash ? { hash } : {}) });
    const body = requestBody('88.118.8/X');
    c.set(AnswerCache.key(body, false), { ...answer('88.118.8/X', 1e6, false, 5), responseCode: 1 }, 0);
    assert.equal(c.get(AnswerCache.key(body, true), 0), undefined);
    c.set(AnswerCache.key(body, true), { ...answer('88.118.8/X', 1e6, false, 9), responseCode: 2 }, 0);
    assert.equal(c.get(AnswerCache.key(body, false), 0)!.responseCode, 1);
    assert.equal(c.get(AnswerCache.key(body, true), 0)!.responseCode, 2);
    const slot = c.getAt(body, 0, body.length, 0);
    assert.equal(c.responseCodeAt(slot), 1, 'the hot path asks unauthenticated');
    c.invalidate('88.118.8/X');
    assert.equal(c.size, 0);
  }
});

test('lookups by bytes find the answer inside a datagram, verified byte for byte under colliding hashes', () => {
  for (const hash of [undefined, (() => 0) as ByteHash, ((_b: Uint8Array, s: number, e: number) => (e - s) & 1) as ByteHash]) {
    const c = new AnswerCache({ packetOf: templateOf, maxBytes: 1 << 22, staleWindowMs: 0, ...(hash ? { hash } : {}) });
    // Keys of equal length differing in one byte, at the start, the middle and the end.
    const handles: string[] = [];
    for (let i = 0; i < 200; i++) handles.push(`88.118.8/${String(i).padStart(4, '0')}`);
    for (const h of handles) c.set(AnswerCache.key(requestBody(h), false), { ...answer(h, 1e6, false, h.length), body: Buffer.from(h) }, 0);
    for (const h of handles) {
      const body = requestBody(h);
      const datagram = Buffer.concat([Buffer.alloc(44, 0xee), body, Buffer.alloc(4)]);
      const slot = c.getAt(datagram, 44, 44 + body.length, 0);
      assert.ok(slot >= 0, h);
      assert.deepEqual(packetAt(c, slot), templateOf(1, Buffer.from(h)), h);
    }
    const other = requestBody('88.118.8/9999');
    assert.equal(c.getAt(other, 0, other.length, 0), -1);
    assert.equal(c.getAt(other, 0, other.length - 1, 0), -1, 'a prefix of a key is not the key');
    assert.equal(c.stats.hits, 200);
    assert.equal(c.stats.misses, 2);
  }
});

test('long keys (compared by Buffer.compare, not the loop) are verified byte for byte too', () => {
  const c = new AnswerCache({ packetOf: templateOf, maxBytes: 1 << 22, staleWindowMs: 0, hash: () => 3 });
  const long = (i: number) => requestBody(`88.118.8/${'L'.repeat(90)}${i}`);
  for (let i = 0; i < 10; i++) c.set(AnswerCache.key(long(i), false), { ...answer(`h${i}`, 1e6), body: Buffer.from([i]) }, 0);
  for (let i = 0; i < 10; i++) {
    const b = long(i);
    assert.deepEqual(packetAt(c, c.getAt(b, 0, b.length, 0)), templateOf(1, Buffer.from([i])));
  }
  const b = long(10);
  assert.equal(c.getAt(b, 0, b.length, 0), -1);
});

test('entries larger than a slab are kept in buffers of their own; larger than the bound, not at all', () => {
  const c = new AnswerCache({ packetOf: templateOf, maxBytes: 200_000, staleWindowMs: 0, slabBytes: 16 * 1024 });
  const big = Buffer.alloc(50_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
  c.set('small', answer('S', 1e6, false, 100), 0);
  c.set('big', { ...answer('B', 1e6), body: big }, 0);
  const slot = c.getAt(Buffer.from('big', 'latin1'), 0, 3, 0);
  assert.deepEqual(packetAt(c, slot), templateOf(1, big));
  const held = c.heldBytes;
  c.invalidate('B');
  assert.ok(c.heldBytes <= held - 50_000, 'its buffer goes with it');
  assert.ok(c.get('small', 0));
  assert.equal(c.set('huge', { ...answer('H', 1e6), body: Buffer.alloc(300_000) }, 0), undefined);
  c.set('k', answer('K', 1e6), 0);
  assert.equal(c.set('k', { ...answer('K', 1e6), body: Buffer.alloc(300_000) }, 0), undefined);
  assert.equal(c.get('k', 0), undefined, 'an answer too large to keep replaces the old one by none');
  assert.ok(c.get('small', 0), 'and evicts nothing');
  assert.equal(c.size, 1);
});

test('clear drops everything and gives the memory back', () => {
  const c = new AnswerCache({ packetOf: templateOf, maxBytes: 1 << 24, staleWindowMs: 0 });
  for (let i = 0; i < 5000; i++) c.set(`k${i}`, answer(`H${i}`, 1e6, false, 300), 0);
  const full = c.heldBytes;
  c.clear();
  assert.equal(c.size, 0);
  assert.equal(c.bytes, 0);
  assert.equal(c.get('k1', 0), undefined);
  assert.ok(c.heldBytes < full / 4);
  c.set('k1', answer('H1', 1e6), 0);
  assert.ok(c.get('k1', 0));
});

/** A deterministic generator (xorshift32), so a failing sequence can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

interface ModelEntry {
  rc: number;
  packet: Buffer;
  handleKey: string;
  freshUntil: number;
  local: boolean;
  restricted: boolean;
  cost: number;
}

/** The reference: a Map in LRU order (oldest first), entries costing what AnswerCache.entryCost says. */
class ModelCache {
  readonly map = new Map<string, ModelEntry>();
  bytes = 0;
  constructor(
    private readonly maxBytes: number,
    private readonly staleWindowMs: number,
  ) {}

  private keptUntil(e: ModelEntry): number {
    return e.local ? e.freshUntil : e.freshUntil + this.staleWindowMs;
  }

  private touch(k: string, e: ModelEntry): void {
    this.map.delete(k);
    this.map.set(k, e);
  }

  delete(k: string): void {
    const e = this.map.get(k);
    if (!e) return;
    this.map.delete(k);
    this.bytes -= e.cost;
  }

  get(k: string, now: number): ModelEntry | undefined {
    const e = this.map.get(k);
    if (!e) return undefined;
    if (e.freshUntil > now) {
      this.touch(k, e);
      return e;
    }
    if (!(this.keptUntil(e) > now)) this.delete(k);
    return undefined;
  }

  getStale(k: string, now: number): ModelEntry | undefined {
    const e = this.map.get(k);
    if (!e) return undefined;
    if (!(this.keptUntil(e) > now)) {
      this.delete(k);
      return undefined;
    }
    if (e.local) return undefined;
    this.touch(k, e);
    return e;
  }

  set(k: string, a: { responseCode: number; body: Buffer; handleKey: string; freshUntil: number; local: boolean; restricted?: boolean }, now: number): void {
    if (a.freshUntil - now <= 0 || this.maxBytes <= 0) return;
    this.delete(k);
    const packet = templateOf(a.responseCode, a.body);
    const keyLength = k.charCodeAt(0) === 0x41 ? k.length - 1 : k.length;
    const cost = AnswerCache.entryCost(keyLength, Buffer.byteLength(a.handleKey), packet.length);
    if (cost > this.maxBytes) return;
    while (this.bytes + cost > this.maxBytes) this.delete(this.map.keys().next().value!);
    this.map.set(k, { rc: a.responseCode, packet, handleKey: a.handleKey, freshUntil: a.freshUntil, local: a.local, restricted: a.restricted ?? false, cost });
    this.bytes += cost;
  }

  invalidate(h: string): void {
    for (const [k, e] of [...this.map]) if (e.handleKey === h) this.delete(k);
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }
}

/** Shares of the operations, cumulative: set, get, getAt, getStale, invalidate, clear; the rest let time pass. */
const USUAL_MIX = [0.45, 0.7, 0.8, 0.87, 0.96, 0.9605];
/** Mostly new answers and hot-path hits, nothing invalidated: slabs fill with holes only the LRU makes. */
const CHURN_MIX = [0.5, 0.6, 0.95, 0.95, 0.95, 0.95];

function modelRun(seed: number, opts: Partial<CacheOptions>, ops: number, mix = USUAL_MIX, handleCount = 40): { c: AnswerCache; m: ModelCache } {
  const random = rng(seed);
  const int = (n: number) => Math.floor(random() * n);
  const maxBytes = opts.maxBytes ?? 40_000;
  const staleWindowMs = 300;
  const c = new AnswerCache({ packetOf: templateOf, maxBytes, staleWindowMs, ...opts });
  const m = new ModelCache(maxBytes, staleWindowMs);
  const handles = Array.from({ length: handleCount }, (_, i) => (i % 5 === 0 ? `88.118.8/产品${i}` : `88.118.8/P${i}`));
  // Several request variants per handle (filters), some asked authenticated too.
  const bodies: Buffer[] = [];
  const keys: string[] = [];
  const handleOfKey: string[] = [];
  for (const h of handles) {
    for (let v = 0; v < 3; v++) {
      const body = Buffer.concat([requestBody(h), Buffer.alloc(v * 3, v)]);
      for (const auth of v === 0 ? [false, true] : [false]) {
        bodies.push(body);
        keys.push(AnswerCache.key(body, auth));
        handleOfKey.push(h);
      }
    }
  }
  let now = 1_000_000;
  const check = (k: string, got: { responseCode: number; body: Buffer; handleKey: string; freshUntil: number; local: boolean; restricted: boolean } | undefined, want: ModelEntry | undefined, what: string) => {
    assert.equal(got === undefined, want === undefined, `${what} ${JSON.stringify(k)} at ${now}`);
    if (!got || !want) return;
    assert.equal(got.responseCode, want.rc);
    assert.deepEqual(got.body, want.packet.subarray(44, want.packet.length - 4));
    assert.equal(got.handleKey, want.handleKey);
    assert.equal(got.freshUntil, want.freshUntil);
    assert.equal(got.local, want.local);
    assert.equal(got.restricted, want.restricted);
  };
  for (let op = 0; op < ops; op++) {
    now += int(20);
    const r = random();
    // Reads of a churn (and some of its writes) go to a few hot keys, which so stay alive in slabs that
    // are otherwise emptied.
    const hot = mix === CHURN_MIX && (r >= mix[0]! || r < 0.05);
    const i = hot ? int(40) : int(keys.length);
    const k = keys[i]!;
    if (r < mix[0]!) {
      const big = random();
      const size = big < 0.02 ? 60_000 : big < 0.07 ? 1500 + int(4000) : int(400);
      const body = Buffer.alloc(size);
      for (let j = 0; j < size; j += 97) body[j] = int(256);
      const a = {
        responseCode: 1 + int(3),
        body,
        handleKey: handleOfKey[i]!,
        // A churn's answers outlive it: space comes back only through eviction.
        freshUntil: now + (mix === CHURN_MIX ? 1e7 : int(1500) - 50),
        local: random() < 0.3,
        ...(random() < 0.2 ? { restricted: true } : {}),
      };
      c.set(k, a, now);
      m.set(k, a, now);
    } else if (r < mix[1]!) {
      check(k, c.get(k, now), m.get(k, now), 'get');
    } else if (r < mix[2]!) {
      if (k.charCodeAt(0) === 0x41) continue;
      // The hot path: by bytes, inside a larger buffer.
      const body = bodies[i]!;
      const datagram = Buffer.concat([Buffer.alloc(44, 0xab), body, Buffer.alloc(4, 0xcd)]);
      const slot = c.getAt(datagram, 44, 44 + body.length, now);
      const want = m.get(k, now);
      assert.equal(slot >= 0, want !== undefined, `getAt ${JSON.stringify(k)}`);
      if (want) {
        assert.deepEqual(packetAt(c, slot), want.packet);
        assert.equal(c.responseCodeAt(slot), want.rc);
        assert.equal(c.restrictedAt(slot), want.restricted);
      }
    } else if (r < mix[3]!) {
      check(k, c.getStale(k, now), m.getStale(k, now), 'getStale');
    } else if (r < mix[4]!) {
      const h = handles[int(handles.length)]!;
      c.invalidate(h);
      m.invalidate(h);
    } else if (r < mix[5]!) {
      c.clear();
      m.clear();
    } else {
      now += int(1000);
    }
    assert.equal(c.size, m.map.size, `size after op ${op}`);
    assert.equal(c.bytes, m.bytes, `bytes after op ${op}`);
    assert.ok(c.bytes <= maxBytes);
    if (op % 500 === 499) {
      // Every live entry, oldest first (touching them in that order keeps the LRU order as it was).
      for (const key of [...m.map.keys()]) check(key, c.get(key, now), m.get(key, now), 'sweep');
    }
  }
  return { c, m };
}

test('against a reference model: every answer exactly as kept, LRU order, costs, expiry, invalidation', () => {
  for (const seed of [1, 2, 3]) modelRun(seed, { slabBytes: 8192 }, 6000);
});

test('against the model with colliding hashes (one chain, and two)', () => {
  modelRun(11, { hash: () => 0, slabBytes: 8192 }, 3000);
  modelRun(12, { hash: (_b, s, e) => (e - s) & 1, slabBytes: 8192 }, 3000);
});

test('slab space is reused: churn many times the bound, every live answer intact, memory bounded', () => {
  const maxBytes = 60_000;
  const slabBytes = 4096;
  const limit = (c: AnswerCache, m: ModelCache) => {
    // Slabs: under 1.25 × the bound, plus two; records above an eighth of a slab in buffers of their own;
    // the per-slot arrays at their starting size.
    let large = 0;
    for (const e of m.map.values()) if (e.cost - ENTRY_OVERHEAD > slabBytes / 8) large += e.cost - ENTRY_OVERHEAD;
    const max = (Math.ceil((1.25 * maxBytes) / slabBytes) + 2) * slabBytes + large + 1024 * 75;
    assert.ok(c.heldBytes <= max, `${c.heldBytes} held, limit ${max}`);
  };
  const churned = modelRun(21, { maxBytes, slabBytes }, 20_000, CHURN_MIX, 400);
  limit(churned.c, churned.m);
  // The worst case for slabs: every tenth answer stays hot for a long while, so each slab keeps a few live
  // records among holes, more slabs than the limit would be pinned, and only compaction gives space back.
  const random = rng(5);
  const c = new AnswerCache({ packetOf: templateOf, maxBytes, staleWindowMs: 0, slabBytes });
  const m = new ModelCache(maxBytes, 0);
  const hot: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    const k = `k${i}`;
    const body = Buffer.alloc(20 + Math.floor(random() * 400), i & 0xff);
    const a = { responseCode: 1 + (i % 3), body, handleKey: `h${i % 1000}`, freshUntil: 1e9, local: false };
    c.set(k, a, 0);
    m.set(k, a, 0);
    if (i % 10 === 0) hot.push(k);
    for (const h of hot.slice(-50)) assert.equal(c.get(h, 0) !== undefined, m.get(h, 0) !== undefined, h);
    if (i % 1000 === 999) {
      for (const key of [...m.map.keys()]) {
        const want = m.get(key, 0)!;
        assert.deepEqual(c.get(key, 0)?.packet, want.packet, key);
      }
    }
    assert.equal(c.bytes, m.bytes);
  }
  assert.ok(c.stats.compactions > 100, `slabs were compacted (${c.stats.compactions} times)`);
  limit(c, m);
});

test('a large cache grows its tables and keeps every entry', () => {
  const c = new AnswerCache({ packetOf: templateOf, maxBytes: 1 << 30, staleWindowMs: 0 });
  const n = 50_000;
  for (let i = 0; i < n; i++) {
    const body = requestBody(`88.118.8/${i}`);
    c.set(AnswerCache.key(body, false), { responseCode: 1, body: Buffer.from(String(i)), handleKey: `88.118.8/${i}`, freshUntil: 1e9, local: true }, 0);
  }
  assert.equal(c.size, n);
  for (let i = 0; i < n; i += 7) {
    const body = requestBody(`88.118.8/${i}`);
    const slot = c.getAt(body, 0, body.length, 0);
    assert.deepEqual(packetAt(c, slot), templateOf(1, Buffer.from(String(i))));
  }
  for (let i = 0; i < n; i += 2) c.invalidate(`88.118.8/${i}`);
  assert.equal(c.size, n / 2);
});
