import { realpath, stat } from 'node:fs/promises';
import { normalisePrefix } from '../model/handle.js';
import { BulkWriter, PER_HANDLE_LOG_LIMIT, type WrittenHandle } from '../store/bulk-writer.js';
import type { Registry } from '../store/registry.js';
import { decodeValues } from '../store/value-blob.js';
import { type CsvPlan, CsvHeaderError, parseCsvHeader, splitCsvRecord } from './import-csv.js';
import { describeDifference } from './import-diff.js';
import { RowPool, WORKERS_FROM_BYTES, defaultRowWorkers } from './import-row-pool.js';
import { type PreparedRows, type RecordAt, RowPreparer, type RowRules } from './import-rows.js';
import {
  type ImportCounts,
  type ImportProgress,
  addCounts,
  parseProgress,
  progressId,
  zeroCounts,
} from './import-progress.js';
import { DEFAULT_MAX_LINE_BYTES, type Line, readLines } from './import-source.js';
import { RowError } from './import-values.js';

// Bulk registration: a CSV or NDJSON file of identifiers into the registry, in batches of rows committed one
// transaction each. No console I/O here: progress, problems and batches are reported through callbacks.
//
// Guarantees: a bad row is reported (line, handle, reason) and the rest commit; a row equal to what is
// stored changes nothing, one that differs is reported and replaced only with `update`; each batch commits
// whole together with the import's progress record, so a killed import leaves every acknowledged batch and
// no part of another, and running it again resumes after the last committed batch.

export type ImportFormat = 'csv' | 'ndjson';

export const DEFAULT_BATCH_SIZE = 10_000;
export const MAX_BATCH_SIZE = 200_000;
export const MAX_WORKERS = 32;
/** A quoted CSV cell may span lines, up to this many. */
const MAX_RECORD_LINES = 10_000;

/** The file cannot be imported at all (missing, unknown format, unusable header). */
export class ImportFileError extends Error {
  override name = 'ImportFileError';
}

export interface RowProblem {
  line: number;
  /** Empty when the row's handle could not be read. */
  handle: string;
  /** bad: not imported; changed: differs from the stored identifier, left as stored (no --update). */
  kind: 'bad' | 'changed';
  reason: string;
}

export interface BatchCommitted {
  batch: number;
  firstLine: number;
  lastLine: number;
  /** Byte offset after the batch's last row. */
  offset: number;
  /** This run's totals so far. */
  counts: ImportCounts;
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
      options: o,
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

/** The header: the first non-blank record of a CSV file (line numbers count from the top of the file). */
async function readCsvHeader(file: string): Promise<{ plan: CsvPlan; end: number; line: number }> {
  let found: { plan: CsvPlan; end: number; line: number } | undefined;
  let problem: string | undefined;
  await readLines(file, (l) => {
    if (l.text === undefined) {
      problem = `line ${l.number}: ${l.problem}`;
      return false;
    }
    if (l.text.trim() === '') return true;
    const fields = splitCsvRecord(l.text);
    if (!fields) {
      problem = `line ${l.number}: the header has an unterminated quoted cell`;
      return false;
    }
    try {
      found = { plan: parseCsvHeader(fields), end: l.end, line: l.number };
    } catch (err) {
      if (!(err instanceof CsvHeaderError || err instanceof RowError)) throw err;
      problem = `line ${l.number}: ${err.message}`;
    }
    return false;
  });
  if (problem) throw new ImportFileError(`the CSV header cannot be used: ${problem}`);
  if (!found) throw new ImportFileError('the CSV file is empty: it needs a header row such as handle,URL,productName');
  return found;
}

interface RunSettings {
  format: ImportFormat;
  batchSize: number;
  update: boolean;
  id: string;
  progressBase: Pick<ImportProgress, 'file' | 'size' | 'mtimeMs' | 'update'>;
  earlier: ImportCounts;
  startOffset: number;
  startLine: number;
  options: ImportOptions;
}

/** A batch handed on: read, being prepared (here or in a worker), waiting for its turn to be written. */
interface Batch {
  prepared: PreparedRows | Promise<PreparedRows>;
  /** Found while reading (unreadable lines, broken CSV records), before any row was prepared. */
  problems: RowProblem[];
  rows: number;
  lastLine: number;
  /** Byte offset after the batch's last line: where a resume starts. */
  offset: number;
  /** The time the batch's values are stamped with and its rows written at. */
  now: number;
  final: boolean;
}

/**
 * One pass over the file: rows gathered into batches, each batch prepared (parsed, checked and encoded,
 * in worker threads when there are any), then written and committed in file order.
 */
class ImportRun {
  counts = zeroCounts();
  batches = 0;
  interrupted = false;
  /** The last line consumed (a committed or pending row, or a blank line). */
  lastLine: number;
  private offset: number;
  private committedLine: number;
  // The batch being read.
  private records: RecordAt[] = [];
  private problems: RowProblem[] = [];
  private rows = 0;
  /** Batches handed on and not yet committed, oldest first. */
  private readonly queue: Batch[] = [];
  private readonly preparer: RowPreparer;
  // A CSV record whose quoted cell runs on over several lines.
  private recordText: string | undefined;
  private recordLine = 0;
  private recordLines = 0;

