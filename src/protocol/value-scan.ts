import { Perm, TtlType } from '../model/value.js';
import { Limits } from './constants.js';
import { MIN_VALUE_SIZE } from './values.js';

// A walk over an encoded value list (values.ts: count, then index 4 | timestamp 4 | ttlType 1 | ttl 4 |
// permissions 1 | type str | data str | refs count 4 + (str handle, index 4)*) that reads only the fixed
// fields and the lengths, for the miss path that answers by copying a stored list as it is
// (resolve/blob-miss.ts): it says whether every value is public and how long the answer may be cached,
// without making a single object. A list it will not vouch for is left to the decoder, which says why.

/** Why scanPublicValueList would not vouch for a list (every refusal is negative; a TTL never is). */
export const ScanRefusal = {
  /** A value a reader without authentication may not see: the answer needs a selection (or a challenge). */
  NOT_PUBLIC: -1,
  /** A type or reference handle with a byte above 0x7f: ASCII is valid UTF-8 at a glance, the rest is the decoder's to judge. */
  NOT_ASCII: -2,
  /** Lengths, counts or a TTL type the decoder would refuse, or bytes left over. */
  MALFORMED: -3,
  /** No values at all (answered 200, not 1). */
  EMPTY: -4,
} as const;

/**
 * The list at buf[start, end) (its count first): when every value is public, the smallest TTL its values
 * give at nowSeconds (what minTtlSeconds would say of them, at least 0); otherwise a negative ScanRefusal.
 * Checks what readValueList checks, except that strings must be ASCII (not merely UTF-8).
 */
export function scanPublicValueList(buf: Buffer, start: number, end: number, nowSeconds: number): number {
  if (end - start < 4) return ScanRefusal.MALFORMED;
  const n = buf.readUInt32BE(start);
  if (n > Limits.MAX_VALUES || n * MIN_VALUE_SIZE > end - start - 4) return ScanRefusal.MALFORMED;
  if (n === 0) return start + 4 === end ? ScanRefusal.EMPTY : ScanRefusal.MALFORMED;
  let pos = start + 4;
  let min = Infinity;
  for (let i = 0; i < n; i++) {
    if (end - pos < 14) return ScanRefusal.MALFORMED;
    const ttlType = buf[pos + 8]!;
    const ttl = buf.readUInt32BE(pos + 9);
    if (ttlType > 1) return ScanRefusal.MALFORMED;
    if ((buf[pos + 13]! & Perm.PUBLIC_READ) === 0) return ScanRefusal.NOT_PUBLIC;
    const t = ttlType === TtlType.ABSOLUTE ? ttl - nowSeconds : ttl;
    if (t < min) min = t;
    pos = asciiString(buf, pos + 14, end, Limits.MAX_HANDLE_LENGTH);
    if (pos < 0) return pos;
    // The data: any bytes, within the decoder's bound.
    if (end - pos < 4) return ScanRefusal.MALFORMED;
    const dataLength = buf.readUInt32BE(pos);
    if (dataLength > Limits.MAX_MESSAGE_LENGTH || dataLength > end - pos - 4) return ScanRefusal.MALFORMED;
    pos += 4 + dataLength;
    if (end - pos < 4) return ScanRefusal.MALFORMED;
    const refs = buf.readUInt32BE(pos);
    pos += 4;
    if (refs > Limits.MAX_VALUES || refs * 8 > end - pos) return ScanRefusal.MALFORMED;
    for (let r = 0; r < refs; r++) {
      pos = asciiString(buf, pos, end, Limits.MAX_HANDLE_LENGTH);
      if (pos < 0) return pos;
      if (end - pos < 4) return ScanRefusal.MALFORMED;
      pos += 4;
    }
  }
  if (pos !== end) return ScanRefusal.MALFORMED;
  return Math.max(0, min);
}

/** Past a length-prefixed ASCII string at pos, or a negative ScanRefusal. */
function asciiString(buf: Buffer, pos: number, end: number, max: number): number {
  if (end - pos < 4) return ScanRefusal.MALFORMED;
  const length = buf.readUInt32BE(pos);
  if (length > max || length > end - pos - 4) return ScanRefusal.MALFORMED;
  pos += 4;
  const stop = pos + length;
  for (let i = pos; i < stop; i++) if (buf[i]! > 0x7f) return ScanRefusal.NOT_ASCII;
  return stop;
}
