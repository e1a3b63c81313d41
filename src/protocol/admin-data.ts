import type { AdminRecord, VListEntry } from '../model/admin.js';
import { Limits } from './constants.js';
import { DecodeError } from './errors.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';

// HS_ADMIN data: permissions 2 | admin handle str | admin index 4 (the reference also reads a legacy 4-byte
// permission field). HS_VLIST data: count 4 + (handle str, index 4)*.

export function encodeAdmin(a: AdminRecord): Buffer {
  return Buffer.from(new Writer(32).u16(a.permissions).utf8(a.handle).u32(a.index).finish());
}

export function decodeAdmin(data: Buffer): AdminRecord {
  // The two layouts differ only in the permission width; the one whose lengths add up is the one used.
  for (const width of [2, 4] as const) {
    if (data.length < width + 8) continue;
    const hlen = data.readUInt32BE(width);
    if (width + 4 + hlen + 4 !== data.length) continue;
    const r = new Reader(data);
    const permissions = width === 2 ? r.u16() : r.u32();
    const handle = r.utf8('admin handle', Limits.MAX_HANDLE_LENGTH);
    const index = r.u32('admin index');
    return { permissions: permissions & 0xffff, handle, index };
  }
  throw new DecodeError('HS_ADMIN data is neither the 2-byte nor the 4-byte permission layout', 202);
}

export function encodeVList(entries: readonly VListEntry[]): Buffer {
  const w = new Writer(64).u32(entries.length);
  for (const e of entries) w.utf8(e.handle).u32(e.index);
  return Buffer.from(w.finish());
}

export function decodeVList(data: Buffer): VListEntry[] {
  const r = new Reader(data);
  const n = r.count('vlist', Limits.MAX_VALUES, 8);
  const out: VListEntry[] = [];
  for (let i = 0; i < n; i++) out.push({ handle: r.utf8('vlist handle', Limits.MAX_HANDLE_LENGTH), index: r.u32('vlist index') });
  r.expectEnd('HS_VLIST data');
  return out;
}
