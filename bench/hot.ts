// Scenario "hot": resolutions of a 1 M-identifier registry with a Zipf-like popularity, answered from the
// hot cache, over UDP; the same requests answered by the baseline responder in the same run; medians of
// several runs and the ratio. Also the p99 latency at fixed rates (5,000 and 20,000 queries a second), for
// both servers in the same run.
//
//   npm run bench:hot -- [--count 1000000] [--runs 3] [--duration 10] [--concurrency 200] [--workers N]
import path from 'node:path';
import { type Measured, arg, describe, machine, makeNodeDir, measure, median, nodeDirHandles, patchConfig, removeDir, startBaseline, startIdres, tempDir, zipfPicker } from './common.js';

const count = arg('count', 1_000_000);
const runs = arg('runs', 3);
const durationMs = arg('duration', 10) * 1000;
const concurrency = arg('concurrency', 200);
const workers = arg('workers', 0);

async function main(): Promise<void> {
  console.log(`machine: ${machine()}`);
  const dir = path.join(tempDir('hot'), 'node');
  let t = performance.now();
  makeNodeDir(dir, count);
  patchConfig(dir, (c) => {
    (c.cache as Record<string, unknown>).maxBytes = 1024 * 2 ** 20;
    if (workers) c.workers = workers;
  });
  console.log(`registry of ${count} identifiers written in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  t = performance.now();
  const handles = nodeDirHandles(count);
  const pick = zipfPicker(count);
  console.log(`requests and Zipf sequence prepared in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const results: Record<'baseline' | 'idres', Measured[]> = { baseline: [], idres: [] };
  const p99at20k: Record<'baseline' | 'idres', number[]> = { baseline: [], idres: [] };
  for (let run = 1; run <= runs; run++) {
    for (const who of ['baseline', 'idres'] as const) {
      const { server, port } = who === 'baseline' ? await startBaseline(['--count', String(count)]) : await startIdres(dir);
      try {
        const load = { host: '127.0.0.1', port, transport: 'udp' as const, handles, pick, concurrency };
        // Warm-up: every identifier asked once (so the answers are in the cache: the scenario is "hot"),
        // then a few seconds of the measured mix (JIT).
        let next = 0;
        const warm = await measure(server, { ...load, pick: () => next++ % count, rate: 0, durationMs: 600000, stopAfter: count });
        await measure(server, { ...load, rate: 0, durationMs: 3000 });
        const before = who === 'idres' ? await server.stats() : undefined;
        const m = await measure(server, { ...load, rate: 0, durationMs });
        results[who].push(m);
        let hitRatio = '';
        if (before) {
          const after = await server.stats();
          const hits = after.cache.hits - before.cache.hits;
          const misses = after.cache.misses - before.cache.misses;
          hitRatio = `  cache hits ${((100 * hits) / Math.max(1, hits + misses)).toFixed(1)} % (${after.cache.entries} answers cached)`;
        }
        console.log(describe(`run ${run} ${who.padEnd(8)}`, m) + hitRatio + `  [warm-up ${warm.report.answered} answers in ${(warm.report.durationMs / 1000).toFixed(0)} s]`);
        for (const rate of [5000, 20000]) {
          const fixed = await measure(server, { ...load, rate, durationMs: 5000 });
          if (rate === 20000) p99at20k[who].push(fixed.report.latencyUs.p99);
          console.log(`run ${run} ${who} at ${rate} q/s [${fixed.generator}]: p50 ${fixed.report.latencyUs.p50} µs  p99 ${fixed.report.latencyUs.p99} µs  p99.9 ${fixed.report.latencyUs.p999} µs  lost ${fixed.report.lost}`);
        }
      } finally {
        await server.stop();
      }
    }
  }
  const mq = (w: 'baseline' | 'idres') => median(results[w].map((m) => m.report.qps));
  const mc = (w: 'baseline' | 'idres') => median(results[w].map((m) => m.serverCpuUsPerAnswer));
  console.log('');
  console.log(`median of ${runs}: baseline ${mq('baseline')} q/s (${mc('baseline').toFixed(1)} µs CPU/answer); idres ${mq('idres')} q/s (${mc('idres').toFixed(1)} µs CPU/answer)`);
  const p99 = (w: 'baseline' | 'idres') => median(p99at20k[w]);
  console.log(`ratio idres/baseline: ${(mq('idres') / mq('baseline')).toFixed(2)}`);
  console.log(`p99 at 20,000 q/s: idres ${p99('idres')} µs, baseline ${p99('baseline')} µs, ratio ${(p99('idres') / p99('baseline')).toFixed(2)} (runs: idres ${p99at20k.idres.join(', ')}; baseline ${p99at20k.baseline.join(', ')})`);
  removeDir(path.dirname(dir));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
