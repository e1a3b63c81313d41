// The DNS gateway's own records and its miss path stay honest:
// * an identifier's records, written here in wire form without dns-packet (dns/answers.ts, dns/message.ts),
//   are byte for byte what dns-packet writes for the same records, for random values and query shapes;
// * over real UDP and TCP, a node whose uncached identifier queries go through the blob copy
//   (resolve/blob-miss.ts) answers every query exactly as a node without it does, and a cached answer,
//   patched with the asker's ID, RD bit and question case, is exactly the answer encoded afresh.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import * as dnsPacket from 'dns-packet';
import type { Answer as DnsRecord } from 'dns-packet';
import { type WireRecord, identifierRecords, isUrlValue, QType, txtStrings, valueText } from '../src/dns/answers.js';
import { type OwnedRecord, encodeResponse } from '../src/dns/message.js';
import { parseQuery } from '../src/dns/query.js';
import { identifierToName } from '../src/dns/mapping.js';
import { encodeAdmin } from '../src/protocol/admin-data.js';
import { type HandleValue, Perm } from '../src/model/value.js';
import { Registry } from '../src/store/registry.js';
import { Nodes } from './helpers/tiers.js';
import { query, tcpAsk, udpAsk } from './helpers/dns.js';
import { tempDir } from './helpers/node.js';

const SEED = Number(process.env.IDRES_DNS_MISS_SEED ?? 0x16d5);
const NOW_S = 1_800_000_000;
const NOW_MS = NOW_S * 1000 + 250;
const ZONE = 'id.test';
const PREFIX = '88.118.8';
const PUBLIC = Perm.ADMIN_READ | Perm.ADMIN_WRITE | Perm.PUBLIC_READ;

const TYPES = ['URL', 'url', 'URL.mirror', 'EMAIL', 'desc', 'HS_ADMIN', 'hs_vlist', 'HS_SITE', 'HS_PUBKEY', '类型', 'x'];
const URLS = ['https://example.cn/p/1', 'http://a.example/x?y=1', 'ftp://files.example/abc!1', 'urn:isbn:123', 'HTTPS://EXAMPLE.CN/up', 'mailto:a\\b@example.cn', 'no scheme here', ':bad', `https://example.cn/${'x'.repeat(260)}`, 'https://例子.中国/路径'];

const dataArb = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 80 }).map((s) => Buffer.from(s, 'utf8')) },
  { weight: 3, arbitrary: fc.constantFrom(...URLS).map((s) => Buffer.from(s, 'utf8')) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => Buffer.from(s, 'utf8')) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 200, maxLength: 400 }).map((s) => Buffer.from(s, 'utf8')) },
  { weight: 1, arbitrary: fc.constant(Buffer.from(encodeAdmin({ permissions: 0xfff, handle: `0.NA/${PREFIX}`, index: 300 }))) },
  { weight: 1, arbitrary: fc.constantFrom(60_001, 65_000).map((n) => Buffer.alloc(n, 0x61)) },
);

const valueArb = fc.record({
  type: fc.constantFrom(...TYPES),
  data: dataArb,
  // A TTL of 0 (an answer nobody may keep) is rare, as on a real node: most answers are cached.
  ttl: fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 15, arbitrary: fc.constantFrom(60, 3600, 86400) }),
  absolute: fc.boolean(),
});

const valuesArb = fc
  .tuple(fc.uniqueArray(fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constant(0xffffffff), fc.constant(70_000)), { minLength: 1, maxLength: 6 }), fc.array(valueArb, { minLength: 6, maxLength: 6 }))
  .map(([indexes, vs]) =>
    indexes.map(
      (index, i): HandleValue => ({
        index,
        type: vs[i]!.type,
        data: vs[i]!.data,
        timestamp: 0,
        ttlType: vs[i]!.absolute ? 1 : 0,
        ttl: vs[i]!.absolute ? NOW_S + vs[i]!.ttl : vs[i]!.ttl,
        permissions: PUBLIC,
        references: [],
      }),
    ),
  );

