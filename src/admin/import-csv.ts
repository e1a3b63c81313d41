import { DEFAULT_PERMISSIONS, Index, TtlType } from '../model/value.js';
import type { RawRow } from './import-ndjson.js';
import { MAX_INDEX, PRIVATE_PERMISSIONS, RowError, type ValueDraft, decodeBase64, decodeHex } from './import-values.js';

// CSV for a manufacturer's spreadsheet: a header naming a `handle` column and one column per value type,
// e.g. `handle,URL,productName,batch`; a row's empty cells are left out. A header may fix an index and say
// how the cell is read: `internal.cost@20[private]`, `EMAIL[ttl=3600]`, `cert@30[base64]` (docs/import.md).

/** A header that cannot be used: the whole file is refused before any row is read. */
export class CsvHeaderError extends Error {
  override name = 'CsvHeaderError';
}

interface ValueColumn {
  column: number;
  type: string;
  index: number;
  ttl?: number;
  permissions: number;
  encoding: 'text' | 'hex' | 'base64';
}

export interface CsvPlan {
  handleColumn: number;
  columns: ValueColumn[];
  /** Columns with an empty header (a spreadsheet's trailing columns): they must stay empty. */
  ignored: number[];
  width: number;
}

const HEADER_RE = /^(.+?)(?:@(\d+))?(?:\s*\[([^\]]*)\])?$/s;

/**
 * Read the header row. Columns without a fixed index get 1, 2, 3 … in column order (skipping fixed ones and
 * 100), decided here once so that an empty cell never shifts the indexes of the cells after it.
 */
export function parseCsvHeader(fields: readonly string[]): CsvPlan {
  let handleColumn = -1;
  const drafts: Array<Omit<ValueColumn, 'index'> & { index?: number; header: string }> = [];
  const ignored: number[] = [];
  fields.forEach((raw, column) => {
    const cell = raw.trim();
    const name = `column ${column + 1}`;
    if (cell === '') {
      ignored.push(column);
      return;
    }
    if (cell.toLowerCase() === 'handle') {
      if (handleColumn >= 0) throw new CsvHeaderError(`the header has two "handle" columns (${handleColumn + 1} and ${column + 1})`);
      handleColumn = column;
      return;
    }
    const m = HEADER_RE.exec(cell);
    const type = m?.[1]?.trim() ?? '';
    if (!m || type === '' || /[\x00-\x1f\x7f[\]]/.test(type)) {
      throw new CsvHeaderError(`${name} header "${cell}" is not TYPE, TYPE@INDEX or TYPE@INDEX[options]`);
    }
    const d: (typeof drafts)[number] = { column, type, permissions: DEFAULT_PERMISSIONS, encoding: 'text', header: cell };
    if (m[2] !== undefined) {
      const index = Number(m[2]);
      if (index < 1 || index > MAX_INDEX) throw new CsvHeaderError(`${name} header "${cell}": index must be from 1 to ${MAX_INDEX}`);
      d.index = index;
    }
    for (const opt of (m[3] ?? '').split(/[;\s]+/).filter((x) => x.length > 0)) {
      const o = opt.toLowerCase();
      if (o === 'private') d.permissions = PRIVATE_PERMISSIONS;
      else if (o === 'hex' || o === 'base64') d.encoding = o;
      else if (/^ttl=\d+$/.test(o) && Number(o.slice(4)) <= MAX_INDEX) d.ttl = Number(o.slice(4));
      else throw new CsvHeaderError(`${name} header "${cell}": unknown option "${opt}" (private, ttl=SECONDS, hex, base64)`);
    }
    drafts.push(d);
  });
  if (handleColumn < 0) throw new CsvHeaderError('the header has no "handle" column');
  if (drafts.length === 0) throw new CsvHeaderError('the header has no value columns besides "handle"');
  const used = new Map<number, string>();
  for (const d of drafts) {
    if (d.index === undefined) continue;
    const other = used.get(d.index);
    if (other !== undefined) throw new CsvHeaderError(`columns "${other}" and "${d.header}" both have index ${d.index}`);
    used.set(d.index, d.header);
  }
  let next = 1;
  const columns = drafts.map(({ header: _h, ...d }): ValueColumn => {
    if (d.index !== undefined) return d as ValueColumn;
    while (used.has(next) || next === Index.HS_ADMIN) next++;
    used.set(next, d.type);
    return { ...d, index: next };
  });
  return { handleColumn, columns, ignored, width: fields.length };
}

/** A record's cells as the header plans them; empty cells are left out. */
export function csvRowToRaw(fields: readonly string[], plan: CsvPlan, defaultTtl: number): RawRow {
  if (fields.length > plan.width) {
    throw new RowError(`the row has ${fields.length} cells but the header has ${plan.width} columns (an unquoted comma?)`);
  }
  for (const c of plan.ignored) {
    if ((fields[c] ?? '').trim() !== '') throw new RowError(`column ${c + 1} has a value but no header`);
  }
  const handle = (fields[plan.handleColumn] ?? '').trim();
  if (handle === '') throw new RowError('the handle cell is empty');
  const drafts: ValueDraft[] = [];
  for (const col of plan.columns) {
    const cell = fields[col.column];
    if (cell === undefined || cell === '' || cell.trim() === '') continue;
    drafts.push({ index: col.index, type: col.type, data: cellData(cell, col, handle), ttlType: TtlType.RELATIVE, ttl: col.ttl ?? defaultTtl, permissions: col.permissions });
  }
  return { handle, drafts };
}

function cellData(cell: string, col: ValueColumn, handle: string): Buffer {
  if (col.encoding === 'text') return Buffer.from(cell, 'utf8');
  try {
    const where = `column ${col.column + 1} (${col.type})`;
    return col.encoding === 'hex' ? decodeHex(cell.trim(), where) : decodeBase64(cell, where);
  } catch (err) {
    if (err instanceof RowError) err.handle = handle;
    throw err;
  }
}

/**
 * Split one CSV record (RFC 4180: quoted cells may hold commas, doubled quotes and line breaks). Returns
 * undefined when a quoted cell is still open at the end of the text: the record goes on on the next line.
 * A quote inside an unquoted cell is kept as it is, as spreadsheets read it.
 */
export function splitCsvRecord(text: string): string[] | undefined {
  if (text.indexOf('"') < 0) return text.split(',');
  const out: string[] = [];
  let i = 0;
  const n = text.length;
  for (;;) {
    if (text.charCodeAt(i) === 34 /* " */) {
      let cell = '';
      let from = i + 1;
      for (;;) {
        const q = text.indexOf('"', from);
        if (q < 0) return undefined;
        cell += text.slice(from, q);
        if (text.charCodeAt(q + 1) === 34) {
          cell += '"';
          from = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      out.push(cell);
      if (i === n) return out;
      if (text.charCodeAt(i) !== 44 /* , */) {
        throw new RowError(`unexpected text after a closing quote in cell ${out.length} (a quote inside a quoted cell must be doubled: "")`);
      }
      i++;
    } else {
      const comma = text.indexOf(',', i);
      if (comma < 0) {
        out.push(text.slice(i));
        return out;
      }
      out.push(text.slice(i, comma));
      i = comma + 1;
    }
    if (i === n) {
      out.push('');
      return out;
    }
  }
}
