import { isPrefixHandle } from '../model/handle.js';
import { Registry } from './registry.js';

// What a primary changed after a given transaction of its log: on an old primary being demoted, the writes
// the promoted mirror may never have pulled (docs/replication.md, "Switch-over and fencing").

/** The handles (as written, keys for a bulk import's rows) changed by log entries after `txnId`, each once; no prefix handles. */
export function handlesChangedSince(registry: Registry, txnId: number): string[] {
  const rows = registry.db
    .prepare<[number], { op: string; handle: string | null; handle_key: string | null; detail: string | null }>(
      'SELECT op, handle, handle_key, detail FROM txn_log WHERE txn_id > ? ORDER BY txn_id',
    )
    .all(txnId);
  const seen = new Map<string, string>();
  const note = (key: string, handle: string) => {
    if (!seen.has(key)) seen.set(key, handle);
  };
  for (const r of rows) {
    if (r.op === 'home' || r.op === 'unhome') continue;
    if (r.op === 'bulk') {
      for (const k of Registry.bulkKeysOf(r.detail)) note(k, k);
    } else if (r.handle && !isPrefixHandle(r.handle)) {
      // Prefix handles are left out: the old primary rewrites its own site records (at start, on a fence),
      // and importing them at the new primary would replace its sites, keys and administrators.
      note(r.handle_key ?? r.handle, r.handle);
    }
  }
  return [...seen.values()];
}
