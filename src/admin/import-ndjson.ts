import type { ValueReference } from '../model/value.js';
import { DEFAULT_PERMISSIONS, TtlType } from '../model/value.js';
import {
  PRIVATE_PERMISSIONS,
  RowError,
  type ValueDraft,
  checkIndex,
  checkType,
  dataFromJson,
  parsePermissions,
  parseTtl,
} from './import-values.js';

// One NDJSON line: {"handle": "88.118.8/X", "values": [{"index": 1, "type": "URL", "data": "https://…"}, …]}.
// Values take the REST API's shape (docs/rest-api.md §8), so `idres resolve --json` output re-imports.

export interface RawRow {
  handle: string;
  drafts: ValueDraft[];
}

const ROW_MEMBERS = new Set(['handle', 'values']);
const VALUE_MEMBERS = new Set(['index', 'type', 'data', 'ttl', 'permissions', 'private', 'timestamp', 'references']);

export function parseNdjsonRow(line: string, defaultTtl: number): RawRow {
  let row: unknown;
  try {
    row = JSON.parse(line);
  } catch (err) {
    throw new RowError(`not valid JSON (${(err as Error).message})`);
  }
  if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new RowError('the line is not a JSON object');
  const o = row as Record<string, unknown>;
  if (typeof o.handle !== 'string') throw new RowError('"handle" is missing or not a string');
  try {
    for (const k in o) if (!ROW_MEMBERS.has(k)) throw new RowError(`unknown member "${k}" (a row has "handle" and "values")`);
    if (!Array.isArray(o.values)) throw new RowError('"values" is missing or not an array');
    const drafts: ValueDraft[] = new Array(o.values.length);
    for (let i = 0; i < o.values.length; i++) drafts[i] = valueDraft(o.values[i], i, defaultTtl);
    return { handle: o.handle, drafts };
  } catch (err) {
    if (err instanceof RowError) err.handle = o.handle;
    throw err;
  }
}

function valueDraft(v: unknown, i: number, defaultTtl: number): ValueDraft {
  const where = `value ${i + 1}`;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RowError(`${where} is not an object`);
  const o = v as Record<string, unknown>;
  for (const k in o) if (!VALUE_MEMBERS.has(k)) throw new RowError(`${where}: unknown member "${k}"`);
  const type = checkType(o.type, where);
  if (o.data === undefined || o.data === null) throw new RowError(`${where} (${type}): "data" is missing`);
  const data = dataFromJson(o.data, `${where} (${type})`);
  let permissions = DEFAULT_PERMISSIONS;
  if (o.permissions !== undefined) {
    if (o.private !== undefined) throw new RowError(`${where}: give "permissions" or "private", not both`);
    permissions = parsePermissions(o.permissions, where);
  } else if (o.private !== undefined) {
    if (typeof o.private !== 'boolean') throw new RowError(`${where}: "private" must be true or false`);
    if (o.private) permissions = PRIVATE_PERMISSIONS;
  }
  const ttl = o.ttl === undefined ? { ttlType: TtlType.RELATIVE, ttl: defaultTtl } : parseTtl(o.ttl, where);
  const draft: ValueDraft = { type, data, permissions, ...ttl };
  if (o.index !== undefined) draft.index = checkIndex(o.index, where);
  if (o.references !== undefined && o.references !== null) draft.references = references(o.references, where);
  return draft;
}

function references(r: unknown, where: string): ValueReference[] {
  if (!Array.isArray(r)) throw new RowError(`${where}: "references" must be an array of {"handle", "index"}`);
  return r.map((e) => {
    const o = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
    if (typeof o.handle !== 'string' || o.handle.length === 0) throw new RowError(`${where}: each reference needs a "handle"`);
    return { handle: o.handle, index: checkIndex(o.index, where) };
  });
}
