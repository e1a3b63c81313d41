import { DEFAULT_PERMISSIONS, DEFAULT_TTL, type HandleValue, Perm, TtlType, type ValueReference } from '../model/value.js';
import { RowError, checkIndex, checkType, dataFromJson, parsePermissions, parseTtl } from '../admin/import-values.js';

// PUT bodies of the JSON API, read as the reference reads them (docs/rest-api.md §4.1 and §8.1):
// an array of values, {"values": [...]} (with an optional "handle" that must name the same handle), or one
// value object. Data is {format, value} in any of the seven formats, or a bare JSON primitive taken as text.
// Incoming timestamps are ignored: the registry stamps what it stores.

export class BodyError extends Error {
  override name = 'BodyError';
}

export interface PutBody {
  values: HandleValue[];
  /** The "handle" member, when the body had one. */
  handle?: string;
}

export function parsePutBody(text: string): PutBody {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new BodyError('Invalid JSON in PUT request');
  }
  let list: unknown[];
  let handle: string | undefined;
  if (Array.isArray(raw)) list = raw;
  else if (typeof raw === 'object' && raw !== null) {
    const o = raw as Record<string, unknown>;
    if ('values' in o) {
      if (o.values === null) list = [];
      else if (Array.isArray(o.values)) list = o.values;
      else throw new BodyError('Invalid JSON in PUT request');
      if (o.handle !== undefined && o.handle !== null) {
        if (typeof o.handle !== 'string') throw new BodyError('Invalid JSON in PUT request');
        handle = o.handle;
      }
    } else if ('index' in o && 'type' in o && 'data' in o) list = [o];
    else throw new BodyError('Invalid JSON in PUT request');
  } else throw new BodyError('Invalid JSON in PUT request');
  const values = list.map((v, i) => valueFromJson(v, `value ${i + 1}`));
  return handle === undefined ? { values } : { values, handle };
}

/** One value object of a PUT body. */
export function valueFromJson(v: unknown, where: string): HandleValue {
  try {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RowError(`${where} is not an object`);
    const o = v as Record<string, unknown>;
    // The reference truncates a fractional index; a numeric string is read as its number.
    const index = checkIndex(typeof o.index === 'number' ? Math.trunc(o.index) : o.index, where);
    const type = checkType(o.type, where);
    if (o.data === undefined || o.data === null) throw new RowError(`${where} (${type}): "data" is missing`);
    const data = dataFromJson(o.data, `${where} (${type})`);
    const ttl = o.ttl === undefined || o.ttl === null ? { ttlType: TtlType.RELATIVE, ttl: DEFAULT_TTL } : parseTtl(o.ttl, where);
    let permissions = DEFAULT_PERMISSIONS;
    if (o.permissions === '*') permissions = Perm.ADMIN_READ | Perm.ADMIN_WRITE | Perm.PUBLIC_READ | Perm.PUBLIC_WRITE;
    else if (o.permissions !== undefined && o.permissions !== null) permissions = parsePermissions(o.permissions, where);
    return { index, type, data, ...ttl, timestamp: 0, permissions, references: references(o.references, where) };
  } catch (err) {
    if (err instanceof RowError) throw new BodyError(err.message);
    throw err;
  }
}

function references(r: unknown, where: string): ValueReference[] {
  if (r === undefined || r === null) return [];
  if (!Array.isArray(r)) throw new RowError(`${where}: "references" must be a list of {"handle", "index"}`);
  return r.map((e) => {
    const o = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
    if (typeof o.handle !== 'string' || o.handle.length === 0) throw new RowError(`${where}: each reference needs a "handle"`);
    return { handle: o.handle, index: checkIndex(o.index, where) };
  });
}
