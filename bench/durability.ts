// What durability costs a single write (docs/security.md, Durability): the registry's create of one small
// identifier, each its own transaction as the wire's and HTTP's writes are, timed with each setting of
// durability.synchronous. Per setting, K runs of N writes into a fresh registry on the temporary
// directory's file system (a real disk, not tmpfs, or the figures mean nothing); the median write of each
// run, and the median of those.
//
//   npm run bench:durability -- [--writes N] [--runs K] [--dir DIR]
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { makeValue } from '../src/model/value.js';
import { Registry } from '../src/store/registry.js';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const writes = Number(option('writes', '300'));
const runs = Number(option('runs', '3'));
const base = option('dir', tmpdir());
const MODES = ['normal', 'full'] as const;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function once(dir: string, mode: (typeof MODES)[number], run: number): { median: number; p99: number; perSecond: number } {
  const file = path.join(dir, `registry-${mode}-${run}.db`);
  const registry = new Registry(file, { synchronous: mode });
  registry.home('88.118.8');
  const values = [makeValue(1, 'URL', 'https://example.cn/p/1'), makeValue(2, 'EMAIL', 'qa@example.cn')];
  const times: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < writes; i++) {
    const s = performance.now();
    registry.create(`88.118.8/DUR-${run}-${i}`, values);
    times.push(performance.now() - s);
  }
  const total = performance.now() - t0;
  registry.close();
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  const sorted = [...times].sort((a, b) => a - b);
  return { median: median(times), p99: sorted[Math.floor(sorted.length * 0.99)]!, perSecond: (writes / total) * 1000 };
}

const dir = mkdtempSync(path.join(base, 'idres-bench-durability-'));
try {
  console.log(`single-write durability: ${writes} creates per run, ${runs} runs per setting, in ${dir}, node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}`);
  for (const mode of MODES) {
    const results = [];
    for (let r = 1; r <= runs; r++) results.push(once(dir, mode, r));
    const m = median(results.map((x) => x.median));
    console.log(
      `synchronous=${mode.toUpperCase().padEnd(6)} median write ${m.toFixed(3)} ms (runs: ${results.map((x) => x.median.toFixed(3)).join(', ')}), ` +
        `p99 ${median(results.map((x) => x.p99)).toFixed(3)} ms, ${Math.round(median(results.map((x) => x.perSecond))).toLocaleString('en-US')} writes/s`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
