// The SQLite registry: schema versioning, writes that commit or fail whole, lookups by folded key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { Registry, RegistryError } from '../src/store/registry.js';
import { SCHEMA_VERSION } from '../src/store/schema.js';
import { makeValue } from '../src/model/value.js';
import { DamagedValuesError, VALUE_BLOB_FORMAT, decodeValues, encodeValues } from '../src/store/value-blob.js';
import { Writer } from '../src/protocol/writer.js';
import { writeValueList } from '../src/protocol/values.js';
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

// The layout of schema version 2 (a row per value), written by hand as a registry of that version left it,
// to check that opening it with this idres carries every handle and value over.
const V2_SCHEMA = `
  CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE handles (handle_key TEXT PRIMARY KEY, handle TEXT NOT NULL, prefix TEXT NOT NULL,
    created INTEGER NOT NULL, updated INTEGER NOT NULL) WITHOUT ROWID;
  CREATE INDEX handles_by_prefix ON handles (prefix, handle_key);
  CREATE TABLE handle_values (handle_key TEXT NOT NULL, idx INTEGER NOT NULL, type TEXT NOT NULL, data BLOB NOT NULL,
    ttl_type INTEGER NOT NULL, ttl INTEGER NOT NULL, timestamp INTEGER NOT NULL, permissions INTEGER NOT NULL, refs TEXT,
    PRIMARY KEY (handle_key, idx)) WITHOUT ROWID;
  CREATE TABLE homed_prefixes (prefix TEXT PRIMARY KEY, display TEXT NOT NULL, homed_at INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE txn_log (txn_id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, op TEXT NOT NULL, handle TEXT,
    handle_key TEXT, detail TEXT);
  PRAGMA user_version = 2;
`;

