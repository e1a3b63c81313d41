import { type BulkWriter, PER_HANDLE_LOG_LIMIT, type WrittenHandle } from '../store/bulk-writer.js';
import { decodeValues } from '../store/value-blob.js';
import { describeDifference } from './import-diff.js';
import type { RowPool } from './import-row-pool.js';
import { type PreparedRows, type RecordAt, RowPreparer, type RowRules } from './import-rows.js';
import { type ImportCounts, type ImportProgress, addCounts, zeroCounts } from './import-progress.js';
import type { Line } from './import-source.js';
import { type ImportFormat, RecordReader, type RecordSink } from './import-records.js';

// One pass of an import over its file: records gathered into batches, each batch prepared (parsed, checked
// and encoded, in worker threads when there are any), then written and committed in file order, each
// batch in one transaction with the import's progress record.

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

export interface RunSettings {
  format: ImportFormat;
  batchSize: number;
  update: boolean;
  id: string;
  progressBase: Pick<ImportProgress, 'file' | 'size' | 'mtimeMs' | 'update'>;
  earlier: ImportCounts;
  startOffset: number;
  startLine: number;
  /** Stop after committing the rows read so far. */
  signal: AbortSignal | undefined;
  onProblem: ((p: RowProblem) => void) | undefined;
  onBatch: ((b: BatchCommitted) => void) | undefined;
  /** A batch with rows, in its transaction just before it commits (the audit log's record of it); `counts` are the batch's own. */
  beforeCommit: ((b: { batch: number; firstLine: number; lastLine: number; counts: ImportCounts }) => void) | undefined;
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

export class ImportRun implements RecordSink {
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
  private readonly reader: RecordReader;

  constructor(
    private readonly writer: BulkWriter,
    private readonly s: RunSettings,
    rules: RowRules,
    private readonly pool: RowPool | undefined,
  ) {
    this.preparer = new RowPreparer(rules);
    this.reader = new RecordReader(s.format, this);
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
    if (this.s.signal?.aborted) {
      this.interrupted = true;
      return false;
    }
    if (!this.reader.line(l)) return true; // inside a record that continues on the next line
    this.lastLine = l.number;
    this.offset = l.end;
    if (this.rows >= this.s.batchSize) return this.handOn(false).then(() => true);
    return true;
  }

  /** Queue one record for the batch; it is checked when the batch is prepared. */
  record(line: number, record: string | string[]): void {
    this.records.push([line, record]);
    this.rows++;
  }

  unreadable(line: number, reason: string): void {
    this.rows++;
    this.problems.push({ line, handle: '', kind: 'bad', reason });
  }

  /** At the end of the file (or on an interruption): the last batch, a CSV record left open, and every batch still queued. */
  async finish(): Promise<void> {
    if (!this.interrupted) this.reader.end();
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
    if (b.rows > 0) this.s.beforeCommit?.({ batch: this.batches + 1, firstLine: this.committedLine + 1, lastLine: batch.lastLine, counts: b });
    this.writer.commit();

    // Committed: only now is the batch acknowledged and its problems reported.
    this.counts = counts;
    problems.sort((x, y) => x.line - y.line);
    const firstLine = this.committedLine + 1;
    this.committedLine = batch.lastLine;
    if (b.rows > 0) this.batches++;
    if (this.s.onProblem) for (const q of problems) this.s.onProblem(q);
    if (b.rows > 0) {
      this.s.onBatch?.({ batch: this.batches, firstLine, lastLine: batch.lastLine, offset: batch.offset, counts });
    }
  }
}
