import type Database from 'better-sqlite3';
import { Registry } from './registry.js';

// What a primary sends its mirrors (docs/replication.md): the transaction log after a mirror's position,
// each entry with the current state of what it changed, and, for a re-copy, every handle and homed prefix.
// A bulk import's one log entry carries the keys it wrote, so its rows go as rows, not as the whole
// registry. Everything is read a page at a time, so a mirror far behind never costs a registry in memory.

/** One change as a mirror applies it: a handle's current state, its removal, or a prefix homed or unhomed. */
export type FeedItem =
  | { txnId: number; at: number; atMs: number; kind: 'put'; handle: string; blob: Buffer }
  | { txnId: number; at: number; atMs: number; kind: 'delete'; handle: string }
  | { txnId: number; at: number; atMs: number; kind: 'home' | 'unhome'; prefix: string };

/** A stored handle as a re-copy sends it. */
export interface FeedRow {
  handle: string;
  key: string;
  blob: Buffer;
  updated: number;
}

interface LogRow {
  txn_id: number;
  at: number;
  /** The same to the millisecond; NULL in entries written before the log kept it. */
  at_ms: number | null;
  op: string;
  handle: string | null;
  handle_key: string | null;
  detail: string | null;
}

/** Log entries read at a time. */
const LOG_PAGE = 500;
/** Rows of a bulk entry or a re-copy read at a time. */
const ROW_PAGE = 2000;

export class TxnFeed {
  private readonly db: Database.Database;
  private readonly logAfter: Database.Statement<[number, number], LogRow>;
  private readonly rowsAfter: Database.Statement<[string, number], [string, string, Buffer, number]>;
  private readonly keylessBulk: Database.Statement<[number], [number]>;

  constructor(private readonly registry: Registry) {
    this.db = registry.db;
    this.logAfter = this.db.prepare('SELECT txn_id, at, at_ms, op, handle, handle_key, detail FROM txn_log WHERE txn_id > ? ORDER BY txn_id LIMIT ?');
    this.rowsAfter = this.db
      .prepare<[string, number], [string, string, Buffer, number]>('SELECT handle_key, handle, vals, updated FROM handles WHERE handle_key > ? ORDER BY handle_key LIMIT ?')
      .raw(true);
    this.keylessBulk = this.db
      .prepare<[number], [number]>(`SELECT txn_id FROM txn_log WHERE txn_id > ? AND op = 'bulk' AND (detail IS NULL OR detail NOT LIKE '%"keys":%') LIMIT 1`)
      .raw(true);
  }

  /**
   * Whether a mirror at `txnId` can follow the log from there: not when entries after it were pruned, nor
   * when a bulk entry after it predates logged keys (its rows cannot be told apart).
   */
  canFollow(txnId: number): boolean {
    const first = this.firstTxnId();
    if (first === 0) return true;
    if (txnId < first - 1) return false;
    return this.keylessBulk.get(txnId) === undefined;
  }

  /** The newest transaction id (0 when nothing was ever written). */
  lastTxnId(): number {
    return this.registry.lastTxnId();
  }

  /** The oldest id the log still holds (0 when empty): a mirror behind it must re-copy. */
  firstTxnId(): number {
    return this.registry.firstTxnId();
  }

  /**
   * The changes after `txnId`, at most `maxEntries` log entries (a bulk entry yields all its rows), in
   * log order. Each item carries the state at the time it is read: applying them in order converges on
   * the primary's contents even when a handle changed again in between.
   */
  *after(txnId: number, maxEntries: number): Generator<FeedItem> {
    let from = txnId;
    let left = maxEntries;
    while (left > 0) {
      const page = this.logAfter.all(from, Math.min(LOG_PAGE, left));
      if (page.length === 0) return;
      for (const e of page) yield* this.itemsOf(e);
      from = page[page.length - 1]!.txn_id;
      left -= page.length;
      if (page.length < LOG_PAGE) return;
    }
  }

  private *itemsOf(e: LogRow): Generator<FeedItem> {
    const base = { txnId: e.txn_id, at: e.at, atMs: e.at_ms ?? e.at * 1000 };
    switch (e.op) {
      case 'home':
      case 'unhome':
        if (e.handle) yield { ...base, kind: e.op, prefix: e.handle };
        return;
      case 'bulk': {
        const keys = Registry.bulkKeysOf(e.detail);
        for (let i = 0; i < keys.length; i += ROW_PAGE) {
          for (const k of keys.slice(i, i + ROW_PAGE)) {
            const r = this.registry.rowAt(k);
            // A row written by the batch and deleted since: its delete entry follows in the log.
            if (r) yield { ...base, kind: 'put', handle: r.handle, blob: r.blob };
          }
        }
        return;
      }
      default: {
        if (!e.handle_key || !e.handle) return;
        const r = this.registry.rowAt(e.handle_key);
        if (r) yield { ...base, kind: 'put', handle: r.handle, blob: r.blob };
        else yield { ...base, kind: 'delete', handle: e.handle };
      }
    }
  }

  /** Every handle in key order, a page at a time (a re-copy). */
  *rows(): Generator<FeedRow> {
    let after = '';
    for (;;) {
      const page = this.rowsAfter.all(after, ROW_PAGE);
      for (const [key, handle, blob, updated] of page) yield { handle, key, blob, updated };
      if (page.length < ROW_PAGE) return;
      after = page[page.length - 1]![0];
    }
  }

  homedPrefixes(): string[] {
    return this.registry.homedPrefixes();
  }
}
