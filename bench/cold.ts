// Scenario "cold": uniform resolutions over a registry of ten million identifiers, with a cache too small
// to help (1 MiB), so nearly every answer comes from SQLite. The registry is built once into bench/data.
//
//   npm run bench:cold -- [--count 10000000] [--runs 3] [--duration 10] [--concurrency 200]
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { NUMBERED, arg, dataDir, describe, fillNumbered, machine, measure, median, patchConfig, startIdres, uniformPicker } from './common.js';

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
  const qps: number[] = [];
  const cpu: number[] = [];
  for (let run = 1; run <= runs; run++) {
    const { server, port } = await startIdres(dir);
    try {
      const load = { host: '127.0.0.1', port, transport: 'udp' as const, handles: { ...NUMBERED, first: 1, count }, concurrency, pick: uniformPicker(count, run) };
      await measure(server, { ...load, rate: 0, durationMs: 3000 });
      const m = await measure(server, { ...load, rate: 0, durationMs });
      const s = await server.stats();
      console.log(describe(`run ${run} idres cold`, m) + `  cache hits ${s.cache.hits} misses ${s.cache.misses}`);
      qps.push(m.report.qps);
      cpu.push(m.serverCpuUsPerAnswer);
    } finally {
      await server.stop();
    }
  }
  console.log(`\nmedian of ${runs}: ${median(qps)} q/s from a ${count}-identifier registry, ${median(cpu).toFixed(1)} µs server CPU per answer`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
