import type Database from 'better-sqlite3';

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
