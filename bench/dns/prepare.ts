// Prepares the DNS gateway benchmark (bench/dns/run.sh): an idres node folder with the demo product
// identifiers and the DNS gateway enabled, the dnsperf query file (one TXT query per identifier), and a
// zone file holding the very records the gateway answers with, for a C name server to serve.
//
//   node dist/bench/dns/prepare.js OUT_DIR COUNT HANDLE_PORT DNS_PORT [cached|uncached]
//
// uncached: the node's hot cache and DNS answer cache are bounded at 1 MiB each (a few thousand answers)
// and the query file is shuffled, so that nearly every query is a registry read, as on a business node
// whose identifiers are each scanned a handful of times in their life.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { initNode } from '../../src/node/init.js';
import { loadConfig } from '../../src/node/config.js';
import { Registry } from '../../src/store/registry.js';
import { generateProducts } from '../../src/demo/products.js';
import { identifierToName } from '../../src/dns/mapping.js';
import { QType, type WireRecord, answerTtl, naptrRecords, publicValues, txtRecords, uriRecords } from '../../src/dns/answers.js';

const [outDir, countArg, handlePortArg, dnsPortArg, mode = 'cached'] = process.argv.slice(2);
if (!outDir || !countArg || !handlePortArg || !dnsPortArg || (mode !== 'cached' && mode !== 'uncached')) {
  console.error('usage: prepare.js OUT_DIR COUNT HANDLE_PORT DNS_PORT [cached|uncached]');
  process.exit(2);
}
const UNCACHED_CACHE_BYTES = 1024 * 1024;
const count = Number(countArg);
const zone = 'id.internal';
const prefix = '88.118.8';
const nodeDir = path.join(outDir, 'idres-node');
mkdirSync(outDir, { recursive: true });

initNode({ dir: nodeDir, prefixes: [prefix], port: Number(handlePortArg), dns: { enabled: true, port: Number(dnsPortArg), zones: [zone] }, force: true });
if (mode === 'uncached') {
  const file = path.join(nodeDir, 'idres.json');
  const c = JSON.parse(readFileSync(file, 'utf8')) as { cache?: Record<string, unknown>; dns: Record<string, unknown> };
  c.cache = { ...c.cache, maxBytes: UNCACHED_CACHE_BYTES };
  c.dns.cacheMaxBytes = UNCACHED_CACHE_BYTES;
  writeFileSync(file, JSON.stringify(c, null, 2));
}
const config = loadConfig(nodeDir);
const registry = new Registry(path.join(nodeDir, config.database), { foldSuffix: config.caseFoldSuffix });
const products = generateProducts(prefix, count);
const now = Math.floor(Date.now() / 1000);
registry.db.transaction(() => {
  for (const p of products) registry.createInTxn(p.handle, p.values, true, now);
})();
registry.close();

/** A zone-file character-string: printable ASCII as is ( " and \ escaped), every other octet as \DDD. */
function quoted(b: Buffer): string {
  let s = '"';
  for (const c of b) {
    if (c === 0x22 || c === 0x5c) s += '\\' + String.fromCharCode(c);
    else if (c >= 0x20 && c <= 0x7e) s += String.fromCharCode(c);
    else s += '\\' + String(c).padStart(3, '0');
  }
  return s + '"';
}

/** A record in zone-file form: TXT as its strings; NAPTR and URI in RFC 3597's generic form, which every server reads. */
function rdataText(r: WireRecord): string {
  if (r.type === QType.TXT) {
    const pieces: string[] = [];
    for (let at = 0; at < r.rdata.length; at += 1 + r.rdata[at]!) pieces.push(quoted(r.rdata.subarray(at + 1, at + 1 + r.rdata[at]!)));
    return 'TXT ' + pieces.join(' ');
  }
  return `TYPE${r.type} \\# ${r.rdata.length} ${r.rdata.toString('hex')}`;
}

const zoneLines = [
  `$ORIGIN ${zone}.`,
  '$TTL 3600',
  `@ IN SOA localhost. hostmaster.${zone}. 1 3600 600 1209600 30`,
  '@ IN NS localhost.',
];
const queries: string[] = [];
for (const p of products) {
  const owner = identifierToName(p.handle, zone) + '.';
  const values = publicValues(p.values);
  const ttl = answerTtl(values, now, config.cache.maxTtlSeconds);
  for (const r of [...txtRecords(values, ttl), ...uriRecords(values, ttl), ...naptrRecords(values, ttl)]) {
    zoneLines.push(`${owner} ${ttl} IN ${rdataText(r)}`);
  }
  queries.push(`${owner} TXT`);
}
writeFileSync(path.join(outDir, `${zone}.zone`), zoneLines.join('\n') + '\n');
if (mode === 'uncached') {
  // Fisher–Yates with a fixed seed (a linear congruential generator), so every run asks in the same order.
  let seed = 16;
  for (let i = queries.length - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const j = seed % (i + 1);
    [queries[i], queries[j]] = [queries[j]!, queries[i]!];
  }
}
writeFileSync(path.join(outDir, 'queries.txt'), queries.join('\n') + '\n');
console.log(`prepared ${products.length} identifiers (${mode}) in ${outDir}: idres-node/, ${zone}.zone, queries.txt`);
