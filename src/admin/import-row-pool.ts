import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { PreparedRows, RecordAt, RowRules } from './import-rows.js';

// Worker threads that prepare an import's batches (parse, check, encode: most of an import's CPU) while the
// importing thread writes the batches before them to SQLite. Each worker takes one batch at a time; results
// come back per batch, and the importer commits them in file order whatever order they finish in.

/** Files smaller than this are prepared in the importing thread: starting workers would cost more. */
export const WORKERS_FROM_BYTES = 8 << 20;

/** One worker per core beyond the importing thread's own, at most this many. */
const MAX_DEFAULT_WORKERS = 4;

export function defaultRowWorkers(): number {
  return Math.max(0, Math.min(MAX_DEFAULT_WORKERS, availableParallelism() - 1));
}

interface Waiting {
  resolve: (rows: PreparedRows) => void;
  reject: (err: Error) => void;
}

export class RowPool {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private turn = 0;
  private failure: Error | undefined;

  constructor(count: number, rules: RowRules) {
    for (let i = 0; i < count; i++) {
      const w = new Worker(new URL('./import-row-worker.js', import.meta.url), { workerData: rules });
      w.on('message', (m: { id: number; out?: PreparedRows; error?: string }) => {
        const p = this.waiting.get(m.id);
        if (!p) return;
        this.waiting.delete(m.id);
        if (m.out) p.resolve({ ...m.out, blobs: Buffer.from(m.out.blobs.buffer, m.out.blobs.byteOffset, m.out.blobs.byteLength) });
        else p.reject(new Error(`an import worker failed: ${m.error}`));
      });
      // A worker that dies takes its batches with it: fail them all, and every later one, loudly.
      w.on('error', (err) => this.fail(err));
      w.on('exit', (code) => {
        if (code !== 0) this.fail(new Error(`an import worker exited with code ${code}`));
      });
      this.workers.push(w);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Prepare a batch on the next worker in turn (batches are the same size, so turns spread them evenly). */
  prepare(records: RecordAt[], now: number): Promise<PreparedRows> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const w = this.workers[this.turn++ % this.workers.length]!;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      w.postMessage({ id, records, now });
    });
  }

  async close(): Promise<void> {
    this.failure ??= new Error('the import workers were stopped');
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const p of this.waiting.values()) p.reject(err);
    this.waiting.clear();
  }
}
