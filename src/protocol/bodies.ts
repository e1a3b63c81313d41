import type { HandleValue } from '../model/value.js';
import type { SiteInfo } from '../model/site.js';
import { DigestType, Limits } from './constants.js';
import { DecodeError } from './errors.js';
import { Reader } from './reader.js';
import { readSite, writeSite } from './site.js';
import { readValueList, writeValueList } from './values.js';
import { Writer } from './writer.js';

// Message bodies per opcode (docs/protocol.md §2, §3 and §11.2). Encoders return the body bytes;
// response encoders leave the optional request digest to the caller, who prepends it as a separate part.

export interface ResolutionRequest {
  handle: string;
  /** The handle as its raw UTF-8 bytes (a view), for cache keys that avoid re-encoding. */
  handleBytes: Buffer;
  indexes: number[];
  types: string[];
  /** Bytes of the body up to the end of the type list: what selects the answer, and so its cache key. */
  keyLength: number;
  /**
   * The national SDK's recursion token: a byte string after the type list (present, perhaps empty, in
   * every resolution it sends; OpFlag 0x00000004 when not empty). Undefined when the body ends after the
   * types, or when what follows them is not exactly one byte string. It selects nothing (docs/idis.md).
   */
  token?: Buffer;
}

export function encodeResolutionRequest(handle: string, indexes: readonly number[] = [], types: readonly string[] = [], token?: Buffer): Buffer {
  const w = new Writer(64).utf8(handle).u32(indexes.length);
  for (const i of indexes) w.u32(i);
  w.u32(types.length);
  for (const t of types) w.utf8(t);
  if (token) w.byteString(token);
  return Buffer.from(w.finish());
}

export function decodeResolutionRequest(body: Buffer): ResolutionRequest {
  const r = new Reader(body);
  const handleBytes = r.byteString('handle', Limits.MAX_HANDLE_LENGTH);
  r.pos -= handleBytes.length + 4;
  const handle = r.utf8('handle', Limits.MAX_HANDLE_LENGTH);
  const ni = r.count('indexes', Limits.MAX_VALUES, 4);
  const indexes = new Array<number>(ni);
  for (let i = 0; i < ni; i++) indexes[i] = r.u32('index');
  const nt = r.count('types', Limits.MAX_VALUES, 4);
  const types = new Array<string>(nt);
  for (let i = 0; i < nt; i++) types[i] = r.utf8('type', Limits.MAX_HANDLE_LENGTH);
  const keyLength = r.pos;
  const rest = r.restOfBody();
  const token = rest.length >= 4 && rest.readUInt32BE(0) === rest.length - 4 ? rest.subarray(4) : undefined;
  return token ? { handle, handleBytes, indexes, types, keyLength, token } : { handle, handleBytes, indexes, types, keyLength };
}

/**
 * Where the fields that select a resolution's answer end in buf[start, end) (a request body): after the
 * handle, the index list and the type list. -1 when they do not fit (the full decoder then says why).
 * The hot path keys the cache by these bytes without decoding them, so a token or any other bytes after
 * the type list share the answer of the request without them, as the full path does.
 */
export function resolutionKeyEnd(buf: Buffer, start: number, end: number): number {
  let pos = start;
  if (end - pos < 4) return -1;
  const handleLength = buf.readUInt32BE(pos);
  if (handleLength > Limits.MAX_HANDLE_LENGTH || end - pos - 4 < handleLength + 4) return -1;
  pos += 4 + handleLength;
  const indexes = buf.readUInt32BE(pos);
  if (indexes > Limits.MAX_VALUES || end - pos - 4 < indexes * 4 + 4) return -1;
  pos += 4 + indexes * 4;
  const types = buf.readUInt32BE(pos);
  if (types > Limits.MAX_VALUES) return -1;
  pos += 4;
  for (let i = 0; i < types; i++) {
    if (end - pos < 4) return -1;
    const n = buf.readUInt32BE(pos);
    if (n > Limits.MAX_HANDLE_LENGTH || end - pos - 4 < n) return -1;
    pos += 4 + n;
  }
  return pos;
}

/** A success body: handle and values (without the digest). */
export function encodeHandleValues(handle: string, values: readonly HandleValue[]): Buffer {
  const w = new Writer(256).utf8(handle);
  writeValueList(w, values);
  return Buffer.from(w.finish());
}

/**
 * A body that starts with a handle (a resolution request, a success answer to one) with that handle
 * replaced: how a bare-prefix query is asked and answered as the prefix handle it names.
 */
