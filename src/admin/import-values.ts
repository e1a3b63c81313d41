import type { AdminRecord, VListEntry } from '../model/admin.js';
import { ALL_ADMIN_PERMISSIONS } from '../model/admin.js';
import { DEFAULT_PERMISSIONS, DEFAULT_TTL, type HandleValue, Index, Perm, TtlType, type ValueReference } from '../model/value.js';
import { encodeAdmin, encodeVList } from '../protocol/admin-data.js';
import { JsonInputError, keyFromJson, siteFromJson } from '../protocol/json.js';
import { encodeSite } from '../protocol/site.js';
import { assignIndexes, prefixAdminData } from './defaults.js';

// The pieces of an imported value that both formats share: data in the REST API's {format, value} shape,
// permissions, TTLs, index assignment, and the default HS_ADMIN. Everything here throws RowError, whose
// message names the problem for the row's line in the error report.

/** A row that cannot be imported; the message is what the error report says about it. */
export class RowError extends Error {
  override name = 'RowError';
  /** The row's handle, when it could be read before the problem. */
  handle: string | undefined;
}

export const MAX_INDEX = 0xffffffff;

/** Permissions of a value only administrators may read or change. */
export const PRIVATE_PERMISSIONS = Perm.ADMIN_READ | Perm.ADMIN_WRITE;

/** A value as a row gives it, before its index is settled. */
export interface ValueDraft {
  index?: number;
  type: string;
  data: Buffer;
  ttlType: number;
  ttl: number;
  permissions: number;
  references?: ValueReference[];
}

export function checkType(type: unknown, where: string): string {
  if (typeof type !== 'string' || type.length === 0) throw new RowError(`${where}: "type" must be a non-empty string`);
  if (/[\x00-\x1f\x7f]/.test(type)) throw new RowError(`${where}: the type contains a control character`);
  return type;
}

export function checkIndex(index: unknown, where: string): number {
  const n = typeof index === 'string' && /^\d+$/.test(index) ? Number(index) : index;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_INDEX) {
    throw new RowError(`${where}: index ${JSON.stringify(index)} is not a whole number from 1 to ${MAX_INDEX}`);
  }
  return n;
}

/** A relative TTL in seconds, or (a string) an absolute expiry date in ISO 8601. */
export function parseTtl(ttl: unknown, where: string): { ttlType: number; ttl: number } {
  if (typeof ttl === 'number') {
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > MAX_INDEX) throw new RowError(`${where}: ttl ${ttl} is not a whole number of seconds`);
    return { ttlType: TtlType.RELATIVE, ttl };
  }
  if (typeof ttl === 'string') {
    const ms = /^\d{4}-\d{2}-\d{2}/.test(ttl) ? Date.parse(ttl) : NaN;
    if (Number.isNaN(ms) || ms < 0 || ms / 1000 > MAX_INDEX) throw new RowError(`${where}: ttl "${ttl}" is neither seconds nor an ISO 8601 date`);
    return { ttlType: TtlType.ABSOLUTE, ttl: Math.floor(ms / 1000) };
  }
  throw new RowError(`${where}: ttl must be a number of seconds or an ISO 8601 date`);
}

/**
 * "1110": admin read, admin write, public read, public write, each 0 or 1 (the REST API's order; all four
 * are read, unlike the reference's quirk of ignoring the first).
 */
export function parsePermissions(p: unknown, where: string): number {
  if (typeof p !== 'string' || !/^[01]{4}$/.test(p)) {
    throw new RowError(`${where}: permissions ${JSON.stringify(p)} is not four 0/1 characters such as "1110"`);
  }
  const bits = [Perm.ADMIN_READ, Perm.ADMIN_WRITE, Perm.PUBLIC_READ, Perm.PUBLIC_WRITE];
  let out = 0;
  for (let i = 0; i < 4; i++) if (p[i] === '1') out |= bits[i]!;
  return out;
}

const BASE64_RE = /^[A-Za-z0-9+/_-]*={0,2}$/;
const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

export function decodeBase64(s: string, where: string): Buffer {
  const compact = s.replace(/\s+/g, '');
  if (!BASE64_RE.test(compact) || compact.replace(/=+$/, '').length % 4 === 1) throw new RowError(`${where}: the data is not valid base64`);
  return Buffer.from(compact, 'base64');
}

export function decodeHex(s: string, where: string): Buffer {
  if (!HEX_RE.test(s)) throw new RowError(`${where}: the data is not an even number of hex digits`);
  return Buffer.from(s, 'hex');
}

