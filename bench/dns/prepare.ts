// Prepares the DNS gateway benchmark (bench/dns/run.sh): an idres node folder with the demo product
// identifiers and the DNS gateway enabled, the dnsperf query file (one TXT query per identifier), and a
// zone file holding the very records the gateway answers with, for a C name server to serve.
//
//   node dist/bench/dns/prepare.js OUT_DIR COUNT HANDLE_PORT DNS_PORT
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Answer as DnsRecord } from 'dns-packet';
import { initNode } from '../../src/node/init.js';
import { loadConfig } from '../../src/node/config.js';
import { Registry } from '../../src/store/registry.js';
import { generateProducts } from '../../src/demo/products.js';
import { identifierToName } from '../../src/dns/mapping.js';
import { answerTtl, naptrRecords, publicValues, txtRecords, uriRecords } from '../../src/dns/answers.js';

const [outDir, countArg, handlePortArg, dnsPortArg] = process.argv.slice(2);
if (!outDir || !countArg || !handlePortArg || !dnsPortArg) {
  console.error('usage: prepare.js OUT_DIR COUNT HANDLE_PORT DNS_PORT');
  process.exit(2);
}
const count = Number(countArg);
const zone = 'id.internal';
const prefix = '88.118.8';
const nodeDir = path.join(outDir, 'idres-node');
mkdirSync(outDir, { recursive: true });

initNode({ dir: nodeDir, prefixes: [prefix], port: Number(handlePortArg), dns: { enabled: true, port: Number(dnsPortArg), zones: [zone] }, force: true });
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

function rdataText(r: DnsRecord): string {
  switch (r.type) {
    case 'TXT':
      return 'TXT ' + (r.data as Buffer[]).map(quoted).join(' ');
    case 'NAPTR': {
      const d = r.data;
      return `NAPTR ${d.order} ${d.preference} ${quoted(Buffer.from(d.flags))} ${quoted(Buffer.from(d.services))} ${quoted(Buffer.from(d.regexp))} .`;
    }
    default: {
      // URI in RFC 3597's generic form, which every server reads whether or not it knows the type.
      const data = (r as { data: Buffer }).data;
      return `TYPE256 \\# ${data.length} ${data.toString('hex')}`;
    }
  }
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
writeFileSync(path.join(outDir, 'queries.txt'), queries.join('\n') + '\n');
console.log(`prepared ${products.length} identifiers in ${outDir}: idres-node/, ${zone}.zone, queries.txt`);
