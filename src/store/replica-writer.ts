import type Database from 'better-sqlite3';
import { normalisePrefix } from '../model/handle.js';
import type { Registry } from './registry.js';

// A mirror's writes (docs/replication.md): the changes its primary sends, applied in order, in
// transactions, each recording the primary's transaction id it reached in the same commit, so a mirror
// killed at any point restarts from what it committed. Applying is idempotent: every change carries the
// state to set (a handle's values, its absence, a prefix homed or not), so applying one twice changes
// nothing. The mirror's own transaction log gets the entries its running node needs to drop cached answers.

/** The primary's transaction id this registry has applied up to (settings; travels with a backup). */
export const POSITION_SETTING = 'replication.primary_txn';
/** When the mirror last heard from its primary (ms), sent back as the request's last query date. */
export const QUERY_DATE_SETTING = 'replication.query_date';

/** One change to apply: a handle set to these values (one blob), a handle gone, a prefix homed or unhomed. */
export type ReplicaChange =
  | { kind: 'put'; handle: string; blob: Buffer; at: number }
  | { kind: 'delete'; handle: string; at: number }
  | { kind: 'home' | 'unhome'; prefix: string; at: number };

/** Below this many changes in a commit, each gets a log entry; above it, one bulk entry with their keys. */
const PER_CHANGE_LOG_LIMIT = 64;

export class ReplicaWriter {
  private readonly db: Database.Database;
  private readonly exists: Database.Statement<[string], [number]>;
  private readonly insert: Database.Statement;
  private readonly update: Database.Statement;
  private readonly remove: Database.Statement;
  private readonly log: Database.Statement;
  private readonly home: Database.Statement;
  private readonly unhome: Database.Statement;
  private readonly addCount: Database.Statement;
  private copying = false;

  constructor(private readonly registry: Registry) {
    const db = (this.db = registry.db);
    this.exists = db.prepare<[string], [number]>('SELECT 1 FROM handles WHERE handle_key = ?').raw(true);
    this.insert = db.prepare('INSERT INTO handles (handle_key, handle, created, updated, vals) VALUES (?, ?, ?, ?, ?)');
    this.update = db.prepare('UPDATE handles SET handle = ?, vals = ?, updated = ? WHERE handle_key = ?');
    this.remove = db.prepare('DELETE FROM handles WHERE handle_key = ?');
    this.log = db.prepare('INSERT INTO txn_log (at, op, handle, handle_key, detail) VALUES (?, ?, ?, ?, ?)');
    this.home = db.prepare('INSERT INTO homed_prefixes (prefix, display, homed_at) VALUES (?, ?, ?) ON CONFLICT (prefix) DO NOTHING');
    this.unhome = db.prepare('DELETE FROM homed_prefixes WHERE prefix = ?');
    this.addCount = db.prepare("UPDATE counters SET n = n + ? WHERE name = 'handles'");
  }

  /** The primary's transaction id applied so far (0: nothing yet, a first copy is due). */
  position(): number {
    return Number(this.registry.getSetting(POSITION_SETTING) ?? 0);
  }

  lastQueryDate(): number {
    return Number(this.registry.getSetting(QUERY_DATE_SETTING) ?? 0);
  }

  /**
   * Apply changes in one transaction and record `position` (the primary's last transaction id they
   * complete) and the query date with them.
   */
  apply(changes: readonly ReplicaChange[], position: number, queryDate: number): void {
    this.db.transaction(() => {
      const keys: string[] = [];
      const entries: Array<[number, string, string, string]> = [];
      for (const c of changes) {
        if (c.kind === 'put') {
          const key = this.registry.key(c.handle);
          entries.push([c.at, this.put(key, c.handle, c.blob, c.at), c.handle, key]);
          keys.push(key);
        } else if (c.kind === 'delete') {
          const key = this.registry.key(c.handle);
          if (this.remove.run(key).changes > 0) {
            this.addCount.run(-1);
            entries.push([c.at, 'delete', c.handle, key]);
            keys.push(key);
          }
        } else {
          const p = normalisePrefix(c.prefix);
          if (c.kind === 'home') this.home.run(p, c.prefix, c.at);
          else this.unhome.run(p);
          this.log.run(c.at, c.kind, c.prefix, null, null);
        }
      }
      if (entries.length <= PER_CHANGE_LOG_LIMIT) {
        for (const [at, op, handle, key] of entries) this.log.run(at, op, handle, key, null);
      } else {
        this.registry.logBulk(entries.length, entries[entries.length - 1]![0], keys);
      }
      this.setPosition(position, queryDate);
    })();
  }

  /** Set a handle's row to these values; 'create' or 'overwrite' for the log. */
  private put(key: string, handle: string, blob: Buffer, at: number): string {
    if (this.exists.get(key)) {
      this.update.run(handle, blob, at, key);
      return 'overwrite';
    }
    this.insert.run(key, handle, at, at, blob);
    this.addCount.run(1);
    return 'create';
  }

  // A re-copy: every handle of the primary, in chunks each committed, then whatever the copy did not name
  // removed and the position set. Until it finishes the registry mixes old and new rows; the mirror says it
  // is copying (not ready) meanwhile, and a copy cut short starts again from the beginning.

  beginCopy(): void {
    this.db.exec('DROP TABLE IF EXISTS temp.copy_seen; CREATE TEMP TABLE copy_seen (handle_key TEXT PRIMARY KEY) WITHOUT ROWID');
    this.copying = true;
  }

  /** One chunk of the copy, committed. */
  copyRows(rows: ReadonlyArray<{ handle: string; blob: Buffer; at: number }>): void {
    if (!this.copying) throw new Error('copyRows outside a copy');
    const seen = this.db.prepare('INSERT OR IGNORE INTO temp.copy_seen (handle_key) VALUES (?)');
    this.db.transaction(() => {
      for (const r of rows) {
        const key = this.registry.key(r.handle);
        this.put(key, r.handle, r.blob, r.at);
        seen.run(key);
      }
    })();
  }

  /**
   * End the copy: rows the primary did not send are removed, the homed prefixes become the primary's, one
   * bulk entry tells the running node to drop everything it cached, and the position is the copy's.
   */
  finishCopy(homed: readonly string[], position: number, queryDate: number, at: number): void {
    if (!this.copying) throw new Error('finishCopy outside a copy');
    this.db.transaction(() => {
      const gone = this.db.prepare('DELETE FROM handles WHERE handle_key NOT IN (SELECT handle_key FROM temp.copy_seen)').run().changes;
      if (gone > 0) this.addCount.run(-gone);
      this.db.prepare('DELETE FROM homed_prefixes').run();
      for (const p of homed) this.home.run(normalisePrefix(p), p, at);
      this.log.run(at, 'home', null, null, null);
      this.log.run(at, 'bulk', null, null, JSON.stringify({ count: 0, copy: true }));
      this.setPosition(position, queryDate);
    })();
    this.db.exec('DROP TABLE IF EXISTS temp.copy_seen');
    this.copying = false;
  }

  /** A copy cut short: its chunks stay (they are the primary's rows), the position does not move. */
  abandonCopy(): void {
    this.db.exec('DROP TABLE IF EXISTS temp.copy_seen');
    this.copying = false;
  }

  private setPosition(position: number, queryDate: number): void {
    this.registry.setSetting(POSITION_SETTING, String(position));
    this.registry.setSetting(QUERY_DATE_SETTING, String(queryDate));
  }
}
