import { type CsvPlan, CsvHeaderError, parseCsvHeader, splitCsvRecord } from './import-csv.js';
import { DEFAULT_MAX_LINE_BYTES, type Line, readLines } from './import-source.js';
import { RowError } from './import-values.js';

// The records of an import file, from its lines (import-source.ts reads those, each with its number and the
// byte offset after it): an NDJSON record is a non-blank line; a CSV record is a row of cells, which may run
// over several lines when a quoted cell holds line breaks. Each record comes with the line it starts on; a
// line or record that cannot be read is reported with its line instead. Nothing is checked here beyond
// what it takes to find where records begin and end (import-rows.ts checks the rows).

export type ImportFormat = 'csv' | 'ndjson';

/** A quoted CSV cell may span lines, up to this many. */
const MAX_RECORD_LINES = 10_000;

/** Where the records go, as they are read. */
export interface RecordSink {
  /** A record: an NDJSON line's text or a CSV row's cells, and the line it starts on. */
  record(line: number, record: string | string[]): void;
  /** A line or CSV record that cannot be read (not UTF-8, too long, a quote left open), and why. */
  unreadable(line: number, reason: string): void;
}

/** Lines in, records out: fed every line of the file in order, from where reading starts. */
export class RecordReader {
  // A CSV record whose quoted cell runs on over several lines.
  private recordText: string | undefined;
  private recordLine = 0;
  private recordLines = 0;

  constructor(
    private readonly format: ImportFormat,
    private readonly sink: RecordSink,
  ) {}

  /**
   * One line of the file. False while it ends no record (a CSV record goes on to the next line): the byte
   * offset after it is no place to resume from.
   */
  line(l: Line): boolean {
    if (this.format === 'ndjson') {
      if (l.text === undefined) this.sink.unreadable(l.number, l.problem!);
      else if (l.text.length === 0 || l.text.trim() === '') {
        // A blank line: nothing to import.
      } else this.sink.record(l.number, l.text);
      return true;
    }
    return this.csvLine(l);
  }

  /** At the end of the file: a CSV record whose quoted cell was never closed is reported. */
  end(): void {
    if (this.recordText !== undefined) {
      this.sink.unreadable(this.recordLine, 'a quoted cell is not closed before the end of the file');
      this.recordText = undefined;
    }
  }

  /** False while a quoted cell is still open at the end of the line. */
  private csvLine(l: Line): boolean {
    if (l.text === undefined) {
      this.sink.unreadable(this.recordText === undefined ? l.number : this.recordLine, l.problem!);
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
      this.sink.unreadable(line, err.message);
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
      this.sink.unreadable(line, `a quoted cell opened on this line is not closed within ${MAX_RECORD_LINES} lines or ${DEFAULT_MAX_LINE_BYTES} bytes`);
      return true;
    }
    this.recordText = undefined;
    this.sink.record(line, fields);
    return true;
  }
}

/** A CSV header read: the plan of its columns, the byte offset after it and its line. */
export interface CsvHeader {
  plan: CsvPlan;
  end: number;
  line: number;
}

/**
 * The header: the first non-blank record of a CSV file (line numbers count from the top of the file), or
 * why it cannot be used ("empty" when the file has no record at all).
 */
export async function readCsvHeader(file: string): Promise<CsvHeader | { problem: string } | 'empty'> {
  let found: CsvHeader | undefined;
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
  if (problem) return { problem };
  return found ?? 'empty';
}
