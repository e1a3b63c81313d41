import path from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_PORT } from '../node/config.js';
import { startDemoHierarchy } from '../node/demo-hierarchy.js';
import { createLogger } from '../log/logger.js';
import type { LogLevel } from '../log/levels.js';
import { nonNegativeIntOption, portOption } from './numbers.js';
import { logLevelOf, logLevelOption } from './options.js';

/** Run the demo hierarchy until interrupted, and say how to use it. */
export async function demoCommand(o: { dir: string; port: number; count: number; logLevel?: LogLevel }): Promise<void> {
  const logger = createLogger({ level: o.logLevel ?? 'info' });
  const h = await startDemoHierarchy({ dir: o.dir, port: o.port, count: o.count, log: (m) => console.log(`idres: ${m}`), logger });
  const at = (n: { port: number }) => `127.0.0.1:${n.port}`;
  console.log(`idres demo hierarchy in ${path.resolve(o.dir)}, on loopback:`);
  console.log(`  resolver          ${at(h.resolver)}   (recursive, caching; root: the top-level node)`);
  console.log(`  top-level  88     ${at(h.top)}   (delegates 88.118)`);
  console.log(`  secondary  88.118 ${at(h.secondary)}   (delegates 88.118.8)`);
  console.log(`  business 88.118.8 ${at(h.business)}   (${h.business.registry!.count()} handles)`);
  const mirrorHttp = h.topMirror.http ? `; HTTP 127.0.0.1:${h.topMirror.http.port}` : '';
  console.log(`  top-level DR mirror ${at(h.topMirror)}   (mirror of the top-level node ${at(h.top)}, 88${mirrorHttp})`);
  console.log('');
  console.log('Try it, in another terminal:');
  console.log(`  npx idres resolve ${h.sample} --server ${at(h.resolver)}            # through the resolver`);
  console.log(`  npx idres resolve ${h.sample} --root ${at(h.top)}              # walk the tiers yourself`);
  console.log(`  npx idres resolve 0.NA/88.118.8 --server ${at(h.top)}          # the top-level node refers (303)`);
  console.log(`  npx idres register 88.118.8/MY-FIRST-0001 --dir ${path.join(o.dir, 'business')} --value URL=https://example.com/p/1`);
  if (h.resolver.http) {
    const base = `http://127.0.0.1:${h.resolver.http.port}`;
    console.log(`  curl ${base}/api/handles/${h.sample}               # the JSON API of the resolver (docs/http.md)`);
    console.log(`  curl -i ${base}/${h.sample}                        # the redirect front: 302 to its URL`);
    console.log(`  curl ${base}/metrics                                # Prometheus metrics`);
  }
  if (h.topMirror.http) {
    const base = `http://127.0.0.1:${h.topMirror.http.port}`;
    console.log(`  npx idres resolve 0.NA/88.118 --server ${at(h.topMirror)}          # the mirror answers as the top-level node`);
    console.log(`  curl ${base}/readyz; curl -s ${base}/metrics | grep idres_replication_   # the mirror's lag (docs/replication.md)`);
  }
  console.log('Stop with Ctrl-C.');
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    h.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** `idres demo`: a whole hierarchy on loopback. */
export function addDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run a whole hierarchy on loopback: top-level (88), secondary (88.118), business (88.118.8), a resolver, and a disaster-recovery mirror of the top-level node')
    .option('-d, --dir <path>', 'folder for the five node folders', 'idres-demo')
    .option('--port <port>', 'the resolver port; the top, secondary, business nodes and the mirror take the next four (0: any free ports)', portOption('--port'), DEFAULT_PORT)
    .option('--count <n>', 'demo product identifiers on the business node (first run)', nonNegativeIntOption('--count'), 3000)
    .addOption(logLevelOption())
    .action(async (o) => {
      await demoCommand({ dir: o.dir, port: o.port, count: o.count, ...logLevelOf(o) });
    });
}
