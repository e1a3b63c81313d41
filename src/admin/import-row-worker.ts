import { parentPort, workerData } from 'node:worker_threads';
import { type RecordAt, RowPreparer, type RowRules } from './import-rows.js';

// A worker thread of an import (import-row-pool.ts): batches of records in, prepared rows out. The encoded
// values travel back as one transferred buffer, not copied.

const preparer = new RowPreparer(workerData as RowRules);

parentPort!.on('message', (m: { id: number; records: RecordAt[]; now: number }) => {
  try {
    const out = preparer.prepare(m.records, m.now);
    parentPort!.postMessage({ id: m.id, out }, [out.blobs.buffer as ArrayBuffer]);
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: (err as Error).stack ?? String(err) });
  }
});