  constructor(
    private readonly writer: BulkWriter,
    private readonly s: RunSettings,
    rules: RowRules,
    private readonly pool: RowPool | undefined,
  ) {
    this.preparer = new RowPreparer(rules);
    this.offset = s.startOffset;
    this.lastLine = s.startLine;
    this.committedLine = s.startLine;
  }

  /** Rows read by this run, committed or not. */
  rowsRead(): number {
    let n = this.counts.rows + this.rows;
    for (const b of this.queue) n += b.rows;
    return n;
  }

  /** Called for every line of the file; false stops the reading. A promise when the batches ahead must be written first. */
  onLine(l: Line): boolean | Promise<boolean> {
    if (this.s.options.signal?.aborted) {
      this.interrupted = true;
      return false;
    }
    if (this.s.format === 'ndjson') {
      if (l.text === undefined) this.bad(l.number, '', l.problem!);
      else if (l.text.length === 0 || l.text.trim() === '') {
        // A blank line: nothing to import.
      } else this.row(l.number, l.text);
    } else if (!this.csvLine(l)) {
      return true; // inside a record that continues on the next line
    }
    this.lastLine = l.number;
    this.offset = l.end;
    if (this.rows >= this.s.batchSize) return this.handOn(false).then(() => true);
    return true;
  }

  /** False while a quoted cell is still open at the end of the line. */
  private csvLine(l: Line): boolean {
    if (l.text === undefined) {
      this.bad(this.recordText === undefined ? l.number : this.recordLine, '', l.problem!);
      this.recordText = undefined;
      return true;
    }
    let text = l.text;
    let line = l.number;
    if (this.recordText !== undefined) {
      text = this.recordText + '\n' + text;
      line = this.recordLine;
    } else if (text.length === 0 || text.trim() === '') {
      return true;
    }
    let fields: string[] | undefined;
    try {
      fields = splitCsvRecord(text);
    } catch (err) {
      if (!(err instanceof RowError)) throw err;
      this.recordText = undefined;
      this.bad(line, '', err.message);
      return true;
    }
    if (fields === undefined) {
      if (this.recordText === undefined) {
        this.recordLine = l.number;
        this.recordLines = 0;
      }
      this.recordText = text;
      if (++this.recordLines < MAX_RECORD_LINES && text.length < DEFAULT_MAX_LINE_BYTES) return false;
      this.recordText = undefined;
      this.bad(line, '', `a quoted cell opened on this line is not closed within ${MAX_RECORD_LINES} lines or ${DEFAULT_MAX_LINE_BYTES} bytes`);
      return true;
    }
    this.recordText = undefined;
    this.row(line, fields);
    return true;
  }

  /** Queue one record for the batch; it is checked when the batch is prepared. */
  private row(line: number, record: string | string[]): void {
    this.records.push([line, record]);
    this.rows++;
  }

  private bad(line: number, handle: string, reason: string): void {
    this.rows++;
    this.problems.push({ line, handle, kind: 'bad', reason });
  }

  /** At the end of the file (or on an interruption): the last batch, a CSV record left open, and every batch still queued. */
  async finish(): Promise<void> {
    if (this.recordText !== undefined && !this.interrupted) {
      this.bad(this.recordLine, '', 'a quoted cell is not closed before the end of the file');
      this.recordText = undefined;
    }
    await this.handOn(!this.interrupted);
    while (this.queue.length > 0) await this.writeOldest();
  }

