import type Database from 'better-sqlite3';
import { normalisePrefix } from '../model/handle.js';
import type { Registry } from './registry.js';
import { mirrorPosition, mirrorQueryDate, setMirrorPosition } from './replication-settings.js';
import { PER_HANDLE_LOG_LIMIT } from './bulk-writer.js';

// A mirror's writes (docs/replication.md): the changes its primary sends, applied in order, in
// transactions, each recording the primary's transaction id it reached in the same commit, so a mirror
// killed at any point restarts from what it committed. Applying is idempotent: every change carries the
// state to set (a handle's values, its absence, a prefix homed or not), so applying one twice changes
// nothing. The mirror's own transaction log gets the entries its running node needs to drop cached answers.

/** One change to apply: a handle set to these values (one blob), a handle gone, a prefix homed or unhomed. */
export type ReplicaChange =
  | { kind: 'put'; handle: string; blob: Buffer; at: number }
  | { kind: 'delete'; handle: string; at: number }
  | { kind: 'home' | 'unhome'; prefix: string; at: number };


export class ReplicaWriter {
  private readonly db: Database.Database;
  private copying = false;

  constructor(private readonly registry: Registry) {
    this.db = registry.db;
  }

  /** The primary's transaction id applied so far (0: nothing yet, a first copy is due). */
  position(): number {
    return mirrorPosition(this.registry);
  }

  lastQueryDate(): number {
    return mirrorQueryDate(this.registry);
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
          entries.push([c.at, this.registry.putRowInTxn(key, c.handle, c.blob, c.at), c.handle, key]);
          keys.push(key);
        } else if (c.kind === 'delete') {
          const key = this.registry.key(c.handle);
          if (this.registry.removeRowInTxn(key)) {
            entries.push([c.at, 'delete', c.handle, key]);
            keys.push(key);
          }
        } else if (c.kind === 'home') {
          this.registry.home(c.prefix, c.at);
        } else {
          this.registry.unhome(c.prefix, c.at);
        }
      }
      if (entries.length <= PER_HANDLE_LOG_LIMIT) {
        for (const [at, op, handle, key] of entries) this.registry.logChange(at, op, handle, key);
      } else {
        this.registry.logBulk(entries.length, entries[entries.length - 1]![0], keys);
      }
      this.setPosition(position, queryDate);
    }).immediate();
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
        this.registry.putRowInTxn(key, r.handle, r.blob, r.at);
        seen.run(key);
      }
    }).immediate();
  }

  /**
   * End the copy: rows the primary did not send are removed, the homed prefixes become the primary's, one
   * bulk entry tells the running node to drop everything it cached, and the position is the copy's.
   */
  finishCopy(homed: readonly string[], position: number, queryDate: number, at: number): void {
    if (!this.copying) throw new Error('finishCopy outside a copy');
    this.db.transaction(() => {
      this.registry.countAdded(-this.db.prepare('DELETE FROM handles WHERE handle_key NOT IN (SELECT handle_key FROM temp.copy_seen)').run().changes);
      const wanted = new Set(homed.map(normalisePrefix));
      for (const p of this.registry.homedPrefixes()) if (!wanted.has(normalisePrefix(p))) this.registry.unhome(p, at);
      for (const p of homed) this.registry.home(p, at);
      this.registry.logBulk(0, at);
      this.setPosition(position, queryDate);
    }).immediate();
    this.db.exec('DROP TABLE IF EXISTS temp.copy_seen');
    this.copying = false;
  }

  /** A copy cut short: its chunks stay (they are the primary's rows), the position does not move. */
  abandonCopy(): void {
    this.db.exec('DROP TABLE IF EXISTS temp.copy_seen');
    this.copying = false;
  }

  private setPosition(position: number, queryDate: number): void {
    setMirrorPosition(this.registry, position, queryDate);
  }
}
