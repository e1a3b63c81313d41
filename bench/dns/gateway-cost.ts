// What one DNS query costs inside the gateway, without sockets: the same TXT queries answered from the
// gateway's cache of encoded answers (hits) and with every cache too small to help (misses: the registry
// read, the records, the encoding). Alternating rounds, medians. Not part of npm test.
//
//   node dist/bench/dns/gateway-cost.js [COUNT=10000] [ROUNDS=7] [CACHE_MIB]
//
// CACHE_MIB bounds the hot cache and the DNS answer cache (default: the node's defaults, 64 and 16 MiB).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as dnsPacket from 'dns-packet';
import { initNode } from '../../src/node/init.js';
import { loadConfig } from '../../src/node/config.js';
import { IdresNode } from '../../src/node/node.js';
import { Registry } from '../../src/store/registry.js';
import { generateProducts } from '../../src/demo/products.js';
import { identifierToName } from '../../src/dns/mapping.js';
import type { DnsGateway } from '../../src/dns/gateway.js';

const count = Number(process.argv[2] ?? 10000);
const rounds = Number(process.argv[3] ?? 7);
const cacheMiB = process.argv[4] === undefined ? undefined : Number(process.argv[4]);
const zone = 'id.internal';
const prefix = '88.118.8';

const root = mkdtempSync(path.join(os.tmpdir(), 'idres-dns-cost-'));
try {
  const dir = path.join(root, 'node');
  initNode({ dir, prefixes: [prefix], port: 0, dns: { enabled: true, port: 0, zones: [zone] }, force: true });
  if (cacheMiB !== undefined) {
    const file = path.join(dir, 'idres.json');
    const c = JSON.parse(readFileSync(file, 'utf8')) as { cache?: Record<string, unknown>; dns: Record<string, unknown> };
    c.cache = { ...c.cache, maxBytes: cacheMiB * 1024 * 1024 };
    c.dns.cacheMaxBytes = cacheMiB * 1024 * 1024;
    writeFileSync(file, JSON.stringify(c));
  }
  const config = loadConfig(dir);
  const registry = new Registry(path.join(dir, config.database), { foldSuffix: config.caseFoldSuffix });
  const products = generateProducts(prefix, count);
  const now = Math.floor(Date.now() / 1000);
  registry.db.transaction(() => {
    for (const p of products) registry.createInTxn(p.handle, p.values, true, now);
  })();
  registry.close();
  const n = await IdresNode.start(dir, { log: () => undefined });
  const gateway = n.dns!.gateway as DnsGateway;
  const queries = products.map((p, i) =>
    dnsPacket.encode({ type: 'query', id: i & 0xffff, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'TXT', name: identifierToName(p.handle, zone) }], additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as never] }),
  );
  const run = (): number => {
    const t0 = process.hrtime.bigint();
    for (const q of queries) {
      const r = gateway.handle(q, 'udp');
      if (r instanceof Promise) throw new Error('asynchronous answer: not a local node?');
      if (!r) throw new Error('no answer');
    }
    return Number(process.hrtime.bigint() - t0) / 1000 / queries.length;
  };
  const miss: number[] = [];
  const hit: number[] = [];
  for (let r = 0; r < rounds; r++) {
    // Emptying the hot cache outdates every DNS answer made from it (derived-cache.ts): the next asks miss both.
    n.pipeline.cache.clear();
    miss.push(run());
    hit.push(run());
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
  console.log(`${count} identifiers, ${rounds} rounds: miss ${miss.map((x) => x.toFixed(2)).join(' ')} µs, hit ${hit.map((x) => x.toFixed(2)).join(' ')} µs`);
  console.log(`median: miss ${med(miss).toFixed(2)} µs/query, hit ${med(hit).toFixed(2)} µs/query`);
  console.log('gateway stats', gateway.stats, 'blob misses', n.pipeline.blobMiss?.stats.answered);
  await n.stop();
} finally {
  rmSync(root, { recursive: true, force: true });
}
