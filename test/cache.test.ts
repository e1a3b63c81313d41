// The answer cache: freshness, the stale window, invalidation of every variant of a handle, the byte bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AnswerCache } from '../src/resolve/cache.js';

const answer = (handleKey: string, freshUntil: number, local = false, size = 10) => ({
  responseCode: 1,
  body: Buffer.alloc(size, 1),
  handleKey,
  freshUntil,
  local,
});

test('fresh until the TTL, then only as a stale answer within the window, then gone', async () => {
  const c = new AnswerCache({ maxBytes: 1 << 20, staleWindowMs: 150 });
  const now = Date.now();
  c.set('k', answer('H', now + 100), now);
  assert.ok(c.get('k', now + 50));
  assert.equal(c.get('k', now + 120), undefined, 'past its TTL it is no fresh answer');
  await new Promise((r) => setTimeout(r, 120));
  assert.ok(c.getStale('k'), 'inside the stale window');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(c.getStale('k'), undefined, 'past the window');
  c.set('local', answer('L', Date.now() + 100, true), Date.now());
  assert.equal(c.getStale('local'), undefined, 'local answers are never served stale');
});

test('invalidating a handle drops every variant of its answers, and only those', () => {
  const c = new AnswerCache({ maxBytes: 1 << 20, staleWindowMs: 0 });
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
});

test('bounded in bytes: old answers are evicted, cached bytes do not pin shared memory', () => {
  const c = new AnswerCache({ maxBytes: 100_000, staleWindowMs: 0 });
  const now = Date.now();
  for (let i = 0; i < 1000; i++) c.set(`k${i}`, answer(`H${i}`, now + 1e6, false, 200), now);
  assert.ok(c.bytes <= 100_000, `${c.bytes} bytes`);
  assert.ok(c.size < 1000 && c.size > 50);
  assert.ok(c.get('k999', now), 'the newest stays');
  assert.equal(c.get('k0', now), undefined, 'the oldest went');
  const pooled = Buffer.from('abc');
  c.set('own', { ...answer('O', now + 1e6), body: pooled }, now);
  assert.notEqual(c.get('own', now)!.body.buffer, pooled.buffer);
  for (let i = 0; i < 1000; i++) c.invalidate(`H${i}`);
});
