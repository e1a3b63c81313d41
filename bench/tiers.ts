// Scenario "tiers": a resolver in front of top-level, secondary and business nodes (each its own process).
// Warm: Zipf-popular identifiers answered from the resolver's cache, beside the baseline responder.
// Cold: every query a new identifier; counts what each miss costs upstream (it should be one query to the
// business node, and no new walk once the prefix's site is cached).
//
//   npm run bench:tiers -- [--count 100000] [--runs 3] [--duration 10] [--concurrency 200]
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { initNode } from '../src/node/init.js';
import {
  type Measured,
  arg,
  cliPath,
  describe,
  machine,
  makeNodeDir,
  measure,
  median,
  nodeDirHandles,
  patchConfig,
  removeDir,
  startBaseline,
  startIdres,
  tempDir,
  zipfPicker,
} from './common.js';

const count = arg('count', 100_000);
const runs = arg('runs', 3);
const durationMs = arg('duration', 10) * 1000;
const concurrency = arg('concurrency', 200);

function delegate(parentDir: string, prefix: string, port: number): void {
  const r = spawnSync(process.execPath, [cliPath, 'prefix', 'delegate', prefix, '--dir', parentDir, '--site', `127.0.0.1:${port}`, '--overwrite'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
}

async function main(): Promise<void> {
  console.log(`machine: ${machine()}`);
  const root = tempDir('tiers');
  const dirs = { top: path.join(root, 'top'), secondary: path.join(root, 'secondary'), business: path.join(root, 'business'), resolver: path.join(root, 'resolver') };
  makeNodeDir(dirs.business, count);
  initNode({ dir: dirs.top, roles: ['top'], prefixes: ['88'], port: 0 });
  initNode({ dir: dirs.secondary, roles: ['secondary'], prefixes: ['88.118'], port: 0 });
  const business = await startIdres(dirs.business);
  const secondary = await startIdres(dirs.secondary);
  const top = await startIdres(dirs.top);
  delegate(dirs.secondary, '88.118.8', business.port);
  delegate(dirs.top, '88.118', secondary.port);
  const handles = nodeDirHandles(count);
  const results: { baseline: Measured[]; warm: Measured[] } = { baseline: [], warm: [] };
  const cold: string[] = [];
  try {
    for (let run = 1; run <= runs; run++) {
      // A fresh resolver each run: the cold pass starts from nothing.
      removeDir(dirs.resolver);
      initNode({ dir: dirs.resolver, roles: ['resolver'], port: 0, roots: [`127.0.0.1:${top.port}`] });
      patchConfig(dirs.resolver, (c) => ((c.cache as Record<string, unknown>).maxBytes = 1024 * 2 ** 20));
      const resolver = await startIdres(dirs.resolver);
      try {
        // Cold: identifiers never asked before, at a steady rate; then what did each miss cost?
        const b0 = (await business.server.stats()).requests as number;
        let next = (run - 1) * 5000;
        const coldRun = await measure(resolver.server, {
          host: '127.0.0.1', port: resolver.port, transport: 'udp', handles, pick: () => next++ % count, rate: 2000, concurrency, durationMs: 3000,
        });
        const rs = await resolver.server.stats();
        const businessQueries = ((await business.server.stats()).requests as number) - b0;
        const line = `run ${run} cold: ${coldRun.report.answered} new identifiers answered (p50 ${coldRun.report.latencyUs.p50} µs), ${businessQueries} queries reached the business node, resolver upstream queries ${rs.upstream.queries}, walks from the root ${rs.upstream.walks}`;
        console.log(line);
        cold.push(line);
        // Warm: every identifier asked once through the tiers (so the resolver holds them all), then the
        // popular set, answered from the resolver's cache.
        const load = { host: '127.0.0.1', port: resolver.port, transport: 'udp' as const, handles, pick: zipfPicker(count), concurrency };
        let each = 0;
        await measure(resolver.server, { ...load, pick: () => each++ % count, rate: 0, durationMs: 600000, stopAfter: count });
        await measure(resolver.server, { ...load, rate: 0, durationMs: 3000 });
        const warm = await measure(resolver.server, { ...load, rate: 0, durationMs });
        results.warm.push(warm);
        const after = await resolver.server.stats();
        console.log(describe(`run ${run} resolver warm`, warm) + `  cache ${after.cache.entries} answers, hits ${after.cache.hits} misses ${after.cache.misses}`);
      } finally {
        await resolver.server.stop();
      }
      const { server: baseline, port: bport } = await startBaseline(['--count', String(count)]);
      try {
        const load = { host: '127.0.0.1', port: bport, transport: 'udp' as const, handles, pick: zipfPicker(count), concurrency };
        let each = 0;
        await measure(baseline, { ...load, pick: () => each++ % count, rate: 0, durationMs: 600000, stopAfter: count });
        await measure(baseline, { ...load, rate: 0, durationMs: 3000 });
        const m = await measure(baseline, { ...load, rate: 0, durationMs });
        results.baseline.push(m);
        console.log(describe(`run ${run} baseline     `, m));
      } finally {
        await baseline.stop();
      }
    }
  } finally {
    await Promise.all([business.server.stop(), secondary.server.stop(), top.server.stop()]);
    removeDir(root);
  }
  const mq = (xs: Measured[]) => median(xs.map((m) => m.report.qps));
  console.log(`\nmedian of ${runs}: resolver warm ${mq(results.warm)} q/s, baseline ${mq(results.baseline)} q/s, ratio ${(mq(results.warm) / mq(results.baseline)).toFixed(2)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