function adminFromJson(v: unknown, where: string): AdminRecord {
  if (typeof v !== 'object' || v === null) throw new RowError(`${where}: admin data must be {"handle", "index", "permissions"}`);
  const o = v as Record<string, unknown>;
  if (typeof o.handle !== 'string' || o.handle.length === 0) throw new RowError(`${where}: admin data needs a "handle"`);
  const index = checkIndex(o.index, where);
  let permissions: number;
  if (o.permissions === undefined || o.permissions === '*') permissions = ALL_ADMIN_PERMISSIONS;
  else if (typeof o.permissions === 'string' && /^[01]{1,12}$/.test(o.permissions)) permissions = parseInt(o.permissions, 2);
  else if (typeof o.permissions === 'number' && Number.isInteger(o.permissions) && o.permissions >= 0 && o.permissions <= 0xfff) {
    permissions = o.permissions;
  } else throw new RowError(`${where}: admin permissions must be up to twelve 0/1 characters (LIST_HANDLES first)`);
  return { handle: o.handle, index, permissions };
}

function vlistFromJson(v: unknown, where: string): VListEntry[] {
  if (!Array.isArray(v)) throw new RowError(`${where}: vlist data must be an array of {"handle", "index"}`);
  return v.map((e) => {
    const o = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
    if (typeof o.handle !== 'string' || o.handle.length === 0) throw new RowError(`${where}: each vlist entry needs a "handle"`);
    return { handle: o.handle, index: checkIndex(o.index, where) };
  });
}

/** `data` as NDJSON gives it: text, a number or boolean (taken as its text), or {format, value}. */
export function dataFromJson(data: unknown, where: string): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (typeof data === 'number' || typeof data === 'boolean') return Buffer.from(String(data), 'utf8');
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new RowError(`${where}: "data" must be text or {"format": …, "value": …}`);
  }
  const o = data as Record<string, unknown>;
  const format = typeof o.format === 'string' ? o.format.toLowerCase() : undefined;
  const value = o.value;
  switch (format) {
    case 'string':
      if (typeof value !== 'string') throw new RowError(`${where}: a string value must be text`);
      return Buffer.from(value, 'utf8');
    case 'base64':
      if (typeof value !== 'string') throw new RowError(`${where}: a base64 value must be text`);
      return decodeBase64(value, where);
    case 'hex':
      if (typeof value !== 'string') throw new RowError(`${where}: a hex value must be text`);
      return decodeHex(value, where);
    case 'admin':
      return encodeAdmin(adminFromJson(value, where));
    case 'vlist':
      return encodeVList(vlistFromJson(value, where));
    case 'site':
    case 'key':
      try {
        return format === 'site' ? encodeSite(siteFromJson(value)) : keyFromJson(value);
      } catch (err) {
        if (err instanceof JsonInputError) throw new RowError(`${where}: ${err.message}`);
        throw err;
      }
    case undefined:
      throw new RowError(`${where}: "data" needs a "format" (string, base64, hex, admin, vlist, site or key)`);
    default:
      throw new RowError(`${where}: data format "${String(o.format)}" is not known (use string, base64, hex, admin, vlist, site or key)`);
  }
}

export interface ValueDefaults {
  /** TTL in seconds of values that do not give one. */
  ttl: number;
  /** Add the HS_ADMIN of the prefix's administrator at index 100 when the row has no value at 100. */
  admin: boolean;
}

const adminCache = new Map<string, Buffer>();

/** HS_ADMIN naming the prefix's administrator (0.NA/PREFIX, key at 300), as `idres register` adds it. */
function defaultAdminData(prefix: string): Buffer {
  let b = adminCache.get(prefix);
  if (!b) {
    b = prefixAdminData(prefix);
    if (adminCache.size > 1000) adminCache.clear();
    adminCache.set(prefix, b);
  }
  return b;
}

/**
 * Give drafts without an index 1, 2, 3 … (skipping indexes taken and 100), refuse an index given twice, add
 * the default HS_ADMIN; sorted by index, as the registry returns them, so rows compare with stored records.
 */
export function settleValues(drafts: readonly ValueDraft[], prefix: string, defaults: ValueDefaults): HandleValue[] {
  if (drafts.length === 0) throw new RowError('the row has no values');
  const indexes = assignIndexes(
    drafts.map((d) => d.index),
    (i) => new RowError(`index ${i} is given twice`),
  );
  const out: HandleValue[] = drafts.map((d, k) => ({
    index: indexes[k]!,
    type: d.type,
    data: d.data,
    ttlType: d.ttlType,
    ttl: d.ttl,
    timestamp: 0,
    permissions: d.permissions,
    references: d.references ?? [],
  }));
  if (defaults.admin && !indexes.includes(Index.HS_ADMIN)) {
    out.push({
      index: Index.HS_ADMIN,
      type: 'HS_ADMIN',
      data: defaultAdminData(prefix),
      // As `idres register` writes it, whatever the TTL of the row's own values.
      ttlType: TtlType.RELATIVE,
      ttl: DEFAULT_TTL,
      timestamp: 0,
      permissions: DEFAULT_PERMISSIONS,
      references: [],
    });
  }
  return out.sort((a, b) => a.index - b.index);
}
