// Scenario "tcp": the hot set over TCP, one connection per request (as the reference client does) and on
// kept connections (KC, as the national SDKs do), beside UDP against the same node.
//
//   npm run bench:tcp -- [--count 100000] [--runs 3] [--duration 10] [--connections 50] [--pipeline 8]
import path from 'node:path';
import { arg, describe, machine, makeNodeDir, measure, median, nodeDirHandles, patchConfig, removeDir, startIdres, tempDir, zipfPicker } from './common.js';
import type { LoadTransport } from '../src/bench/loadgen.js';

const count = arg('count', 100_000);
const runs = arg('runs', 3);
const durationMs = arg('duration', 10) * 1000;
const connections = arg('connections', 50);
const pipeline = arg('pipeline', 8);

async function main(): Promise<void> {
  console.log(`machine: ${machine()}`);
  const dir = path.join(tempDir('tcp'), 'node');
  makeNodeDir(dir, count);
  patchConfig(dir, (c) => ((c.cache as Record<string, unknown>).maxBytes = 1024 * 2 ** 20));
  const handles = nodeDirHandles(count);
  const qps: Record<LoadTransport, number[]> = { udp: [], tcp: [], 'tcp-kc': [] };
  for (let run = 1; run <= runs; run++) {
    const { server, port } = await startIdres(dir);
    try {
      for (const transport of ['udp', 'tcp-kc', 'tcp'] as const) {
        const load = { host: '127.0.0.1', port, transport, handles, pick: zipfPicker(count), concurrency: transport === 'udp' ? 200 : connections, pipeline, rate: 0 };
        await measure(server, { ...load, durationMs: 2000 });
        const m = await measure(server, { ...load, durationMs });
        qps[transport].push(m.report.qps);
        console.log(describe(`run ${run} ${transport.padEnd(6)}`, m));
      }
    } finally {
      await server.stop();
    }
  }
  console.log(`\nmedian of ${runs}: UDP ${median(qps.udp)} q/s, TCP with KC ${median(qps['tcp-kc'])} q/s, TCP one request per connection ${median(qps.tcp)} q/s`);
  removeDir(path.dirname(dir));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
