import { realpath, stat } from 'node:fs/promises';
import { normalisePrefix } from '../model/handle.js';
import { BulkWriter } from '../store/bulk-writer.js';
import type { Registry } from '../store/registry.js';
import type { CsvPlan } from './import-csv.js';
import { RowPool, WORKERS_FROM_BYTES, defaultRowWorkers } from './import-row-pool.js';
import type { RowRules } from './import-rows.js';
import { type ImportCounts, parseProgress, progressId, zeroCounts } from './import-progress.js';
import { DEFAULT_MAX_LINE_BYTES, readLines } from './import-source.js';
import { type ImportFormat, readCsvHeader } from './import-records.js';
import { type BatchCommitted, ImportRun, type RowProblem } from './import-run.js';

export type { BatchCommitted, ImportFormat, RowProblem };

// Bulk registration: a CSV or NDJSON file of identifiers into the registry, in batches of rows committed one
// transaction each. No console I/O here: progress, problems and batches are reported through callbacks.
//
// Guarantees: a bad row is reported (line, handle, reason) and the rest commit; a row equal to what is
// stored changes nothing, one that differs is reported and replaced only with `update`; each batch commits
// whole together with the import's progress record, so a killed import leaves every acknowledged batch and
// no part of another, and running it again resumes after the last committed batch.
//
// This file checks the file and the options and wires the parts: the lines (import-source.ts) become
// records (import-records.ts), which one run (import-run.ts) gathers into batches, has prepared
// (import-rows.ts, in worker threads with import-row-pool.ts) and writes in file order.

export const DEFAULT_BATCH_SIZE = 10_000;
export const MAX_BATCH_SIZE = 200_000;
export const MAX_WORKERS = 32;

/** The file cannot be imported at all (missing, unknown format, unusable header). */
export class ImportFileError extends Error {
  override name = 'ImportFileError';
}

export interface ImportOptions {
  format?: ImportFormat;
  batchSize?: number;
  /** Replace identifiers whose stored values differ from the row. */
  update?: boolean;
  /** Accept handles under prefixes this node does not home. */
  allowUnhomed?: boolean;
  /** Add the prefix administrator's HS_ADMIN at index 100 to rows without one (default true). */
  admin?: boolean;
  /** TTL of values that do not give one (default 86400). */
  ttl?: number;
  /** Start from the first row even when an earlier run of this file was interrupted. */
  restart?: boolean;
  /**
   * Worker threads that parse and check rows while this thread writes: by default one per core beyond
   * this one (at most 4) for files of 8 MiB or more, none for smaller ones; 0 prepares rows in this thread.
   */
  workers?: number;
  /** Stop after committing the rows read so far. */
  signal?: AbortSignal;
  onProblem?: (p: RowProblem) => void;
  onBatch?: (b: BatchCommitted) => void;
  /** A batch with rows, in its transaction just before it commits (the audit log's record of it); `counts` are the batch's own. */
  beforeCommit?: (b: { batch: number; firstLine: number; lastLine: number; counts: ImportCounts }) => void;
  /** Before the first row: where reading starts, and after which line when resuming an interrupted run. */
  onStart?: (s: { startOffset: number; size: number; workers: number; resumedAfterLine?: number }) => void;
  /** Bytes of the file read so far (from its start), its size, and the rows this run has read. */
  onRead?: (offset: number, size: number, rows: number) => void;
}

export interface ImportResult {
  file: string;
  format: ImportFormat;
  size: number;
  /** This run's counts. */
  counts: ImportCounts;
  /** When this run resumed an interrupted one: where, and what the earlier runs committed. */
  resumed?: { afterLine: number; offset: number; counts: ImportCounts };
  /** Byte offset where this run started reading. */
  startOffset: number;
  batches: number;
  lastLine: number;
  interrupted: boolean;
  elapsedMs: number;
  /** Worker threads that prepared the rows (0: this thread did). */
  workers: number;
}

