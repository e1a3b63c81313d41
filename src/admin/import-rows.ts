import { HandleSyntaxError, handleKey, normalisePrefix, validateHandle } from '../model/handle.js';
import { Writer } from '../protocol/writer.js';
import { appendValues } from '../store/value-blob.js';
import { type CsvPlan, csvRowToRaw } from './import-csv.js';
import { type RawRow, parseNdjsonRow } from './import-ndjson.js';
import { RowError, settleValues } from './import-values.js';

// The CPU-heavy half of an import: records (an NDJSON line, or a CSV record's cells) turned into what the
// registry stores, each row's values already encoded as their stored blob. It needs nothing but its rules
// and the records, so it runs the same in the importing thread or in worker threads beside it (import-
// workers.ts); the registry is written by the importing thread alone, in file order.

/** A record and the line it starts on. */
export type RecordAt = [line: number, record: string | string[]];

/** Everything a batch's rows are checked against; plain data, so a worker can be given it. */
export interface RowRules {
  format: 'csv' | 'ndjson';
  plan: CsvPlan | undefined;
  ttl: number;
  admin: boolean;
  allowUnhomed: boolean;
  /** Normalised prefixes this node homes. */
  homed: readonly string[];
  foldSuffix: boolean;
}

export interface BadRow {
  line: number;
  /** Empty when the row's handle could not be read. */
  handle: string;
  reason: string;
}

/**
 * The good rows of a batch, in the order read, as parallel arrays (cheap to pass between threads): row i's
 * stored value list is blobs[ends[i-1] … ends[i]) (from 0 for the first).
 */
export interface PreparedRows {
  lines: number[];
  handles: string[];
  keys: string[];
  /** A Buffer here; what a worker posts arrives as a plain Uint8Array, which RowPool wraps again. */
  blobs: Buffer;
  ends: number[];
  bad: BadRow[];
}

export class RowPreparer {
  private readonly homed: Set<string>;

  constructor(private readonly rules: RowRules) {
    this.homed = new Set(rules.homed);
  }

  /** Check and encode a batch of records; values are stamped with `now`, the time the batch is written. */
  prepare(records: readonly RecordAt[], now: number): PreparedRows {
    const out: PreparedRows = { lines: [], handles: [], keys: [], blobs: Buffer.alloc(0), ends: [], bad: [] };
    // Larger than Node's pool threshold from the start, so the buffer is never a shared pool slab (a
    // worker hands its memory over to the importing thread).
    const w = new Writer(Math.max(64 * 1024, records.length * 512));
    for (const [line, record] of records) {
      let raw: RawRow | undefined;
      try {
        const r = this.rules;
        raw = typeof record === 'string' ? parseNdjsonRow(record, r.ttl) : csvRowToRaw(record, r.plan!, r.ttl);
        const parts = validateHandle(raw.handle);
        if (!r.allowUnhomed && !this.homed.has(normalisePrefix(parts.prefix))) {
          throw new RowError(`prefix ${parts.prefix} is not homed by this node (clients would get 301; use --allow-unhomed to store it anyway)`);
        }
        const values = settleValues(raw.drafts, parts.prefix, { ttl: r.ttl, admin: r.admin });
        appendValues(w, values, now);
        out.lines.push(line);
        out.handles.push(raw.handle);
        out.keys.push(handleKey(raw.handle, r.foldSuffix));
        out.ends.push(w.pos);
      } catch (err) {
        if (!(err instanceof RowError || err instanceof HandleSyntaxError)) throw err;
        const known =
          raw?.handle ??
          (err instanceof RowError ? err.handle : undefined) ??
          (typeof record === 'string' ? '' : (record[this.rules.plan!.handleColumn]?.trim() ?? ''));
        out.bad.push({ line, handle: known, reason: err.message });
      }
    }
    out.blobs = w.finish();
    return out;
  }
}
