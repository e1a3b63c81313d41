import type Database from 'better-sqlite3';
import type { HandleValue } from '../model/value.js';
import type { Registry } from './registry.js';

// The registry's write path for bulk imports: one explicit transaction per batch (it spans the reads of the
// file between rows, which db.transaction() cannot), a lean insert for identifiers that do not exist yet,
// log entries for the batch, and the import's progress record written in the same transaction as the data.

/** A handle written by a batch, for the transaction log. */
export interface WrittenHandle {
  op: 'create' | 'overwrite';
  handle: string;
  key: string;
  indexes: number[];
}

/**
 * Below this many handles written in a batch, each gets its own log entry (a running node then drops only
 * their cached answers); above it, one bulk entry (the node drops its whole cache, cheaper than thousands
 * of invalidations and what it does anyway past 1000 entries).
 */
export const PER_HANDLE_LOG_LIMIT = 64;

const PROGRESS_PREFIX = 'import.progress:';

export class BulkWriter {
  private readonly db: Database.Database;
  private readonly insertHandle: Database.Statement;
  /** Handles inserted in the open transaction, added to the registry's count when it commits. */
  private inserted = 0;
  /**
   * The keys the open transaction wrote, for its bulk log entry: a mirror copies exactly these rows, not
   * the whole registry, and not a log entry per row.
   */
  private keys: string[] = [];
  private readonly getSetting: Database.Statement<[string], { value: string }>;
  private readonly putSetting: Database.Statement;

  constructor(private readonly registry: Registry) {
    this.db = registry.db;
    // ON CONFLICT DO NOTHING: one statement both tests for existence and inserts, so a new identifier (the
    // common case of an import) costs no lookup; changes === 0 says it already exists.
    this.insertHandle = this.db.prepare(
      'INSERT INTO handles (handle_key, handle, created, updated, vals) VALUES (?, ?, ?, ?, ?) ON CONFLICT (handle_key) DO NOTHING',
    );
    this.getSetting = this.db.prepare('SELECT value FROM settings WHERE name = ?');
    this.putSetting = this.db.prepare(
      'INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
    );
  }

  /**
   * Settings of this connection that make large batches cheaper without weakening what a commit promises:
   * a bigger page cache (the B-trees of a large import do not fit the default 16 MB), and checkpoints of the
   * WAL less often (each one rewrites the pages the last batches touched).
   */
  tuneForBulk(): void {
    this.db.pragma('cache_size = -262144'); // 256 MiB
    this.db.pragma('wal_autocheckpoint = 16384'); // pages: 64 MiB of WAL between checkpoints
    this.db.pragma('mmap_size = 1073741824'); // reads of stored records (re-runs) without a system call per page
  }

  begin(): void {
    this.db.exec('BEGIN IMMEDIATE');
    this.inserted = 0;
    this.keys = [];
  }

  commit(): void {
    this.registry.countAdded(this.inserted);
    this.db.exec('COMMIT');
    this.inserted = 0;
    this.keys = [];
  }

  rollback(): void {
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
    this.inserted = 0;
    this.keys = [];
  }

  /**
   * Store a new identifier: one row, its values already encoded (value-blob.ts, stamped with `now`); false
   * (nothing written) when it already exists.
   */
  insertNew(key: string, handle: string, blob: Buffer, now: number): boolean {
    if (this.insertHandle.run(key, handle, now, now, blob).changes === 0) return false;
    this.inserted++;
    this.keys.push(key);
    return true;
  }

  /** The stored values of a handle known to exist, for comparing with a row (describeDifference leaves timestamps out). */
  storedValues(key: string): HandleValue[] {
    return this.registry.valuesAt(key) ?? [];
  }

  /** Replace an existing identifier's values whole (the registry's overwrite, logged by the batch instead). */
  replace(handle: string, values: readonly HandleValue[], now: number): void {
    this.registry.createInTxn(handle, values, true, now, { quiet: true });
    this.keys.push(this.registry.key(handle));
  }

  /** Log what a batch wrote: one entry per handle when few, one bulk entry when many, none when nothing. */
  logBatch(written: readonly WrittenHandle[], total: number, now: number): void {
    if (total === 0) return;
    if (total <= PER_HANDLE_LOG_LIMIT && written.length === total) {
      for (const w of written) this.registry.logChange(now, w.op, w.handle, w.key, JSON.stringify({ indexes: w.indexes }));
    } else {
      this.registry.logBulk(total, now, this.keys);
    }
  }

  loadProgress(id: string): string | undefined {
    return this.getSetting.get(PROGRESS_PREFIX + id)?.value;
  }

  saveProgress(id: string, json: string): void {
    this.putSetting.run(PROGRESS_PREFIX + id, json);
  }
}

/** Every stored import progress record (JSON), for operators' metrics; reads the settings table only. */
export function importProgressRecords(registry: Registry): string[] {
  return registry.db
    .prepare<[string, string], { value: string }>('SELECT value FROM settings WHERE name >= ? AND name < ? ORDER BY name')
    .all(PROGRESS_PREFIX, PROGRESS_PREFIX.slice(0, -1) + ';')
    .map((r) => r.value);
}
