import type { HandleValue } from '../model/value.js';
import { Limits, ResponseCode } from './constants.js';
import { DecodeError } from './errors.js';
import { Reader } from './reader.js';
import { readValueList, writeValueList } from './values.js';
import { Writer } from './writer.js';

// Bodies of the administration opcodes (docs/protocol.md §11.2): CREATE_HANDLE 100 … LIST_HANDLES 105,
// HOME_NA/UNHOME_NA/LIST_HOMED_NAS 300–302, and the bodies that carry only a handle. Pure: bytes in, values out.

/** CREATE_HANDLE (100), ADD_VALUE (102), MODIFY_VALUE (104): a handle and values. */
export interface HandleWithValues {
  handle: string;
  values: HandleValue[];
}

export function encodeHandleWithValues(handle: string, values: readonly HandleValue[]): Buffer {
  const w = new Writer(256).utf8(handle);
  writeValueList(w, values);
  return Buffer.from(w.finish());
}

export function decodeHandleWithValues(body: Buffer, what: string): HandleWithValues {
  const r = new Reader(body);
  const handle = readHandle(r, what);
  const values = readValueList(r);
  r.restOfBody();
  return { handle, values };
}

/** REMOVE_VALUE (103): a handle and the indexes to remove. */
export function encodeRemoveValues(handle: string, indexes: readonly number[]): Buffer {
  const w = new Writer(64).utf8(handle).u32(indexes.length);
  for (const i of indexes) w.u32(i);
  return Buffer.from(w.finish());
}

export function decodeRemoveValues(body: Buffer): { handle: string; indexes: number[] } {
  const r = new Reader(body);
  const handle = readHandle(r, 'remove-value request');
  const n = r.count('indexes', Limits.MAX_VALUES, 4);
  const indexes: number[] = [];
  for (let i = 0; i < n; i++) indexes.push(r.u32('index'));
  r.restOfBody();
  return { handle, indexes };
}

/** DELETE_HANDLE (101), LIST_HANDLES (105), HOME_NA (300), UNHOME_NA (301), LIST_HOMED_NAS (302), 401: one handle. */
export function encodeHandleOnly(handle: string): Buffer {
  return Buffer.from(new Writer(32).utf8(handle).finish());
}

export function decodeHandleOnly(body: Buffer, what: string): string {
  const r = new Reader(body);
  const handle = readHandle(r, what);
  r.restOfBody();
  return handle;
}

/** The success body of CREATE_HANDLE: the handle created (a minted one included). */
export function encodeCreateResponse(handle: string): Buffer {
  return encodeHandleOnly(handle);
}

/** An empty create response body means "no handle returned", as the reference client reads it. */
export function decodeCreateResponse(body: Buffer): string | undefined {
  if (body.length === 0) return undefined;
  return decodeHandleOnly(body, 'create response');
}

/** One message of a streamed LIST_HANDLES / LIST_HOMED_NAS response: a count and the handles. */
export function encodeHandleList(handles: readonly string[]): Buffer {
  const w = new Writer(64 + handles.length * 24).u32(handles.length);
  for (const h of handles) w.utf8(h);
  return Buffer.from(w.finish());
}

export function decodeHandleList(r: Reader): string[] {
  const n = r.count('handles', Limits.MAX_ARRAY, 4);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(r.utf8('listed handle', Limits.MAX_HANDLE_LENGTH));
  r.restOfBody();
  return out;
}

function readHandle(r: Reader, what: string): string {
  const bytes = r.byteString(`${what} handle`, Limits.MAX_HANDLE_LENGTH);
  // A handle that is not UTF-8 is the reference's INVALID_HANDLE, not a protocol error.
  const s = bytes.toString('utf8');
  if (!Buffer.from(s, 'utf8').equals(bytes)) throw new DecodeError(`${what}: the handle is not valid UTF-8`, ResponseCode.INVALID_HANDLE);
  return s;
}