test('a registry of schema 2 (a row per value) is carried over whole to one row per handle', () => {
  withRegistry((file) => {
    const raw = new Database(file);
    raw.exec(V2_SCHEMA);
    raw.prepare("INSERT INTO settings VALUES ('fold_suffix', '1')").run();
    raw.prepare("INSERT INTO homed_prefixes VALUES ('88.118.8', '88.118.8', 1)").run();
    const h = raw.prepare('INSERT INTO handles VALUES (?, ?, ?, ?, ?)');
    const v = raw.prepare('INSERT INTO handle_values VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    // More handles than one page of the migration (2000), so that paging is exercised.
    raw.exec('BEGIN');
    for (let i = 0; i < 2500; i++) {
      const k = `88.118.8/P${String(i).padStart(5, '0')}`;
      h.run(k, k.toLowerCase(), '88.118.8', 100 + i, 200 + i);
      v.run(k, 1, 'URL', Buffer.from(`https://e/${i}`), 0, 3600, 300 + i, 14, null);
      v.run(k, 7, 'BIN', Buffer.from([0, 255, i & 255]), 1, 1700000000, 5, 3, JSON.stringify([['88.1/r', 2], ['0.NA/88', 300]]));
    }
    h.run('88.118.8/EMPTY', '88.118.8/Empty', '88.118.8', 1, 2);
    raw.exec('COMMIT');
    raw.prepare("INSERT INTO txn_log (at, op, handle, handle_key, detail) VALUES (1, 'create', 'x', 'X', NULL)").run();
    raw.close();

    const r = new Registry(file);
    assert.equal(r.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.equal(r.count(), 2501);
    assert.equal(r.lastTxnId(), 1, 'the transaction log is kept');
    assert.deepEqual(r.homedPrefixes(), ['88.118.8']);
    assert.deepEqual(r.get('88.118.8/Empty'), { handle: '88.118.8/Empty', values: [] });
    for (const i of [0, 1999, 2000, 2499]) {
      const got = r.get(`88.118.8/p${String(i).padStart(5, '0')}`)!;
      assert.equal(got.handle, `88.118.8/p${String(i).padStart(5, '0')}`);
      assert.deepEqual(got.values, [
        { index: 1, type: 'URL', data: Buffer.from(`https://e/${i}`), ttlType: 0, ttl: 3600, timestamp: 300 + i, permissions: 14, references: [] },
        { index: 7, type: 'BIN', data: Buffer.from([0, 255, i & 255]), ttlType: 1, ttl: 1700000000, timestamp: 5, permissions: 3,
          references: [{ handle: '88.1/r', index: 2 }, { handle: '0.NA/88', index: 300 }] },
      ]);
    }
    assert.equal([...r.eachUnder('88.118.8', 700)].length, 2501);
    const tables = r.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>;
    assert.ok(!tables.some((t) => t.name === 'handle_values'), 'the per-value table is gone');
    r.close();
  });
});

test('one row per handle: the count is kept by every write, listing reads exactly its prefix', () => {
  withRegistry((file) => {
    const r = new Registry(file);
    assert.equal(r.count(), 0);
    // Neighbours of 88.118.8 in key order on both sides: 88.118.8.1/… sorts before 88.118.8/…, 88.118.80/… after.
    for (const h of ['88.118.8.1/A', '88.118.8/A', '88.118.8/B/C', '88.118.80/A', '88.118.8/Z']) r.create(h, [makeValue(1, 'URL', h)]);
    assert.equal(r.count(), 5);
    assert.deepEqual(r.list('88.118.8').map((x) => x.handle), ['88.118.8/A', '88.118.8/B/C', '88.118.8/Z']);
    assert.equal(r.countUnder('88.118.8'), 3);
    assert.equal(r.countUnder('88.118.8.1'), 1);
    r.create('88.118.8/A', [makeValue(2, 'URL', 'again')], { overwrite: true });
    assert.equal(r.count(), 5, 'an overwrite is not a new handle');
    r.delete('88.118.8/Z');
    assert.equal(r.count(), 4);
    r.upsertValues('88.118.8/A', [makeValue(1, 'EMAIL', 'a@b')], 5000);
    assert.deepEqual(r.getValues('88.118.8/A')!.map((v) => [v.index, v.type, v.timestamp > 0]), [[1, 'EMAIL', true], [2, 'URL', true]]);
    r.removeValues('88.118.8/A', [2]);
    assert.deepEqual(r.getValues('88.118.8/A')!.map((v) => v.index), [1]);
    assert.throws(() => r.removeValues('88.118.8/A', [1, 9]), /no value at index 9/);
    assert.deepEqual(r.getValues('88.118.8/A')!.map((v) => v.index), [1], 'a refused removal removes nothing');
    assert.throws(() => r.upsertValues('88.118.8/NONE', [makeValue(1, 'URL', 'x')]), /does not exist/);
    assert.equal(r.count(), 4);
    r.close();
    // The count survives a reopen (it is stored, not counted at start).
    const again = new Registry(file);
    assert.equal(again.count(), 4);
    again.close();
  });
});

test('a damaged stored row is reported as damage, not as a client error, and nothing else is affected', () => {
  withRegistry((file) => {
    const r = new Registry(file);
    r.create('88.118.8/GOOD', [makeValue(1, 'URL', 'good')]);
    r.create('88.118.8/BAD', [makeValue(1, 'URL', 'bad')]);
    r.db.prepare("UPDATE handles SET vals = substr(vals, 1, 9) WHERE handle_key = '88.118.8/BAD'").run();
    assert.throws(() => r.get('88.118.8/BAD'), (e: unknown) => e instanceof DamagedValuesError && /damaged registry row/.test(e.message));
    r.db.prepare("UPDATE handles SET vals = x'09' WHERE handle_key = '88.118.8/BAD'").run();
    assert.throws(() => r.getValues('88.118.8/BAD'), /format 9/);
    assert.equal(r.get('88.118.8/GOOD')!.values[0]!.data.toString(), 'good');
    r.close();
  });
});

test('the stored value list is the protocol encoding, sorted by index, stamped by the write', () => {
  const values = [makeValue(9, 'B', 'b', { timestamp: 1 }), makeValue(2, 'A', 'a', { timestamp: 1 })];
  const blob = encodeValues(values, 777);
  assert.equal(blob[0], VALUE_BLOB_FORMAT);
  const w = new Writer();
  writeValueList(w, [{ ...values[1]!, timestamp: 777 }, { ...values[0]!, timestamp: 777 }]);
  assert.deepEqual(blob.subarray(1), w.finish());
  assert.deepEqual(decodeValues(blob).map((v) => [v.index, v.timestamp]), [[2, 777], [9, 777]]);
  assert.deepEqual(decodeValues(encodeValues(values)).map((v) => v.timestamp), [1, 1], 'without a stamp, timestamps are kept');
  assert.throws(() => decodeValues(Buffer.concat([blob, Buffer.from([0])])), /1 bytes left over/);
});