export function formatOf(file: string): ImportFormat | undefined {
  const f = file.toLowerCase();
  if (f.endsWith('.csv')) return 'csv';
  if (f.endsWith('.ndjson') || f.endsWith('.jsonl') || f.endsWith('.json')) return 'ndjson';
  return undefined;
}

export async function importFile(registry: Registry, file: string, o: ImportOptions = {}): Promise<ImportResult> {
  const started = performance.now();
  let info;
  try {
    info = await stat(file);
  } catch (err) {
    throw new ImportFileError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!info.isFile()) throw new ImportFileError(`${file} is not a file`);
  const format = o.format ?? formatOf(file);
  if (!format) throw new ImportFileError(`cannot tell the format of ${file} from its name: use --format csv or --format ndjson`);
  const batchSize = o.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
    throw new ImportFileError(`the batch size must be from 1 to ${MAX_BATCH_SIZE} rows`);
  }
  const ttl = o.ttl ?? 86400;
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > 0xffffffff) throw new ImportFileError('the TTL must be a whole number of seconds');

  const writer = new BulkWriter(registry);
  writer.tuneForBulk();
  const update = o.update ?? false;
  const realPath = await realpath(file);
  const id = progressId(realPath, info.size, info.mtimeMs, update);
  const saved = o.restart ? undefined : parseProgress(writer.loadProgress(id));
  const resume = saved && !saved.done ? saved : undefined;

  let plan: CsvPlan | undefined;
  let start = 0;
  let firstLine = 1;
  if (format === 'csv') {
    const header = await readCsvHeader(file);
    if (header === 'empty') throw new ImportFileError('the CSV file is empty: it needs a header row such as handle,URL,productName');
    if ('problem' in header) throw new ImportFileError(`the CSV header cannot be used: ${header.problem}`);
    plan = header.plan;
    start = header.end;
    firstLine = header.line + 1;
  }
  if (resume) {
    start = resume.offset;
    firstLine = resume.line + 1;
  }

  const rules: RowRules = {
    format,
    plan,
    ttl,
    admin: o.admin ?? true,
    allowUnhomed: o.allowUnhomed ?? false,
    homed: registry.homedPrefixes().map(normalisePrefix),
    foldSuffix: registry.foldSuffix,
  };
  const workers = o.workers ?? (info.size - start >= WORKERS_FROM_BYTES ? defaultRowWorkers() : 0);
  if (!Number.isInteger(workers) || workers < 0 || workers > MAX_WORKERS) throw new ImportFileError(`the number of workers must be from 0 to ${MAX_WORKERS}`);
  const pool = workers > 0 ? new RowPool(workers, rules) : undefined;
  const run = new ImportRun(
    writer,
    {
      format,
      batchSize,
      update,
      id,
      progressBase: {
        file: realPath,
        size: info.size,
        mtimeMs: info.mtimeMs,
        update,
      },
      earlier: resume?.counts ?? zeroCounts(),
      startOffset: start,
      startLine: firstLine - 1,
      signal: o.signal,
      onProblem: o.onProblem,
      onBatch: o.onBatch,
      beforeCommit: o.beforeCommit,
    },
    rules,
    pool,
  );
  const size = info.size;
  o.onStart?.({ startOffset: start, size, workers, ...(resume ? { resumedAfterLine: resume.line } : {}) });
  try {
    await readLines(file, (line) => run.onLine(line), {
      start,
      firstLine,
      maxLineBytes: DEFAULT_MAX_LINE_BYTES,
      ...(o.onRead ? { onChunk: (offset: number) => o.onRead!(Math.min(offset, size), size, run.rowsRead()) } : {}),
    });
    await run.finish();
  } finally {
    writer.rollback(); // only does something when a batch failed half-way
    await pool?.close();
  }
  return {
    file,
    format,
    size,
    counts: run.counts,
    ...(resume ? { resumed: { afterLine: resume.line, offset: resume.offset, counts: resume.counts } } : {}),
    startOffset: start,
    batches: run.batches,
    lastLine: run.lastLine,
    interrupted: run.interrupted,
    elapsedMs: performance.now() - started,
    workers,
  };
}
