import { isUtf8 } from 'node:buffer';
import { Limits } from './constants.js';
import { DecodeError } from './errors.js';
import { Reader } from './reader.js';
import type { ReaderFraming, StreamCursor, StreamSign, StreamVerify, WriterFraming } from './replication-framing.js';
import { STREAM_HANDLE_MAX } from './replication-requests.js';
import { readValue } from './values.js';
import type { Writer } from './writer.js';

// What the records of both replication streams share: the caps on what a record may claim, and the value
// lists (a count, then each value as a length and its protocol encoding). Handles are bytes as stored; each
// value is passed through as it is, but checked to be exactly one well-formed value.

/** Caps on what one record may claim, checked before its bytes are waited for. */
export const StreamLimits = {
  HANDLE: STREAM_HANDLE_MAX,
  VALUES: Limits.MAX_VALUES,
  /** One value: what fits in a message. */
  VALUE_BYTES: Limits.MAX_MESSAGE_LENGTH,
  /** All of one record: the handle and its values. */
  RECORD_BYTES: 4 * 1024 * 1024,
  QUEUE_NAME: 4096,
  /** The dump's replication status of other sites (the reference's StreamTable text). */
  STATUS_TEXT: 1024 * 1024,
} as const;

export const framingOf = (f: WriterFraming | StreamSign): WriterFraming => (typeof f === 'function' ? { kind: 'signed', sign: f } : f);
export const readerFramingOf = (f: ReaderFraming | StreamVerify): ReaderFraming => (typeof f === 'function' ? { verify: f } : f);

export function writeValues(w: Writer, values: readonly Buffer[]): void {
  w.u32(values.length);
  for (const v of values) w.byteString(v);
}

/** A count of values, each a length and one value's encoding; the record's total is capped as it is read. */
export function readValues(c: StreamCursor, used: number): Buffer[] {
  const n = c.i32();
  if (n < 0 || n > StreamLimits.VALUES) throw new DecodeError(`value count ${n} is outside 0..${StreamLimits.VALUES}`);
  const out = new Array<Buffer>(n);
  let total = used;
  for (let i = 0; i < n; i++) {
    const size = c.i32();
    if (size < 0 || size > StreamLimits.VALUE_BYTES) throw new DecodeError(`value of ${size} bytes is outside 0..${StreamLimits.VALUE_BYTES}`);
    total += 4 + size;
    if (total > StreamLimits.RECORD_BYTES) throw new DecodeError(`a record of more than ${StreamLimits.RECORD_BYTES} bytes`);
    const bytes = c.bytes(size);
    checkOneValue(bytes);
    out[i] = Buffer.from(bytes);
  }
  return out;
}

/** The bytes are exactly one value as values.ts reads it (the reference decodes each; a mirror stores them). */
function checkOneValue(bytes: Buffer): void {
  const r = new Reader(bytes);
  readValue(r);
  r.expectEnd('a value in the stream');
}

export function utf8Text(b: Buffer, what: string): string {
  if (!isUtf8(b)) throw new DecodeError(`${what} is not valid UTF-8`);
  return b.toString('utf8');
}
