// Scenario "cold": uniform resolutions over a registry of ten million identifiers, with a cache too small
// to help (1 MiB), so nearly every answer comes from SQLite. The registry is built once into bench/data and
// read into the page cache before the runs; each run measures the baseline responder, then idres.
//
//   npm run bench:cold -- [--count 10000000] [--runs 3] [--duration 10] [--concurrency 200]
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { type Measured, NUMBERED, arg, dataDir, describe, fillNumbered, machine, measure, median, patchConfig, startBaseline, startIdres, uniformPicker } from './common.js';

const count = arg('count', 10_000_000);
const runs = arg('runs', 3);
const durationMs = arg('duration', 10) * 1000;
const concurrency = arg('concurrency', 200);

/** Read a file start to end (into one reused buffer), so that its pages are in the page cache. */
function readThrough(file: string): number {
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(8 << 20);
  let total = 0;
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, total)) > 0; ) total += n;
  } finally {
    closeSync(fd);
  }
  return total;
}

async function main(): Promise<void> {
  console.log(`machine: ${machine()}`);
  const dir = dataDir(`numbered-${count}`);
  if (!existsSync(dir)) {
    const t = performance.now();
    fillNumbered(dir, count);
    console.log(`registry of ${count} identifiers built in ${((performance.now() - t) / 1000).toFixed(0)} s (kept in ${dir})`);
  }
  patchConfig(dir, (c) => ((c.cache as Record<string, unknown>).maxBytes = 1 << 20));
  // The scenario is "the answer cache cannot help", not "the disk is slow": read the registry once so that
  // the operating system's page cache holds it, as it would on a node that has been answering for a while
  // (and has the memory: the file is about 2.7 GB at ten million identifiers).
  const w = performance.now();
  const bytes = readThrough(path.join(dir, 'registry.db'));
  console.log(`registry file ${(bytes / 1e9).toFixed(2)} GB read into the page cache in ${((performance.now() - w) / 1000).toFixed(1)} s`);
  // The baseline answers the same kind of request (numbered identifiers, uniform keys) from a Map of
  // pre-encoded answers. A Map of ten million would take minutes and gigabytes to build and is no higher a
  // ceiling: it holds the first million.
  const baselineCount = Math.min(count, 1_000_000);
  const results: Record<'baseline' | 'idres', Measured[]> = { baseline: [], idres: [] };
  for (let run = 1; run <= runs; run++) {
    for (const who of ['baseline', 'idres'] as const) {
      const n = who === 'baseline' ? baselineCount : count;
      const { server, port } =
        who === 'baseline' ? await startBaseline(['--count', String(baselineCount), '--numbered']) : await startIdres(dir);
      try {
        const load = { host: '127.0.0.1', port, transport: 'udp' as const, handles: { ...NUMBERED, first: 1, count: n }, concurrency, pick: uniformPicker(n, run) };
        await measure(server, { ...load, rate: 0, durationMs: 3000 });
        const m = await measure(server, { ...load, rate: 0, durationMs });
        results[who].push(m);
        const stats = who === 'idres' ? await server.stats() : undefined;
        const cache = stats?.cache;
        // How many misses the blob copy answered (resolve/blob-miss.ts), to show which path the figures are of.
        const copies = stats?.missPath ? `  blob copies ${stats.missPath.answered}` : '';
        console.log(describe(`run ${run} ${who === 'idres' ? 'idres cold' : 'baseline  '}`, m) + (cache ? `  cache hits ${cache.hits} misses ${cache.misses}${copies}` : ''));
      } finally {
        await server.stop();
      }
    }
  }
  const mq = (w: 'baseline' | 'idres') => median(results[w].map((m) => m.report.qps));
  const mc = (w: 'baseline' | 'idres') => median(results[w].map((m) => m.serverCpuUsPerAnswer));
  console.log(`\nmedian of ${runs}: idres ${mq('idres')} q/s from a ${count}-identifier registry (${mc('idres').toFixed(1)} µs server CPU per answer); ` +
    `baseline ${mq('baseline')} q/s (${mc('baseline').toFixed(1)} µs); ratio ${(mq('idres') / mq('baseline')).toFixed(2)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
