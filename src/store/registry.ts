import Database from 'better-sqlite3';
import { handleKey, normalisePrefix } from '../model/handle.js';
import type { HandleValue } from '../model/value.js';
import { migrate } from './schema.js';
import { decodeValues, encodeValues } from './value-blob.js';
import { PointReader, type PointReaderOptions } from './point-reader.js';

export interface StoredHandle {
  /** The handle as it was registered. */
  handle: string;
  values: HandleValue[];
}

export interface RegistryOptions {
  /** Fold the suffix's case in lookups (the reference's default). Fixed when the registry is created. */
  foldSuffix?: boolean;
  readonly?: boolean;
  /**
   * SQLite's synchronous setting for this connection's commits (WAL): "full" (the default) syncs the WAL at
   * every commit, so a commit that returned survives power loss; "normal" syncs only at checkpoints, so a
   * commit survives a crash of the process but the last ones may be lost with the power; "extra" as full.
   */
  synchronous?: 'normal' | 'full' | 'extra';
  /** The clock (ms) that dates log entries to the millisecond (the node's; Date.now without one). */
  clock?: () => number;
  /** SQLite's page cache for this connection, in MiB (default DEFAULT_CACHE_MIB). */
  cacheSizeMiB?: number;
  /** How much of the file SQLite maps into memory, in MiB (default DEFAULT_MMAP_MIB; 0: read with system calls). */
  mmapSizeMiB?: number;
}

/** The page cache's default: 64 MiB of hot B-tree pages beside the operating system's cache of the file. */
export const DEFAULT_CACHE_MIB = 64;
/** SQLite caps the mapping at 0x7fff0000 bytes unless built otherwise: just under 2 GiB. */
export const DEFAULT_MMAP_MIB = 2047;

