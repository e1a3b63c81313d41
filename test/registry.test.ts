// The SQLite registry: schema versioning, writes that commit or fail whole, lookups by folded key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { Registry, RegistryError } from '../src/store/registry.js';
import { SCHEMA_VERSION } from '../src/store/schema.js';
import { makeValue } from '../src/model/value.js';
import { tempDir } from './helpers/node.js';

function withRegistry(fn: (file: string) => void): void {
  const dir = tempDir('idres-reg-');
  try {
    fn(path.join(dir, 'r.db'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a new registry is migrated to the current schema, in WAL mode', () => {
  withRegistry((file) => {
    const r = new Registry(file);
    assert.equal(r.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.equal(r.db.pragma('journal_mode', { simple: true }), 'wal');
    r.close();
    const raw = new Database(file);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    assert.throws(() => new Registry(file), /newer than this idres understands/);
  });
});

test('create, read by folded key, overwrite whole, upsert, delete, list by prefix', () => {
  withRegistry((file) => {
    const r = new Registry(file);
    r.create('88.118.8/Abc', [makeValue(1, 'URL', 'https://a'), makeValue(2, 'EMAIL', 'a@b', { ttl: 60 })], { now: 1000 });
    const h = r.get('88.118.8/ABC')!;
    assert.equal(h.handle, '88.118.8/Abc');
    assert.deepEqual(h.values.map((v) => [v.index, v.type, v.data.toString(), v.ttl, v.timestamp]), [
      [1, 'URL', 'https://a', 86400, 1000],
      [2, 'EMAIL', 'a@b', 60, 1000],
    ]);
    assert.throws(() => r.create('88.118.8/abc', [makeValue(1, 'URL', 'x')]), (e: unknown) => e instanceof RegistryError && e.code === 'exists');
    r.create('88.118.8/abc', [makeValue(5, 'URL', 'https://b', { references: [{ handle: '88.1/x', index: 3 }] })], { overwrite: true, now: 2000 });
    assert.deepEqual(r.get('88.118.8/abc')!.values.map((v) => [v.index, v.data.toString(), v.references]), [[5, 'https://b', [{ handle: '88.1/x', index: 3 }]]]);
    r.upsertValues('88.118.8/abc', [makeValue(6, 'X', 'y')]);
    assert.deepEqual(r.getValues('88.118.8/abc')!.map((v) => v.index), [5, 6]);
    // A write that fails leaves nothing half done.
    assert.throws(() => r.create('88.118.8/dup', [makeValue(1, 'A', 'a'), makeValue(1, 'B', 'b')]), /index conflict/);
    assert.equal(r.exists('88.118.8/dup'), false);
    assert.throws(() => r.create('88.118.8/zero', [makeValue(0, 'A', 'a')]), /positive/);
    for (let i = 0; i < 5; i++) r.create(`88.118.8/L${i}`, [makeValue(1, 'URL', 'u')]);
    r.create('88.118.9/OTHER', [makeValue(1, 'URL', 'u')]);
    const page1 = r.list('88.118.8', { limit: 3 });
    const page2 = r.list('88.118.8', { after: page1[2]!.key, limit: 10 });
    assert.equal(page1.length + page2.length, 6);
    assert.ok(![...page1, ...page2].some((x) => x.handle.startsWith('88.118.9')));
    r.delete('88.118.8/ABC');
    assert.equal(r.get('88.118.8/abc'), undefined);
    assert.throws(() => r.delete('88.118.8/abc'), /does not exist/);
    r.close();
  });
});

test('the case-folding rule is fixed once the registry exists', () => {
  withRegistry((file) => {
    new Registry(file, { foldSuffix: false }).close();
    assert.throws(() => new Registry(file, { foldSuffix: true }), /case folding off/);
    const r = new Registry(file);
    assert.equal(r.foldSuffix, false);
    r.close();
  });
});

test('homed prefixes compare without regard to case', () => {
  withRegistry((file) => {
    const r = new Registry(file);
    r.home('88.ABC.8');
    r.home('88.abc.8');
    assert.deepEqual(r.homedPrefixes(), ['88.ABC.8']);
    assert.equal(r.unhome('88.Abc.8'), true);
    assert.deepEqual(r.homedPrefixes(), []);
    r.close();
  });
});