// The reference: the same records as dns-packet's objects, made as the gateway made them before it wrote
// them itself (TXT pieces, URI's RDATA under its number, NAPTR's fields).
function scheme(url: string): string | undefined {
  return /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
}

function referenceRecords(qtype: number, values: readonly HandleValue[], ttl: number): DnsRecord[] {
  const txt = (): DnsRecord[] =>
    values.map((v) => {
      let text = valueText(v);
      const n = Buffer.byteLength(text);
      if (n > 60000) text = `${v.index}:${v.type};omitted=${n} octets, too large for DNS`;
      return { type: 'TXT', name: '.', ttl, data: txtStrings(text) };
    });
  const urls = values.filter((v) => isUrlValue(v) && scheme(v.data.toString('utf8')) !== undefined);
  const order = (i: number) => Math.min(i, 0xffff);
  const uri = (): DnsRecord[] =>
    urls
      .filter((v) => v.data.length > 0)
      .map((v) => {
        const data = Buffer.concat([Buffer.from([order(v.index) >> 8, order(v.index) & 0xff, 0, 1]), v.data]);
        return { type: 'UNKNOWN_256' as 'URI', name: '.', ttl, data } as unknown as DnsRecord;
      });
  const naptr = (): DnsRecord[] =>
    urls.flatMap((v) => {
      const url = v.data.toString('utf8');
      const s = scheme(url)!;
      const regexp = `!^.*$!${url.replace(/[\\!]/g, (c) => '\\' + c)}!`;
      const services = s === 'http' || s === 'https' ? `E2U+web:${s}` : `E2U+${s}`;
      if (Buffer.byteLength(regexp) > 255 || Buffer.byteLength(services) > 255) return [];
      return [{ type: 'NAPTR', name: '.', ttl, data: { order: order(v.index), preference: 10, flags: 'u', services, regexp, replacement: '.' } } as DnsRecord];
    });
  if (qtype === QType.TXT) return txt();
  if (qtype === QType.URI) return uri();
  if (qtype === QType.NAPTR) return naptr();
  if (qtype === QType.ANY) return [...txt(), ...uri(), ...naptr()];
  return [];
}

const QTYPES: Array<[number, string]> = [
  [QType.TXT, 'TXT'],
  [QType.URI, 'UNKNOWN_256'],
  [QType.NAPTR, 'NAPTR'],
  [QType.ANY, 'ANY'],
];

test('an identifier\'s records written in wire form are byte for byte what dns-packet writes for them', () => {
  const name = identifierToName(`${PREFIX}/PUMP-1`, ZONE);
  let records = 0;
  fc.assert(
    fc.property(valuesArb, fc.constantFrom(...QTYPES), fc.constantFrom(undefined, 512, 1232, 4096), fc.constantFrom(0, 300, 86400), (values, [qtype, qname], edns, ttl) => {
      const q = parseQuery(query(name, qname, { edns, id: 4242 }));
      const parts = (list: Array<WireRecord | DnsRecord>) => ({
        rcode: 0,
        authoritative: true,
        recursionAvailable: false,
        zoneLabels: 2,
        answers: list.map((record): OwnedRecord => ({ owner: 'name', record })),
        authorities: [],
      });
      const ours = identifierRecords(qtype, values, ttl);
      const reference = referenceRecords(qtype, values, ttl);
      assert.equal(ours.length, reference.length);
      records += ours.length;
      for (const limit of [65535, 1232]) {
        const a = encodeResponse(q, parts(ours), limit, 1232);
        const b = encodeResponse(q, parts(reference), limit, 1232);
        assert.deepEqual(a.bytes, b.bytes);
        assert.deepEqual(a.ttlOffsets, b.ttlOffsets);
        assert.equal(a.truncated, b.truncated);
        const decoded = dnsPacket.decode(a.bytes);
        if (!a.truncated) assert.equal(decoded.answers!.length, ours.length);
      }
    }),
    { seed: SEED, numRuns: 400 },
  );
  assert.ok(records > 500, `records compared: ${records}`);
});