export function withLeadingHandle(body: Buffer, handle: string): Buffer {
  const old = body.readUInt32BE(0);
  const h = Buffer.from(handle, 'utf8');
  const out = Buffer.allocUnsafe(body.length - old + h.length);
  out.writeUInt32BE(h.length, 0);
  h.copy(out, 4);
  body.copy(out, 4 + h.length, 4 + old);
  return out;
}

/** Read the optional request digest at the start of a response body: type 1/2/3 + hash, or the old str-MD5 form. */
export function readDigest(r: Reader): { type: number; digest: Buffer } {
  const first = r.buf[r.pos];
  if (first === DigestType.MD5) return { type: r.u8(), digest: r.bytes(16, 'MD5 digest') };
  if (first === DigestType.SHA1) return { type: r.u8(), digest: r.bytes(20, 'SHA-1 digest') };
  if (first === DigestType.SHA256) return { type: r.u8(), digest: r.bytes(32, 'SHA-256 digest') };
  return { type: DigestType.OLD_MD5, digest: r.byteString('old-format digest', 64) };
}

export interface ResolutionResponse {
  digest?: { type: number; digest: Buffer };
  handle: string;
  values: HandleValue[];
}

export function decodeResolutionResponse(body: Buffer, hasDigest: boolean): ResolutionResponse {
  const r = new Reader(body);
  const digest = hasDigest ? readDigest(r) : undefined;
  const handle = r.utf8('handle', Limits.MAX_HANDLE_LENGTH);
  const values = readValueList(r);
  r.restOfBody();
  return digest ? { digest, handle, values } : { handle, values };
}

/** Generic error body: a UTF-8 message (possibly empty). */
export function encodeErrorBody(message: string): Buffer {
  return Buffer.from(new Writer(8 + message.length * 3).utf8(message).finish());
}

export function decodeErrorBody(body: Buffer, hasDigest: boolean): { digest?: { type: number; digest: Buffer }; message: string } {
  const r = new Reader(body);
  const digest = hasDigest && r.remaining > 4 ? readDigest(r) : undefined;
  // An empty body is tolerated as an empty message.
  const message = r.remaining === 0 ? '' : r.utf8('error message');
  return digest ? { digest, message } : { message };
}

/** GET_SITE_INFO request: one UTF-8 handle (the reference client sends "/"). */
export function encodeSiteInfoRequest(handle = '/'): Buffer {
  return Buffer.from(new Writer(16).utf8(handle).finish());
}

export function decodeSiteInfoRequest(body: Buffer): string {
  const r = new Reader(body);
  // Some clients send an empty body; treat it as "/".
  if (r.remaining === 0) return '/';
  const h = r.utf8('handle', Limits.MAX_HANDLE_LENGTH);
  r.restOfBody();
  return h;
}

export function encodeSiteInfoResponse(site: SiteInfo): Buffer {
  const w = new Writer(512);
  writeSite(w, site);
  return Buffer.from(w.finish());
}

export function decodeSiteInfoResponse(body: Buffer, hasDigest: boolean): SiteInfo {
  const r = new Reader(body);
  if (hasDigest) readDigest(r);
  const site = readSite(r);
  r.restOfBody();
  return site;
}

/** 302/303 referral body: a handle (may be empty) and, if bytes remain, a value list. */
export function encodeReferral(handle: string, values: readonly HandleValue[]): Buffer {
  const w = new Writer(512).utf8(handle);
  writeValueList(w, values);
  return Buffer.from(w.finish());
}

export function decodeReferral(body: Buffer, hasDigest: boolean): { handle: string; values: HandleValue[] } {
  const r = new Reader(body);
  if (hasDigest) readDigest(r);
  const handle = r.utf8('referral handle', Limits.MAX_HANDLE_LENGTH);
  const values = r.remaining > 0 ? readValueList(r) : [];
  r.restOfBody();
  return { handle, values };
}

/** 402 challenge body: the nonce as a byte string (the digest, always present, is a separate leading part). */
export function encodeChallenge(nonce: Buffer): Buffer {
  return Buffer.from(new Writer(24).byteString(nonce).finish());
}

export function decodeChallenge(body: Buffer): { digest: { type: number; digest: Buffer }; nonce: Buffer } {
  const r = new Reader(body);
  const digest = readDigest(r);
  const nonce = Buffer.from(r.byteString('nonce', 1024));
  r.restOfBody();
  if (nonce.length === 0) throw new DecodeError('empty nonce');
  return { digest, nonce };
}
