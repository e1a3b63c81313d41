// The registry digest behind `idres check` (store/registry-digest.ts): the same rows give the same digest
// whatever order they were written in; one byte changed, one handle missing or one extra is found in its own
// range and no other, and named by the handle diff; homed prefixes are compared too.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { Registry } from '../src/store/registry.js';
import { HandleDiff, RegistryDigest, differingRanges, digestRegistry, rangeOfKey } from '../src/store/registry-digest.js';
import { type HandleValue, makeValue } from '../src/model/value.js';
import { tempDir } from './helpers/node.js';

const PREFIX = '88.118.8';
const root = tempDir('idres-digest-');
let made = 0;

function registry(): Registry {
  return new Registry(path.join(root, `r${made++}.db`));
}

const url = (i: number): HandleValue[] => [makeValue(1, 'URL', `https://example.cn/p/${i}`)];

/** N handles of PREFIX and a few of a second prefix, in the order given, all stamped at the same second. */
function fill(r: Registry, order: number[]): void {
  r.db.transaction(() => {
    for (const i of order) r.createInTxn(`${i % 10 === 0 ? '88.118.9' : PREFIX}/P-${i}`, url(i), false, 1700000000);
  })();
  r.home(PREFIX, 1700000000);
}

describe('registry digest', () => {
  after(() => rmSync(root, { recursive: true, force: true }));
  const N = 2000;
  const forward = Array.from({ length: N }, (_, i) => i);
  const shuffled = [...forward].sort((a, b) => ((a * 7919) % N) - ((b * 7919) % N));

  test('the same rows written in a different order digest the same; the ranges cover every row', () => {
    const a = registry();
    const b = registry();
    fill(a, forward);
    fill(b, shuffled);
    const da = digestRegistry(a, 16);
    const db = digestRegistry(b, 16);
    assert.deepEqual(da.digest.summaries(), db.digest.summaries());
    assert.deepEqual(differingRanges(da.digest, db.digest), []);
    assert.equal(da.digest.handles, N);
    // 16 buckets of 88.118.8, 16 of 88.118.9, the homed prefixes.
    const s = da.digest.summaries();
    assert.equal(s.length, 33);
    assert.equal(s.filter((r) => r.bucket >= 0).reduce((n, r) => n + r.count, 0), N);
    a.close();
    b.close();
  });

  test('one byte changed in one value, a missing and an extra handle: their ranges alone differ, and the diff names each', () => {
    const a = registry();
    const b = registry();
    fill(a, forward);
    fill(b, forward);
    // One byte of one stored blob, as if the file were changed behind the node's back.
    const key = b.key(`${PREFIX}/P-77`);
    const blob = Buffer.from(b.rowAt(key)!.blob);
    blob[blob.length - 10] ^= 0x01;
    b.db.prepare('UPDATE handles SET vals = ? WHERE handle_key = ?').run(blob, key);
    b.delete(`${PREFIX}/P-501`);
    b.create(`${PREFIX}/EXTRA`, url(9999));
    const d = differingRanges(digestRegistry(a, 64).digest, digestRegistry(b, 64).digest);
    const want = [`${PREFIX}/P-77`, `${PREFIX}/P-501`, `${PREFIX}/EXTRA`].map((h) => rangeOfKey(a.key(h), 64));
    const names = new Set(want.map((r) => `${r.prefix}#${r.bucket}`));
    assert.deepEqual(new Set(d.map((r) => `${r.prefix}#${r.bucket}`)), names);
    const missing = d.find((r) => r.prefix === want[1]!.prefix && r.bucket === want[1]!.bucket)!;
    if (names.size === 3) assert.equal(missing.here - missing.there, 1, 'the range that lost a handle has one fewer on that side');

    const diff = new HandleDiff(a, d, 64, 100);
    for (const [handle, vals] of b.db.prepare<[], [string, Buffer]>('SELECT handle, vals FROM handles').raw(true).iterate()) diff.there(handle, vals);
    diff.finish();
    assert.deepEqual(
      [...diff.found].sort((x, y) => x.handle.localeCompare(y.handle)),
      [
        { handle: `${PREFIX}/EXTRA`, kind: 'only-there' },
        { handle: `${PREFIX}/P-501`, kind: 'only-here' },
        { handle: `${PREFIX}/P-77`, kind: 'values-differ' },
      ],
    );
    assert.equal(diff.total, 3);
    a.close();
    b.close();
  });

  test('a homed prefix on one side only makes the homed range differ; a case change of the handle is a difference', () => {
    const a = new RegistryDigest(8);
    const b = new RegistryDigest(8);
    const blob = Buffer.from([1, 0, 0, 0, 0]);
    a.addRow('88.118.8/X', '88.118.8/x', blob);
    b.addRow('88.118.8/X', '88.118.8/X', blob);
    a.addHomed('88.118.8');
    b.addHomed('88.118.8');
    b.addHomed('88.118.9');
    const d = differingRanges(a, b);
    assert.deepEqual(d.map((r) => [r.prefix, r.bucket, r.here, r.there]), [
      ['', -1, 1, 2],
      ['88.118.8', rangeOfKey('88.118.8/X', 8).bucket, 1, 1],
    ]);
  });

  test('bucket counts out of range are refused', () => {
    assert.throws(() => new RegistryDigest(0), RangeError);
    assert.throws(() => differingRanges(new RegistryDigest(4), new RegistryDigest(8)), RangeError);
  });
});
