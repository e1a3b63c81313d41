import { isPrefixHandle } from '../model/handle.js';
import type { Registry } from '../store/registry.js';
import type { AnswerCache } from './cache/answer-cache.js';
import type { Authority } from './authority.js';

const BATCH = 1000;

/**
 * Follows the registry's transaction log so that writes by any process — this node, the CLI, an import —
 * drop the cached answers they made stale. A write to a handle drops that handle's answers; a bulk entry,
 * a change to a prefix handle (delegations) or to the homed prefixes drops everything.
 */
export class ChangeWatcher {
  private lastTxn: number;
  private lastCheck = 0;

  constructor(
    private readonly registry: Registry,
    private readonly cache: AnswerCache,
    private readonly authority: Authority,
    private readonly intervalMs: number,
    /** The clock of the checks (the pipeline's). */
    private readonly now: () => number = Date.now,
  ) {
    this.lastTxn = registry.lastTxnId();
  }

  /** Check the log if the last check is older than the interval. Cheap enough for every request. */
  maybeCheck(now: number): void {
    if (now - this.lastCheck < this.intervalMs) return;
    this.check(now);
  }

  check(now = this.now()): void {
    this.lastCheck = now;
    for (;;) {
      const rows = this.registry.changesSince(this.lastTxn, BATCH);
      if (rows.length === 0) return;
      this.lastTxn = rows[rows.length - 1]!.txn_id;
      if (rows.length === BATCH) {
        // A flood of changes: start over rather than invalidate one by one.
        this.cache.clear();
        this.authority.reloadHomed();
        this.lastTxn = this.registry.lastTxnId();
        return;
      }
      for (const r of rows) {
        if (r.op === 'home' || r.op === 'unhome') {
          this.authority.reloadHomed();
          this.cache.clear();
        } else if (r.handle_key === null || isPrefixHandle(r.handle_key)) {
          this.cache.clear();
        } else {
          this.cache.invalidate(r.handle_key);
        }
      }
    }
  }
}
