import assert from 'node:assert/strict';
import type { IdresNode } from '../../src/node/node.js';

/** Wait (bounded) until an in-process mirror has applied everything its primary logged, and is not copying. */
export async function converged(primary: IdresNode, mirror: IdresNode, timeoutMs = 15000): Promise<void> {
  const start = Date.now();
  for (;;) {
    const m = mirror.replication!.mirror!.stats;
    if (m.position >= primary.registry!.lastTxnId() && !m.copying) return;
    if (Date.now() - start > timeoutMs) assert.fail(`the mirror stayed at ${m.position}, its primary at ${primary.registry!.lastTxnId()} (${m.lastError})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