export class RegistryError extends Error {
  constructor(
    message: string,
    readonly code: 'exists' | 'not-found' | 'invalid' | 'config',
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

export interface ChangeRow {
  txn_id: number;
  op: string;
  handle_key: string | null;
}

const SYNCHRONOUS_PRAGMA = { normal: 'NORMAL', full: 'FULL', extra: 'EXTRA' } as const;


/** Every key of a prefix's handles lies in [PREFIX/, PREFIX0): '0' is the character after '/'. */
function prefixRange(prefix: string): [string, string] {
  const p = normalisePrefix(prefix);
  return [p + '/', p + '0'];
}

/**
 * The SQLite registry: handles and their values, the prefixes this node homes. Every statement is prepared
 * once; every write is one transaction, committed (WAL) before it returns; how durable a commit is, is the
 * `synchronous` option's (FULL by default: it survives power loss).
 *
 * Every write transaction begins IMMEDIATE (takes the write lock first). Another process may write the same
 * file (an `idres import` or the CLI beside a running node); a transaction that began by reading and then
 * wants to write after that process committed cannot be given the lock at all in WAL mode — SQLite answers
 * SQLITE_BUSY at once, without waiting out busy_timeout — and the write would fail. Taking the lock first
 * makes it wait its turn instead.
 */
export class Registry {
  readonly db: Database.Database;
  readonly foldSuffix: boolean;
  private readonly s: ReturnType<Registry['prepare']>;
  private readonly clock: () => number;
  /** blobAt's connection (opened at the first read); null where it is not used. */
  private points: PointReader | null | undefined;
  private readonly pointOptions: PointReaderOptions;

  constructor(file: string, opts: RegistryOptions = {}) {
    this.db = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
    if (!opts.readonly) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${SYNCHRONOUS_PRAGMA[opts.synchronous ?? 'full']}`);
    }
    this.db.pragma('busy_timeout = 5000');
    // Lookups are random reads over a file far larger than SQLite's default 2 MB page cache: map the file
    // (reads without a system call each) and keep a larger cache of hot pages. Both are per connection and
    // configurable (store.cacheSizeMiB, store.mmapSizeMiB); a negative cache_size is in KiB.
    const mmapBytes = Math.floor(opts.mmapSizeMiB ?? DEFAULT_MMAP_MIB) * 1024 * 1024;
    const cacheKiB = Math.floor(opts.cacheSizeMiB ?? DEFAULT_CACHE_MIB) * 1024;
    this.db.pragma(`mmap_size = ${mmapBytes}`);
    this.db.pragma(`cache_size = -${cacheKiB}`);
    this.pointOptions = { mmapBytes, cacheKiB };
    // A held read transaction would block writers in rollback-journal mode, and a second connection to an
    // in-memory database is another database: the point reader is for files in WAL mode only.
    const wal = this.db.pragma('journal_mode', { simple: true }) === 'wal';
    if (!wal || this.db.memory) this.points = null;
    if (!opts.readonly) migrate(this.db);
    const stored = this.getSetting('fold_suffix');
    if (stored === undefined) {
      this.foldSuffix = opts.foldSuffix ?? true;
      if (!opts.readonly) this.setSetting('fold_suffix', this.foldSuffix ? '1' : '0');
    } else {
      this.foldSuffix = stored === '1';
      if (opts.foldSuffix !== undefined && opts.foldSuffix !== this.foldSuffix) {
        throw new RegistryError(
          `this registry was created with suffix case folding ${this.foldSuffix ? 'on' : 'off'}; ` +
            `changing it would make stored identifiers unreachable`,
          'config',
        );
      }
    }
    this.s = this.prepare();
    this.clock = opts.clock ?? Date.now;
  }

  /**
   * One log entry, dated `at` (Unix seconds, as the caller's clock gave it) and to the millisecond by the
   * clock when that still falls in `at` (a write that took a second boundary gets the last ms of `at`); an
   * entry dated otherwise (a mirror logging its primary's date) keeps the whole second.
   */
  private logEntry(at: number, op: string, handle: string | null, key: string | null, detail: string | null): void {
    this.endReads();
    const ms = this.clock();
    const inSecond = ms >= at * 1000 && ms < at * 1000 + 2000 ? Math.min(ms, at * 1000 + 999) : at * 1000;
    this.s.log.run(at, op, handle, key, detail, inSecond);
  }

  private prepare() {
    const db = this.db;
    return {
      row: db.prepare<[string], [string, Buffer]>('SELECT handle, vals FROM handles WHERE handle_key = ?').raw(true),
      // The same read with the column plucked: the blob itself comes back, no row array made around it.
      blob: db.prepare<[string], Buffer>('SELECT vals FROM handles WHERE handle_key = ?').pluck(true),
      exists: db.prepare<[string], [number]>('SELECT 1 FROM handles WHERE handle_key = ?').raw(true),
      insertHandle: db.prepare('INSERT INTO handles (handle_key, handle, created, updated, vals) VALUES (?, ?, ?, ?, ?)'),
      updateValues: db.prepare('UPDATE handles SET vals = ?, updated = ? WHERE handle_key = ?'),
      replaceRow: db.prepare('UPDATE handles SET handle = ?, vals = ?, updated = ? WHERE handle_key = ?'),
      deleteHandle: db.prepare('DELETE FROM handles WHERE handle_key = ?'),
      list: db.prepare<[string, string, string, number], { handle: string; handle_key: string }>(
        'SELECT handle, handle_key FROM handles WHERE handle_key > ? AND handle_key >= ? AND handle_key < ? ORDER BY handle_key LIMIT ?',
      ),
      count: db.prepare<[], { n: number }>("SELECT n FROM counters WHERE name = 'handles'"),
      addCount: db.prepare("UPDATE counters SET n = n + ? WHERE name = 'handles'"),
      countKeysBetween: db.prepare<[string, string], { n: number }>('SELECT count(*) AS n FROM handles WHERE handle_key >= ? AND handle_key < ?'),
      log: db.prepare('INSERT INTO txn_log (at, op, handle, handle_key, detail, at_ms) VALUES (?, ?, ?, ?, ?, ?)'),
      changesSince: db.prepare<[number, number], ChangeRow>(
        'SELECT txn_id, op, handle_key FROM txn_log WHERE txn_id > ? ORDER BY txn_id LIMIT ?',
      ),
      lastTxn: db.prepare<[], { id: number | null }>('SELECT max(txn_id) AS id FROM txn_log'),
      firstTxn: db.prepare<[], { id: number | null }>('SELECT min(txn_id) AS id FROM txn_log'),
      pruneLog: db.prepare('DELETE FROM txn_log WHERE (txn_id < ? OR at < ?) AND txn_id < ?'),
      homed: db.prepare<[], { prefix: string; display: string }>('SELECT prefix, display FROM homed_prefixes ORDER BY prefix'),
      home: db.prepare('INSERT INTO homed_prefixes (prefix, display, homed_at) VALUES (?, ?, ?) ON CONFLICT (prefix) DO NOTHING'),
      unhome: db.prepare('DELETE FROM homed_prefixes WHERE prefix = ?'),
    };
  }

  close(): void {
    this.points?.close();
    if (this.db.open) this.db.close();
  }

  /**
   * End the point reader's snapshot now rather than at the end of the turn: the next blobAt sees every
   * commit made before this call. The registry calls it itself after its writes and when the transaction
   * log is read; others need it only where they wrote and read back in the same turn without either.
   */
  endReads(): void {
    this.points?.release();
  }

  /** The point reader's counts (point-reader.ts), or undefined where blobAt reads on the main connection. */
  get pointReadStats(): { snapshots: number; reads: number } | undefined {
    return this.points ? { snapshots: this.points.snapshots, reads: this.points.reads } : undefined;
  }

  key(handle: string): string {
    return handleKey(handle, this.foldSuffix);
  }

  /** A handle's values, ordered by index, or undefined when the handle does not exist. */
  get(handle: string): StoredHandle | undefined {
    const row = this.s.row.get(this.key(handle));
    return row ? { handle: row[0], values: decodeValues(row[1]) } : undefined;
  }

  /** A stored row by lookup key, its values still one blob (value-blob.ts): for copying it elsewhere as it is. */
  rowAt(key: string): { handle: string; blob: Buffer } | undefined {
    const row = this.s.row.get(key);
    return row ? { handle: row[0], blob: row[1] } : undefined;
  }

  /**
   * Set a row to a handle and its values as one blob, inside the caller's transaction and without a log
   * entry (the caller logs what it wrote): a mirror applying its primary's rows. Says what it did.
   */
  putRowInTxn(key: string, handle: string, blob: Buffer, at: number): 'create' | 'overwrite' {
    this.endReads();
    if (this.s.exists.get(key)) {
      this.s.replaceRow.run(handle, blob, at, key);
      return 'overwrite';
    }
    this.s.insertHandle.run(key, handle, at, at, blob);
    this.s.addCount.run(1);
    return 'create';
  }

  /** Remove a row by key inside the caller's transaction, without a log entry; false when there was none. */
  removeRowInTxn(key: string): boolean {
    this.endReads();
    if (this.s.deleteHandle.run(key).changes === 0) return false;
    this.s.addCount.run(-1);
    return true;
  }

  /** A handle's values, ordered by index, or undefined when the handle does not exist. */
  getValues(handle: string): HandleValue[] | undefined {
    return this.valuesAt(this.key(handle));
  }

  /** getValues() by lookup key (the bulk import has the keys already). */
  valuesAt(key: string): HandleValue[] | undefined {
    const blob = this.s.blob.get(key);
    return blob ? decodeValues(blob) : undefined;
  }

  /**
   * A handle's stored blob by lookup key (value-blob.ts: the format byte, then the value list as the
   * protocol encodes it), undefined when there is none: the miss path copies it into answers as it is.
   *
   * Read on the point reader (point-reader.ts): one read transaction shared by the reads of a turn of the
   * event loop. What this process writes is seen by the next read all the same: every write of handles
   * passes through a method here that ends the shared snapshot (the *InTxn ones, countAdded, the log
   * entries, the write transactions), and a read while this connection is inside a transaction is made on
   * this connection. A write of handles on `db` that passes through none of them must call endReads(), and
   * so must a checkpoint that waits for readers (FULL, RESTART, TRUNCATE) run on `db` by this process: the
   * snapshot it would wait for is held by this thread.
   */
  blobAt(key: string): Buffer | undefined {
    // Inside a transaction of this connection (a write under way) the read is its: it sees the write.
    if (this.points === null || this.db.inTransaction) return this.s.blob.get(key);
    this.points ??= new PointReader(this.db.name, this.pointOptions);
    return this.points.blobAt(key);
  }

  exists(handle: string): boolean {
    return this.s.exists.get(this.key(handle)) !== undefined;
  }

  /**
   * Create a handle with its values. With overwrite, an existing handle's values are replaced whole.
   * Timestamps are set to `now` (seconds), as the reference does for every value it stores.
   */
  create(handle: string, values: readonly HandleValue[], opts: { overwrite?: boolean; now?: number } = {}): void {
    const now = opts.now ?? Math.floor(Date.now() / 1000);
    this.write(() => this.createInTxn(handle, values, opts.overwrite ?? false, now));
  }

  /** The body of create(), for callers that batch many in one transaction (bulk import). */
  createInTxn(handle: string, values: readonly HandleValue[], overwrite: boolean, now: number, opts: { quiet?: boolean } = {}): void {
    this.endReads();
    const k = this.key(handle);
    checkIndexes(values);
    const blob = encodeValues(values, now);
    let op = 'create';
    if (this.s.exists.get(k)) {
      if (!overwrite) throw new RegistryError(`${handle} already exists`, 'exists');
      this.s.updateValues.run(blob, now, k);
      op = 'overwrite';
    } else {
      this.s.insertHandle.run(k, handle, now, now, blob);
      this.s.addCount.run(1);
    }
    if (!opts.quiet) this.logEntry(now, op, handle, k, JSON.stringify({ indexes: values.map((v) => v.index) }));
  }

  /** Count handles written outside create() in the current transaction (bulk import's own insert). */
  countAdded(n: number): void {
    this.endReads();
    if (n !== 0) this.s.addCount.run(n);
  }

  /**
   * One log entry for many writes made quietly in one transaction (bulk import): readers drop all they
   * cached; a mirror copies the rows of `keys` (txn-feed.ts). Without keys (a mirror's re-copy) the rows
   * cannot be told apart, and whoever follows this log from before it must copy everything.
   */
  logBulk(count: number, now: number, keys?: readonly string[]): void {
    this.logEntry(now, 'bulk', null, null, JSON.stringify(keys ? { count, keys } : { count }));
  }

  /** The keys a bulk entry's detail names (logBulk); an entry without them (old, or a re-copy) names none. */
  static bulkKeysOf(detail: string | null): string[] {
    if (!detail) return [];
    try {
      const d = JSON.parse(detail) as { keys?: unknown };
      return Array.isArray(d.keys) ? d.keys.filter((k): k is string => typeof k === 'string') : [];
    } catch {
      return [];
    }
  }

  /** The oldest transaction id the log still holds (0 when it is empty). */
  firstTxnId(): number {
    return this.s.firstTxn.get()?.id ?? 0;
  }

  /**
   * Drop log entries: those older than `olderThan` (Unix seconds), and beyond the newest `keep`. The newest
   * entry always stays, so the log's last id (the next id's base) survives. Returns how many went.
   */
  pruneTxnLog(keep: number, olderThan: number): number {
    const last = this.lastTxnId();
    if (last === 0) return 0;
    return this.s.pruneLog.run(Math.max(last - keep, 0) + 1, olderThan, last).changes;
  }

  /** One log entry for a write made quietly in the current transaction (bulk import, a mirror's apply). */
  logChange(now: number, op: string, handle: string, key: string, detail: string | null = null): void {
    this.logEntry(now, op, handle, key, detail);
  }

  /**
   * Log entries after a transaction id, oldest first. Whoever reads the log acts on what it says (the
   * answer cache drops what a write made stale): point reads from here on see at least as much.
   */
  changesSince(txnId: number, limit = 1000): ChangeRow[] {
    this.endReads();
    return this.s.changesSince.all(txnId, limit);
  }

  lastTxnId(): number {
    this.endReads();
    return this.s.lastTxn.get()?.id ?? 0;
  }

  /** Add values to an existing handle, replacing those with the same index. */
  upsertValues(handle: string, values: readonly HandleValue[], now = Math.floor(Date.now() / 1000)): void {
    const k = this.key(handle);
    checkIndexes(values);
    this.write(() => {
      const byIndex = new Map(this.storedOrThrow(handle, k).map((v) => [v.index, v]));
      for (const v of values) byIndex.set(v.index, { ...v, timestamp: now });
      this.s.updateValues.run(encodeValues([...byIndex.values()]), now, k);
      this.logEntry(now, 'add', handle, k, JSON.stringify({ indexes: values.map((v) => v.index) }));
    });
  }

  /**
   * Remove values by index from an existing handle, in one transaction. Every index must exist, or nothing
   * is removed (the caller has checked; this is the guard against a race with another writer).
   */
  removeValues(handle: string, indexes: readonly number[], now = Math.floor(Date.now() / 1000)): void {
    const k = this.key(handle);
    this.write(() => {
      const stored = this.storedOrThrow(handle, k);
      const gone = new Set(indexes);
      for (const i of gone) {
        if (!stored.some((v) => v.index === i)) throw new RegistryError(`${handle} has no value at index ${i}`, 'not-found');
      }
      this.s.updateValues.run(encodeValues(stored.filter((v) => !gone.has(v.index))), now, k);
      this.logEntry(now, 'remove', handle, k, JSON.stringify({ indexes }));
    });
  }

  delete(handle: string): void {
    const k = this.key(handle);
    this.write(() => {
      if (this.s.deleteHandle.run(k).changes === 0) throw new RegistryError(`${handle} does not exist`, 'not-found');
      this.s.addCount.run(-1);
      this.logEntry(Math.floor(Date.now() / 1000), 'delete', handle, k, null);
    });
  }

  /**
   * One write transaction, begun IMMEDIATE (see the class comment); point reads after it see it. The point
   * reader lets its snapshot go before, too: at the commit no reader of this process holds WAL frames, so
   * the commit may start the WAL over from its beginning as it could before there was a point reader.
   */
  private write<T>(fn: () => T): T {
    this.endReads();
    try {
      return this.db.transaction(fn).immediate();
    } finally {
      this.endReads();
    }
  }

  private storedOrThrow(handle: string, k: string): HandleValue[] {
    const values = this.valuesAt(k);
    if (!values) throw new RegistryError(`${handle} does not exist`, 'not-found');
    return values;
  }

  /** Handles under a prefix, in key order, after a cursor (a key returned earlier), at most limit. */
  list(prefix: string, opts: { after?: string; limit?: number } = {}): Array<{ handle: string; key: string }> {
    const [from, to] = prefixRange(prefix);
    return this.s.list.all(opts.after ?? '', from, to, opts.limit ?? 1000).map((r) => ({ handle: r.handle, key: r.handle_key }));
  }

  /** Every handle under a prefix, in key order, read a page at a time (a cursor, not one huge query). */
  *eachUnder(prefix: string, pageSize = 10000): Generator<string> {
    let after = '';
    for (;;) {
      const page = this.list(prefix, { after, limit: pageSize });
      for (const h of page) yield h.handle;
      if (page.length < pageSize) return;
      after = page[page.length - 1]!.key;
    }
  }

  /** The number of handles, kept by every write (no scan). */
  count(): number {
    return this.s.count.get()?.n ?? 0;
  }

  /** Handles registered under one prefix (for quotas): a count over a range of keys. */
  countUnder(prefix: string): number {
    return this.s.countKeysBetween.get(...prefixRange(prefix))!.n;
  }

  /** Prefix handles of prefixes derived from `prefix` (0.NA/P.…), for quotas. */
  countDerivedPrefixes(prefix: string): number {
    const from = this.key(`0.NA/${prefix}.`);
    // '.' + 1 is '/': every key that starts with "0.NA/P." sorts below "0.NA/P/".
    return this.s.countKeysBetween.get(from, from.slice(0, -1) + '/')!.n;
  }

  homedPrefixes(): string[] {
    return this.s.homed.all().map((r) => r.display);
  }

  home(prefix: string, now = Math.floor(Date.now() / 1000)): void {
    this.write(() => {
      if (this.s.home.run(normalisePrefix(prefix), prefix, now).changes > 0) this.logEntry(now, 'home', prefix, null, null);
    });
  }

  unhome(prefix: string, now = Math.floor(Date.now() / 1000)): boolean {
    return this.write(() => {
      const gone = this.s.unhome.run(normalisePrefix(prefix)).changes > 0;
      if (gone) this.logEntry(now, 'unhome', prefix, null, null);
      return gone;
    });
  }

  getSetting(name: string): string | undefined {
    // Before the first migration (a read-only open of an empty file) there is no settings table.
    try {
      return this.db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE name = ?').get(name)?.value;
    } catch {
      return undefined;
    }
  }

  setSetting(name: string, value: string): void {
    this.db.prepare('INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value').run(name, value);
  }

}

function checkIndexes(values: readonly HandleValue[]): void {
  const seen = new Set<number>();
  for (const v of values) {
    if (!Number.isInteger(v.index) || v.index <= 0 || v.index > 0xffffffff) {
      throw new RegistryError(`value index ${v.index} is not a positive 32-bit integer`, 'invalid');
    }
    if (seen.has(v.index)) throw new RegistryError(`index conflict for ${v.index}`, 'invalid');
    seen.add(v.index);
  }
}
