import type { IdresNode } from '../../src/node/node.js';
import { until } from './wait.js';

/** Wait (bounded) until an in-process mirror has applied everything its primary logged, and is not copying. */
export async function converged(primary: IdresNode, mirror: IdresNode, timeoutMs = 15000): Promise<void> {
  const m = () => mirror.replication!.mirror!.stats;
  await until(() => `the mirror caught up (it is at ${m().position}, its primary at ${primary.registry!.lastTxnId()}; ${m().lastError})`, () => m().position >= primary.registry!.lastTxnId() && !m().copying, timeoutMs, 20);
}
