import type { HandleValue } from '../model/value.js';
import { Limits } from './constants.js';
import { DecodeError } from './errors.js';
import type { Reader } from './reader.js';
import type { Writer } from './writer.js';

// The handle value on the wire (docs/protocol.md §4):
// index 4 | timestamp 4 | ttlType 1 | ttl 4 | permissions 1 | type str | data str | refs count 4 + (str handle, index 4)*

/** The smallest possible encoded value: 14 fixed bytes, empty type, empty data, no references. */
export const MIN_VALUE_SIZE = 14 + 4 + 4 + 4;

export function writeValue(w: Writer, v: HandleValue): void {
  w.u32(v.index).u32(v.timestamp).u8(v.ttlType).u32(v.ttl).u8(v.permissions).utf8(v.type).byteString(v.data);
  w.u32(v.references.length);
  for (const r of v.references) w.utf8(r.handle).u32(r.index);
}

export function readValue(r: Reader): HandleValue {
  const index = r.u32('value index');
  const timestamp = r.u32('value timestamp');
  const ttlType = r.u8('value TTL type');
  const ttl = r.u32('value TTL');
  const permissions = r.u8('value permissions');
  const type = r.utf8('value type', Limits.MAX_HANDLE_LENGTH);
  const data = Buffer.from(r.byteString('value data'));
  const nrefs = r.count('value references', Limits.MAX_VALUES, 8);
  const references = new Array(nrefs);
  for (let i = 0; i < nrefs; i++) {
    references[i] = { handle: r.utf8('reference handle', Limits.MAX_HANDLE_LENGTH), index: r.u32('reference index') };
  }
  if (ttlType > 1) throw new DecodeError(`value ${index} has unknown TTL type ${ttlType}`);
  return { index, timestamp, ttlType, ttl, permissions, type, data, references };
}

export function writeValueList(w: Writer, values: readonly HandleValue[]): void {
  w.u32(values.length);
  for (const v of values) writeValue(w, v);
}

export function readValueList(r: Reader): HandleValue[] {
  const n = r.count('values', Limits.MAX_VALUES, MIN_VALUE_SIZE);
  const out = new Array<HandleValue>(n);
  for (let i = 0; i < n; i++) out[i] = readValue(r);
  return out;
}