  /**
   * Hand the batch read on to be prepared, and write the oldest batches while more are queued than there
   * are workers to prepare them (in-thread, that is every batch at once).
   */
  private async handOn(final: boolean): Promise<void> {
    if (this.rows > 0 || final) {
      const now = Math.floor(Date.now() / 1000);
      const prepared = this.pool ? this.pool.prepare(this.records, now) : this.preparer.prepare(this.records, now);
      // Awaited in turn by writeOldest; until then a failure must not count as unhandled.
      if (prepared instanceof Promise) prepared.catch(() => undefined);
      this.queue.push({ prepared, problems: this.problems, rows: this.rows, lastLine: this.lastLine, offset: this.offset, now, final });
      this.records = [];
      this.problems = [];
      this.rows = 0;
    }
    while (this.queue.length > (this.pool?.size ?? 0)) await this.writeOldest();
  }

  private async writeOldest(): Promise<void> {
    const batch = this.queue[0]!;
    const prepared = await batch.prepared;
    this.write(batch, prepared);
    this.queue.shift();
  }

  /** Write a batch's rows, log them, record the progress, commit: all or nothing. */
  private write(batch: Batch, p: PreparedRows): void {
    const now = batch.now;
    const b = zeroCounts();
    b.rows = batch.rows;
    b.bad = batch.problems.length + p.bad.length;
    const problems = batch.problems.concat(p.bad.map((x): RowProblem => ({ line: x.line, handle: x.handle, kind: 'bad', reason: x.reason })));
    // In key order, B-tree pages are filled one after another instead of jumping about. The sort is stable,
    // so a handle given twice in a batch is still written first as it comes first in the file.
    const order = p.keys.map((_, i) => i).sort((x, y) => (p.keys[x]! < p.keys[y]! ? -1 : p.keys[x]! > p.keys[y]! ? 1 : x - y));
    const written: WrittenHandle[] = [];
    let writtenCount = 0;
    this.writer.begin();
    for (const i of order) {
      const key = p.keys[i]!;
      const handle = p.handles[i]!;
      const blob = p.blobs.subarray(i === 0 ? 0 : p.ends[i - 1]!, p.ends[i]!);
      if (this.writer.insertNew(key, handle, blob, now)) {
        b.created++;
        if (++writtenCount <= PER_HANDLE_LOG_LIMIT) written.push({ op: 'create', handle, key, indexes: decodeValues(blob).map((v) => v.index) });
        continue;
      }
      const values = decodeValues(blob);
      const difference = describeDifference(this.writer.storedValues(key), values);
      if (difference === undefined) {
        b.unchanged++;
      } else if (this.s.update) {
        this.writer.replace(handle, values, now);
        b.updated++;
        if (++writtenCount <= PER_HANDLE_LOG_LIMIT) written.push({ op: 'overwrite', handle, key, indexes: values.map((v) => v.index) });
      } else {
        b.changed++;
        problems.push({ line: p.lines[i]!, handle, kind: 'changed', reason: `differs from the registry: ${difference}` });
      }
    }
    this.writer.logBatch(written, writtenCount, now);
    const counts = addCounts(this.counts, b);
    const progress: ImportProgress = {
      ...this.s.progressBase,
      offset: batch.offset,
      line: batch.lastLine,
      counts: addCounts(this.s.earlier, counts),
      done: batch.final,
      at: new Date(now * 1000).toISOString(),
    };
    this.writer.saveProgress(this.s.id, JSON.stringify(progress));
    if (b.rows > 0) this.s.options.beforeCommit?.({ batch: this.batches + 1, firstLine: this.committedLine + 1, lastLine: batch.lastLine, counts: b });
    this.writer.commit();

    // Committed: only now is the batch acknowledged and its problems reported.
    this.counts = counts;
    problems.sort((x, y) => x.line - y.line);
    const firstLine = this.committedLine + 1;
    this.committedLine = batch.lastLine;
    if (b.rows > 0) this.batches++;
    if (this.s.options.onProblem) for (const q of problems) this.s.options.onProblem(q);
    if (b.rows > 0) {
      this.s.options.onBatch?.({ batch: this.batches, firstLine, lastLine: batch.lastLine, offset: batch.offset, counts });
    }
  }
}
