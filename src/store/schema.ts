import type Database from 'better-sqlite3';
import type { HandleValue } from '../model/value.js';
import { encodeValues } from './value-blob.js';

// The registry's schema, as numbered migrations. PRAGMA user_version records how far a database has come;
// opening a database applies what is missing, each migration in its own transaction.

const migrations: ReadonlyArray<(db: Database.Database) => void> = [
  // 1: handles, their values, the prefixes the node homes, and node settings that must not change under data.
  (db) => {
    db.exec(`
      CREATE TABLE settings (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE handles (
        handle_key TEXT PRIMARY KEY,   -- the lookup key: prefix upper-cased, suffix folded if the node folds
        handle     TEXT NOT NULL,      -- as registered
        prefix     TEXT NOT NULL,      -- normalised prefix, for listing
        created    INTEGER NOT NULL,
        updated    INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX handles_by_prefix ON handles (prefix, handle_key);

      CREATE TABLE handle_values (
        handle_key  TEXT NOT NULL,
        idx         INTEGER NOT NULL,
        type        TEXT NOT NULL,
        data        BLOB NOT NULL,
        ttl_type    INTEGER NOT NULL,
        ttl         INTEGER NOT NULL,
        timestamp   INTEGER NOT NULL,
        permissions INTEGER NOT NULL,
        refs        TEXT,              -- JSON [[handle, index], …], NULL when there are none (almost always)
        PRIMARY KEY (handle_key, idx)
      ) WITHOUT ROWID;

      CREATE TABLE homed_prefixes (
        prefix   TEXT PRIMARY KEY,     -- normalised
        display  TEXT NOT NULL,        -- as configured
        homed_at INTEGER NOT NULL
      ) WITHOUT ROWID;
    `);
  },
  // 2: the transaction log. Every committed change gets the next id, in the same transaction as the change:
  // running nodes read it to drop cached answers that another process's write made stale, and mirrors and
  // audits can follow it.
  (db) => {
    db.exec(`
      CREATE TABLE txn_log (
        txn_id     INTEGER PRIMARY KEY AUTOINCREMENT,
        at         INTEGER NOT NULL,     -- Unix seconds
        op         TEXT NOT NULL,        -- create, overwrite, add, delete, home, unhome, bulk
        handle     TEXT,                 -- as given; NULL for a bulk entry
        handle_key TEXT,                 -- lookup key; NULL for a bulk entry
        detail     TEXT                  -- JSON: what changed (indexes, counts)
      );
    `);
  },
  // 3: one row per handle, its values in one blob (value-blob.ts), instead of a row per value: a lookup is
  // one B-tree search and an import one insert per identifier. Listing by prefix reads a range of the
  // primary key (every key starts with the upper-cased prefix and '/'), so the prefix column and its index
  // go. The number of handles is kept in `counters`, updated in each writing transaction, so that counting
  // a registry of millions is not a scan of it.
  (db) => {
    db.exec(`
      CREATE TABLE handles_v3 (
        handle_key TEXT PRIMARY KEY,   -- the lookup key: prefix upper-cased, suffix folded if the node folds
        handle     TEXT NOT NULL,      -- as registered
        created    INTEGER NOT NULL,
        updated    INTEGER NOT NULL,
        vals       BLOB NOT NULL       -- the value list (value-blob.ts)
      ) WITHOUT ROWID;

      CREATE TABLE counters (
        name TEXT PRIMARY KEY,
        n    INTEGER NOT NULL
      ) WITHOUT ROWID;
    `);
    const insert = db.prepare('INSERT INTO handles_v3 (handle_key, handle, created, updated, vals) VALUES (?, ?, ?, ?, ?)');
    const page = db
      .prepare('SELECT handle_key, handle, created, updated FROM handles WHERE handle_key > ? ORDER BY handle_key LIMIT 2000')
      .raw(true);
    const valuesBetween = db
      .prepare(
        `SELECT handle_key, idx, type, data, ttl_type, ttl, timestamp, permissions, refs FROM handle_values
          WHERE handle_key >= ? AND handle_key <= ? ORDER BY handle_key, idx`,
      )
      .raw(true);
    // A page of handles at a time, and the values of that key range with them: memory stays one page's
    // worth however large the registry (better-sqlite3 cannot write while a query is being iterated).
    let after = '';
    let count = 0;
    for (;;) {
      const handles = page.all(after) as Array<[string, string, number, number]>;
      if (handles.length === 0) break;
      const byKey = new Map<string, HandleValue[]>(handles.map((h) => [h[0], []]));
      for (const v of valuesBetween.all(handles[0]![0], handles[handles.length - 1]![0]) as unknown[][]) {
        const refs = v[8] as string | null;
        byKey.get(v[0] as string)?.push({
          index: v[1] as number,
          type: v[2] as string,
          data: v[3] as Buffer,
          ttlType: v[4] as number,
          ttl: v[5] as number,
          timestamp: v[6] as number,
          permissions: v[7] as number,
          references: refs ? (JSON.parse(refs) as Array<[string, number]>).map(([handle, index]) => ({ handle, index })) : [],
        });
      }
      for (const [key, handle, created, updated] of handles) insert.run(key, handle, created, updated, encodeValues(byKey.get(key)!));
      count += handles.length;
      after = handles[handles.length - 1]![0];
    }
    db.exec(`
      DROP TABLE handle_values;
      DROP TABLE handles;
      ALTER TABLE handles_v3 RENAME TO handles;
    `);
    db.prepare("INSERT INTO counters (name, n) VALUES ('handles', ?)").run(count);
  },
  // 4: the audit log (src/store/audit-store.ts, docs/operations.md): one row per administrative change or
  // refusal — who, from where, what, the result — written in the same transaction as the change it records.
  (db) => {
    db.exec(`
      CREATE TABLE audit_log (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        at            INTEGER NOT NULL,      -- Unix milliseconds
        identity      TEXT NOT NULL COLLATE NOCASE, -- INDEX:HANDLE; 'local' (the CLI on the folder); 'anonymous'
        authenticated INTEGER NOT NULL,      -- 1: proven (or local); 0: only claimed, or none
        transport     TEXT NOT NULL,         -- wire, http, cli, import
        address       TEXT,                  -- the client's address (wire, http); NULL for cli and import
        op            TEXT NOT NULL,         -- create, add, modify, remove, delete, grant, revoke, delegate, home, unhome, import, suppressed
        handle        TEXT COLLATE NOCASE,   -- as given; NULL for an import batch
        detail        TEXT NOT NULL,         -- JSON: {added, changed, removed: [[index, type], …]}, and what the operation adds
        response_code INTEGER NOT NULL,      -- the Handle protocol's: 1 for success
        message       TEXT NOT NULL          -- empty on success
      );
      CREATE INDEX audit_by_time ON audit_log (at);
      CREATE INDEX audit_by_handle ON audit_log (handle, at);
      CREATE INDEX audit_by_identity ON audit_log (identity, at);
    `);
  },
  // 5: when (Unix ms) each log entry was written. A mirror measures its delay from a transaction's date at
  // the primary to its own commit (docs/replication.md); whole seconds would blur a lag of milliseconds.
  // NULL in entries written before.
  (db) => {
    db.exec('ALTER TABLE txn_log ADD COLUMN at_ms INTEGER');
  },
];

export const SCHEMA_VERSION = migrations.length;

export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new Error(
      `the registry's schema is version ${current}, newer than this idres understands (${SCHEMA_VERSION}); upgrade idres`,
    );
  }
  for (let v = current; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      migrations[v]!(db);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
