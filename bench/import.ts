// The import benchmark: N demo product identifiers (seeded, realistic: 6 to 10 values each plus HS_ADMIN)
// written to a temporary file, imported into a fresh temporary registry by the import engine, rows/s
// reported. The rate is the whole import (read, parse, validate, write, commit every batch) and the
// closing WAL checkpoint; generating the file is not counted.
//
//   npm run bench:import -- [--rows N] [--format ndjson|csv] [--batch-size N] [--runs K] [--page-size B] [--workers N]
//                            [--synchronous full|normal] [--keep]
//
// --synchronous: the registry's durability during the import (durability.importSynchronous; full, the
// default, syncs the WAL at each batch's commit).
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { importFile } from '../src/admin/import.js';
import { PRODUCT_CSV_HEADER, productCsv, productNdjson } from '../src/demo/product-import-rows.js';
import { productRecords } from '../src/demo/products.js';
import { Registry } from '../src/store/registry.js';

const PREFIX = '88.118.8';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const rows = Number(option('rows', '1000000'));
const format = option('format', 'ndjson') as 'ndjson' | 'csv';
const batchSize = Number(option('batch-size', '10000'));
const runs = Number(option('runs', '3'));
const pageSize = Number(option('page-size', '0'));
const workersArg = option('workers', '');
const workers = workersArg === '' ? undefined : Number(workersArg);
const keep = process.argv.includes('--keep');
const synchronous = option('synchronous', 'full') as 'full' | 'normal';
if (synchronous !== 'full' && synchronous !== 'normal') throw new Error('--synchronous must be full or normal');

function writeFile(file: string): void {
  const fd = openSync(file, 'w');
  let parts: string[] = format === 'csv' ? [PRODUCT_CSV_HEADER] : [];
  for (const p of productRecords(PREFIX, rows)) {
    parts.push(format === 'csv' ? productCsv(p) : productNdjson(p));
    if (parts.length >= 10_000) {
      writeSync(fd, parts.join('\n') + '\n');
      parts = [];
    }
  }
  if (parts.length) writeSync(fd, parts.join('\n') + '\n');
  closeSync(fd);
}

async function once(dir: string, file: string, run: number): Promise<number> {
  const db = path.join(dir, `registry-${run}.db`);
  if (pageSize > 0) {
    // The page size is fixed when the first table is written: set it on the empty file first.
    const raw = new Database(db);
    raw.pragma(`page_size = ${pageSize}`);
    raw.exec('VACUUM');
    raw.close();
  }
  const registry = new Registry(db, { synchronous });
  registry.home(PREFIX);
  const t0 = performance.now();
  const r = await importFile(registry, file, { batchSize, ...(workers !== undefined ? { workers } : {}) });
  registry.close(); // includes the last WAL checkpoint
  const seconds = (performance.now() - t0) / 1000;
  if (r.counts.created !== rows) throw new Error(`expected ${rows} created, got ${JSON.stringify(r.counts)}`);
  const rate = rows / seconds;
  const mb = statSync(db).size / 1e6;
  console.log(`run ${run}: ${rows} rows in ${seconds.toFixed(2)} s = ${Math.round(rate).toLocaleString('en-US')} rows/s (registry ${mb.toFixed(0)} MB)`);
  for (const suffix of ['', '-wal', '-shm']) rmSync(db + suffix, { force: true });
  return rate;
}

const dir = mkdtempSync(path.join(tmpdir(), 'idres-bench-import-'));
try {
  const file = path.join(dir, `products.${format}`);
  const g0 = performance.now();
  writeFile(file);
  console.log(
    `import benchmark: ${rows.toLocaleString('en-US')} ${format} rows (${(statSync(file).size / 1e6).toFixed(0)} MB, written in ` +
      `${((performance.now() - g0) / 1000).toFixed(1)} s), batch ${batchSize}, ${runs} runs, page size ${pageSize || 'default'}, ` +
      `workers ${workers ?? 'default'}, synchronous ${synchronous}, ` +
      `node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
  );
  const rates: number[] = [];
  for (let i = 1; i <= runs; i++) rates.push(await once(dir, file, i));
  const sorted = [...rates].sort((a, b) => a - b);
  console.log(`median ${Math.round(sorted[Math.floor(sorted.length / 2)]!).toLocaleString('en-US')} rows/s`);
} finally {
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