const dir = tempDir('idres-dns-miss-');
after(() => rmSync(dir, { recursive: true, force: true }));

test('over real UDP and TCP, a query answered through the blob copy is answered as without it, and a patched cached answer is the answer encoded afresh', async () => {
  const nodes = new Nodes();
  const clock = () => NOW_MS;
  try {
    const first = await nodes.start('business', { prefixes: [PREFIX], dns: { enabled: true, port: 0, zones: [ZONE] } }, undefined, 0, { clock });
    const nodeDir = first.dir;
    await nodes.stop(first);

    // Random records, nearly all public (so the blob copy answers them); a few with a private value (so it declines).
    const records = fc.sample(valuesArb, { seed: SEED, numRuns: 60 });
    const handles: string[] = [];
    const registry = new Registry(path.join(nodeDir, 'registry.db'));
    records.forEach((values, i) => {
      const handle = `${PREFIX}/P-${i}`;
      const stored = i % 10 === 9 ? values.map((v, j) => (j === 0 ? { ...v, permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE } : v)) : values;
      registry.create(handle, stored, { now: NOW_S });
      handles.push(handle);
    });
    registry.close();
    handles.push(`${PREFIX}/NOT-THERE`);

    // Each query asked twice: as first written, then with another ID, RD bit and the name's letters in
    // other cases (0x20), which a node with the blob copy answers from its DNS cache, patched.
    const recase = (n: string) => n.split('').map((c, i) => (i % 3 === 0 ? c.toUpperCase() : c)).join('');
    const asks: Array<{ first: Buffer; again: Buffer; tcp: boolean }> = [];
    handles.forEach((h, i) => {
      const name = identifierToName(h, ZONE);
      for (const [j, [, qname]] of QTYPES.entries()) {
        const edns = [undefined, 512, 1232, 4096][(i + j) % 4];
        asks.push({
          first: query(name, qname, { edns, id: 1000 + i * 10 + j }),
          again: query(recase(name), qname, { edns, id: 30000 + i * 10 + j, rd: false }),
          tcp: (i + j) % 5 === 0,
        });
      }
    });

    const askAll = async (blobMisses: boolean) => {
      const n = await nodes.startDir(nodeDir, { clock, blobMisses });
      const port = n.dns!.port;
      const ask = async (packet: Buffer, tcp: boolean) => {
        const r = tcp ? (await tcpAsk(port, [packet]))[0] : await udpAsk(port, packet);
        assert.ok(r, 'an answer');
        return r;
      };
      const out: Buffer[] = [];
      try {
        for (const a of asks) {
          out.push(await ask(a.first, a.tcp));
          // Without the blob copy, the cache is emptied first: the second answer is encoded afresh.
          if (!blobMisses) n.pipeline.cache.clear();
          out.push(await ask(a.again, a.tcp));
        }
        return { out, stats: { ...n.dns!.gateway.stats } };
      } finally {
        await nodes.stop(n);
      }
    };

    const fast = await askAll(true);
    const general = await askAll(false);
    assert.equal(general.stats.blobCopies, 0);
    // One per handle at least (its first query; the next types find the Handle answer in the hot cache).
    assert.ok(fast.stats.blobCopies >= 40, `blob copies: ${fast.stats.blobCopies}`);
    assert.ok(fast.stats.cacheHits >= asks.length / 2, `patched answers: ${fast.stats.cacheHits} of ${asks.length}`);
    assert.equal(general.stats.cacheHits, 0, 'the general node answered everything afresh');
    assert.equal(fast.out.length, general.out.length);
    for (let i = 0; i < fast.out.length; i++) assert.deepEqual(fast.out[i], general.out[i], `answer ${i} (${dnsPacket.decode(general.out[i]!).questions![0]!.name})`);
  } finally {
    await nodes.stopAll();
  }
});
