// Scenario "memory": resident size of a node (1) with an empty registry, (2) with a million identifiers
// registered, (3) after 100,000 distinct answers have been cached, against the configured cache bound.
//
//   npm run bench:memory -- [--count 1000000] [--cached 100000]
import path from 'node:path';
import { initNode } from '../src/node/init.js';
import { arg, machine, makeNodeDir, measure, nodeDirHandles, patchConfig, removeDir, startIdres, tempDir } from './common.js';

const count = arg('count', 1_000_000);
const cached = arg('cached', 100_000);
const cacheMiB = arg('cache-mib', 64);

async function rssAfterStart(dir: string): Promise<number> {
  const { server } = await startIdres(dir);
  await new Promise((r) => setTimeout(r, 1000));
  const rss = server.rssBytes();
  await server.stop();
  return rss;
}

async function main(): Promise<void> {
  console.log(`machine: ${machine()}`);
  const root = tempDir('memory');
  const empty = path.join(root, 'empty');
  initNode({ dir: empty, prefixes: ['88.118.8'], port: 0 });
  const full = path.join(root, 'full');
  makeNodeDir(full, count);
  patchConfig(full, (c) => ((c.cache as Record<string, unknown>).maxBytes = cacheMiB * 2 ** 20));
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  const rssEmpty = await rssAfterStart(empty);
  const rssFull = await rssAfterStart(full);
  console.log(`idle RSS: empty registry ${mib(rssEmpty)} MiB; ${count} identifiers registered ${mib(rssFull)} MiB (+${mib(rssFull - rssEmpty)} MiB)`);

  const { server, port } = await startIdres(full);
  try {
    const handles = nodeDirHandles(count).slice(0, cached);
    let next = 0;
    const before = server.rssBytes();
    // Every identifier of the set once, at a rate this machine sustains: each answer enters the cache.
    await measure(server, { host: '127.0.0.1', port, transport: 'udp', handles, pick: () => next++ % cached, rate: 5000, concurrency: 200, durationMs: Math.ceil(cached / 5) + 1000 });
    const s = await server.stats();
    const after = server.rssBytes();
    const m = s.memory as NodeJS.MemoryUsage;
    console.log(
      `after caching: ${s.cache.entries} answers, ${mib(s.cache.bytes)} MiB counted against a ${cacheMiB} MiB bound; ` +
        `RSS ${mib(before)} → ${mib(after)} MiB (+${mib(after - before)} MiB, ${((after - before) / Math.max(1, s.cache.entries) / 1024).toFixed(2)} KiB per cached answer); ` +
        `V8 heap used ${mib(m.heapUsed)} MiB of ${mib(m.heapTotal)} MiB, buffers ${mib(m.arrayBuffers)} MiB`,
    );
  } finally {
    await server.stop();
    removeDir(root);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
