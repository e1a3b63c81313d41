import type { HandleValue } from '../model/value.js';
import { DecodeError } from '../protocol/errors.js';
import { Reader } from '../protocol/reader.js';
import { MIN_VALUE_SIZE, readValue, readValueList, writeValue } from '../protocol/values.js';
import { Writer } from '../protocol/writer.js';

// How a handle's values are stored: one blob per handle, a format byte and then the value list exactly as
// the Handle protocol encodes it (docs/protocol.md §4: count, then each value with its index,
// timestamp, TTL, permissions, type, data and references). One row per handle makes a lookup one B-tree
// search and an import one insert per identifier; the wire form is a layout already specified to the byte,
// checked by the codec's tests, and what an answer carries.

/** The first byte of every blob; a later layout would take the next number. */
export const VALUE_BLOB_FORMAT = 1;

/**
 * The values, sorted by index, as one blob (a view of the writer's buffer: SQLite copies what it binds).
 * With `stampedAt`, every value is written with that timestamp (a write stamps what it stores, as the
 * reference does) without copying the values first.
 */
export function encodeValues(values: readonly HandleValue[], stampedAt?: number): Buffer {
  const w = new Writer(64 + values.length * 96);
  appendValues(w, values, stampedAt);
  return w.finish();
}

/** The blob of encodeValues written at the writer's position (many blobs into one buffer, for a batch). */
export function appendValues(w: Writer, values: readonly HandleValue[], stampedAt?: number): void {
  const sorted = isSortedByIndex(values) ? values : [...values].sort((a, b) => a.index - b.index);
  w.u8(VALUE_BLOB_FORMAT);
  w.u32(sorted.length);
  for (const v of sorted) {
    const at = w.pos;
    writeValue(w, v);
    if (stampedAt !== undefined) w.patchU32(at + 4, stampedAt); // after the 4-byte index
  }
}

/**
 * A stored blob that does not read whole: the registry file is damaged (or was written by something else).
 * Not a DecodeError, whose response codes are about what a client sent: a reader answers this with RC 2.
 */
export class DamagedValuesError extends Error {
  constructor(message: string) {
    super(`damaged registry row: ${message}`);
    this.name = 'DamagedValuesError';
  }
}

/** The values of a stored blob, in index order. */
export function decodeValues(blob: Buffer): HandleValue[] {
  if (blob.length < 5 || blob[0] !== VALUE_BLOB_FORMAT) {
    throw new DamagedValuesError(`stored values have format ${blob[0] ?? 'none'}, not ${VALUE_BLOB_FORMAT}`);
  }
  try {
    const r = new Reader(blob, 1);
    const values = readValueList(r);
    if (r.remaining !== 0) throw new DamagedValuesError(`stored values have ${r.remaining} bytes left over`);
    return values;
  } catch (err) {
    if (err instanceof DecodeError) throw new DamagedValuesError(err.message);
    throw err;
  }
}

function isSortedByIndex(values: readonly HandleValue[]): boolean {
  for (let i = 1; i < values.length; i++) if (values[i - 1]!.index >= values[i]!.index) return false;
  return true;
}

/**
 * A stored blob as its values' encodings, one Buffer each (views of the blob, in index order): what a
 * replication stream carries per value, passed on without being decoded into objects and encoded again.
 */
export function splitValues(blob: Buffer): Buffer[] {
  if (blob.length < 5 || blob[0] !== VALUE_BLOB_FORMAT) {
    throw new DamagedValuesError(`stored values have format ${blob[0] ?? 'none'}, not ${VALUE_BLOB_FORMAT}`);
  }
  try {
    const r = new Reader(blob, 1);
    const n = r.u32('value count');
    const out: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const start = r.pos;
      readValue(r);
      out.push(blob.subarray(start, r.pos));
    }
    if (r.remaining !== 0) throw new DamagedValuesError(`stored values have ${r.remaining} bytes left over`);
    return out;
  } catch (err) {
    if (err instanceof DecodeError) throw new DamagedValuesError(err.message);
    throw err;
  }
}

/**
 * The blob of values received one encoding each (a mirror's copy of its primary's). Each is one well-formed
 * value already (the replication stream's reader checks every one); here the indexes must be distinct, or it
 * is a DecodeError and nothing is stored. Values are kept as sent (their timestamps are the primary's), sorted
 * by index as every blob is.
 */
export function joinValues(encoded: readonly Buffer[]): Buffer {
  const parsed: Array<{ index: number; bytes: Buffer }> = [];
  const seen = new Set<number>();
  let bytes = 5;
  for (const b of encoded) {
    if (b.length < MIN_VALUE_SIZE) throw new DecodeError(`a value of ${b.length} bytes is shorter than any value`);
    const index = b.readUInt32BE(0);
    if (seen.has(index)) throw new DecodeError(`two values with index ${index}`);
    seen.add(index);
    parsed.push({ index, bytes: b });
    bytes += b.length;
  }
  parsed.sort((a, b) => a.index - b.index);
  const w = new Writer(bytes);
  w.u8(VALUE_BLOB_FORMAT).u32(parsed.length);
  for (const p of parsed) w.bytes(p.bytes);
  return w.finish();
}
