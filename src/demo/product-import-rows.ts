import { Index, Perm, type HandleValue } from '../model/value.js';
import type { ProductRecord } from './products.js';

// Demo product records written in the import formats of docs/import.md, for the fixtures, the import
// benchmark and the tests. The HS_ADMIN value is left out: the import adds the same default one.

function isPrivate(v: HandleValue): boolean {
  return (v.permissions & Perm.PUBLIC_READ) === 0;
}

/** One NDJSON line (without its newline). */
export function productNdjson(p: ProductRecord): string {
  const values = p.values
    .filter((v) => v.index !== Index.HS_ADMIN)
    .map((v) => ({
      index: v.index,
      type: v.type,
      data: v.data.toString('utf8'),
      ...(v.ttl !== 86400 ? { ttl: v.ttl } : {}),
      ...(isPrivate(v) ? { private: true } : {}),
    }));
  return JSON.stringify({ handle: p.handle, values });
}

/** The CSV columns the demo records use: indexes fixed, as a manufacturer's template would. */
export const PRODUCT_CSV_COLUMNS = [
  { index: 1, header: 'URL@1' },
  { index: 2, header: 'productName@2' },
  { index: 3, header: 'model@3' },
  { index: 4, header: 'batch@4' },
  { index: 5, header: 'productionDate@5' },
  { index: 6, header: 'plant@6' },
  { index: 7, header: 'firmware@7' },
  { index: 8, header: 'EMAIL@8[ttl=3600]' },
  { index: 10, header: 'supplyChain@10' },
  { index: 20, header: 'internal.cost@20[private]' },
] as const;

export const PRODUCT_CSV_HEADER = ['handle', ...PRODUCT_CSV_COLUMNS.map((c) => c.header)].join(',');

function csvCell(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One CSV record (without its newline) under PRODUCT_CSV_HEADER. */
export function productCsv(p: ProductRecord): string {
  const byIndex = new Map(p.values.map((v) => [v.index, v]));
  return [p.handle, ...PRODUCT_CSV_COLUMNS.map((c) => csvCell(byIndex.get(c.index)?.data.toString('utf8') ?? ''))].join(',');
}
