// Scenario "http": (1) what the metrics' counting wrapper adds to a cached UDP answer, measured in process on
// the handler itself (through the counting wrapper and through the plain forwarding wrapper it replaced,
// alternating, same request); (2) the JSON API's throughput and
// latency for a cached identifier with undici at a fixed number of requests in flight.
//
//   npm run bench:http -- [--iterations 2000000] [--runs 5] [--duration 5] [--concurrency 64]
import path from 'node:path';
import { Agent, request } from 'undici';
import { IdresNode } from '../src/node/node.js';
import { encodeResolutionRequest } from '../src/protocol/bodies.js';
import { OpCode } from '../src/protocol/constants.js';
import { encodeRequest } from '../src/client/request.js';
import { WireCounters } from '../src/wire/counters.js';
import { makeValue } from '../src/model/value.js';
import { initNode } from '../src/node/init.js';
import { arg, machine, median, removeDir, tempDir } from './common.js';

const iterations = arg('iterations', 2_000_000);
const runs = arg('runs', 5);
const durationMs = arg('duration', 5) * 1000;
const concurrency = arg('concurrency', 64);

async function main(): Promise<void> {
  console.log(`machine: ${machine()}`);
  const root = tempDir('http');
  const dir = path.join(root, 'node');
  initNode({ dir, prefixes: ['88.118.8'], port: 0, description: 'benchmark node (http)' });
  const node = await IdresNode.start(dir, { log: () => undefined });
  try {
    node.registry!.create('88.118.8/BENCH-1', [makeValue(1, 'URL', 'https://example.com/bench-1'), makeValue(2, 'productName', 'bench')]);
    node.noticeWrites();

    // (1) The counting wrapper on the hot path.
    const packet = encodeRequest({ opCode: OpCode.RESOLUTION, body: encodeResolutionRequest('88.118.8/BENCH-1'), requestId: 7 });
    const meta = { transport: 'udp' as const, maxResponseBytes: 65536 };
    // Before the metrics, the transports already called the handler through a forwarding wrapper (the handler
    // is made after the port is bound); the counting wrapper replaced it, so that is the fair baseline.
    const handler = node.handler;
    const plain = { handle: (b: Buffer, m: typeof meta) => handler.handle(b, m) };
    const wrapped = new WireCounters().wrap(() => handler);
    const first = handler.handle(packet, meta);
    if (!(first instanceof Buffer) || first.readUInt32BE(24) !== 1) throw new Error('the request did not resolve from the cache');
    const time = (h: { handle: (b: Buffer, m: typeof meta) => unknown }) => {
      const t = process.hrtime.bigint();
      for (let i = 0; i < iterations; i++) h.handle(packet, meta);
      return Number(process.hrtime.bigint() - t) / iterations;
    };
    time(plain);
    time(wrapped);
    const ns: Record<'plain' | 'wrapped', number[]> = { plain: [], wrapped: [] };
    for (let r = 0; r < runs; r++) {
      ns.plain.push(time(plain));
      ns.wrapped.push(time(wrapped));
    }
    const p = median(ns.plain);
    const w = median(ns.wrapped);
    console.log(`cached UDP answer in the handler: ${p.toFixed(0)} ns through a forwarding wrapper (as before), ${w.toFixed(0)} ns through the counting wrapper (+${(w - p).toFixed(0)} ns, ${((100 * (w - p)) / p).toFixed(1)} %), median of ${runs} × ${iterations}`);

    // (2) The JSON API for a cached identifier.
    const url = `http://127.0.0.1:${node.http!.port}/api/handles/88.118.8/BENCH-1`;
    const agent = new Agent({ connections: concurrency, pipelining: 1 });
    const run = async (ms: number) => {
      const lat: number[] = [];
      let done = 0;
      const until = performance.now() + ms;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (performance.now() < until) {
            const t = performance.now();
            const r = await request(url, { dispatcher: agent });
            await r.body.text();
            if (r.statusCode !== 200) throw new Error(`HTTP ${r.statusCode}`);
            lat.push(performance.now() - t);
            done++;
          }
        }),
      );
      lat.sort((a, b) => a - b);
      return { rate: done / (ms / 1000), p50: lat[Math.floor(lat.length * 0.5)]!, p99: lat[Math.floor(lat.length * 0.99)]! };
    };
    await run(1000);
    const results = [];
    for (let r = 0; r < Math.min(runs, 3); r++) results.push(await run(durationMs));
    const rate = median(results.map((x) => x.rate));
    console.log(
      `GET /api/handles (cached), ${concurrency} in flight, client and server in one process: ${rate.toFixed(0)} requests/s, ` +
        `p50 ${median(results.map((x) => x.p50)).toFixed(2)} ms, p99 ${median(results.map((x) => x.p99)).toFixed(2)} ms (median of ${results.length} × ${durationMs / 1000} s)`,
    );
    await agent.close();
  } finally {
    await node.stop();
    removeDir(root);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
