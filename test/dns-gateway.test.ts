// The DNS gateway of a business node, over real UDP and TCP sockets with dns-packet queries: every answer
// kind, TTLs, truncation and the TCP retry, EDNS, malformed queries, and the cache of encoded answers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as dnsPacket from 'dns-packet';
import { identifierToName } from '../src/dns/mapping.js';
import { cli, startTestNode, type TestNode } from './helpers/node.js';
import { query, rcodeOf, tcpAsk, tcpQuery, txtTexts, udpAsk, udpQuery } from './helpers/dns.js';

const Z = 'id.test';
const name = (id: string) => identifierToName(id, Z);

describe('the DNS gateway of a business node homing 88.118.8', () => {
  let t: TestNode;
  let port: number;

  before(async () => {
    t = await startTestNode({ initArgs: ['--dns-port', '0', '--dns-zone', Z, '--case-sensitive'] });
    port = t.node.dns!.port;
    const reg = async (...args: string[]) => {
      const r = await cli(['register', '--dir', t.dir, ...args]);
      assert.equal(r.code, 0, r.stderr);
    };
    await reg('88.118.8/ABC123', '--value', 'URL=https://example.com/product/ABC123', '--value', 'productName=Widget 中文',
      '--value', '5:URL=ftp://files.example.com/abc!123', '--private', '20:internal.cost=12.50 CNY', '--ttl', '600');
    await reg('88.118.8/lower.case', '--value', 'note=kept apart from LOWER.CASE', '--no-admin');
    await reg('88.118.8/SECRET', '--private', 'note=admins only', '--no-admin');
    await reg('88.118.8/BIG', ...Array.from({ length: 40 }, (_, i) => ['--value', `${i + 1}:DESC=${String(i + 1).padEnd(200, 'x')}`]).flat());
    t.node.noticeWrites();
  });
  after(async () => {
    await t.stop();
  });

  for (const transport of ['udp', 'tcp'] as const) {
    test(`TXT: one record per public value, type and data readable (${transport.toUpperCase()})`, async () => {
      const ask = transport === 'udp' ? udpQuery : tcpQuery;
      const r = await ask(port, name('88.118.8/ABC123'), 'TXT', { edns: 1232 });
      assert.equal(rcodeOf(r), 'NOERROR');
      assert.ok(r.flag_aa, 'answers from the registry are authoritative');
      assert.deepEqual(txtTexts(r), [
        '1:URL=https://example.com/product/ABC123',
        '2:productName=Widget 中文',
        '5:URL=ftp://files.example.com/abc!123',
        '100:HS_ADMIN;admin={"handle":"0.NA/88.118.8","index":300,"permissions":"111111111111"}',
      ]);
      assert.ok(r.answers!.every((a) => (a as dnsPacket.TxtAnswer).ttl === 600), 'the TTL is the values\' TTL');
      assert.equal(r.answers![0]!.name, name('88.118.8/ABC123'));
    });
  }

  test('URI (RFC 7553) and NAPTR for URL values; ANY gives all three', async () => {
    const uri = await udpQuery(port, name('88.118.8/ABC123'), 'UNKNOWN_256');
    const targets = uri.answers!.map((a) => {
      const d = (a as dnsPacket.BufferAnswer).data;
      return [d.readUInt16BE(0), d.readUInt16BE(2), d.subarray(4).toString()];
    });
    assert.deepEqual(targets, [
      [1, 1, 'https://example.com/product/ABC123'],
      [5, 1, 'ftp://files.example.com/abc!123'],
    ]);
    const naptr = await udpQuery(port, name('88.118.8/ABC123'), 'NAPTR');
    assert.deepEqual(naptr.answers!.map((a) => (a as dnsPacket.NaptrAnswer).data), [
      { order: 1, preference: 10, flags: 'u', services: 'E2U+web:https', regexp: '!^.*$!https://example.com/product/ABC123!', replacement: '.' },
      { order: 5, preference: 10, flags: 'u', services: 'E2U+ftp', regexp: '!^.*$!ftp://files.example.com/abc\\!123!', replacement: '.' },
    ]);
    const any = await tcpQuery(port, name('88.118.8/ABC123'), 'ANY');
    assert.deepEqual(any.answers!.map((a) => a.type), ['TXT', 'TXT', 'TXT', 'TXT', 'UNKNOWN_256', 'UNKNOWN_256', 'NAPTR', 'NAPTR']);
  });

  test('NXDOMAIN with the zone SOA for an unknown identifier and for names that map to no identifier', async () => {
    for (const n of [name('88.118.8/NOPE'), `abc.8.118.88.${Z}`, `_41bc._.8.118.88.${Z}`]) {
      const r = await udpQuery(port, n, 'TXT', { edns: 1232 });
      assert.equal(rcodeOf(r), 'NXDOMAIN', n);
      assert.ok(r.flag_aa);
      assert.equal(r.answers!.length, 0);
      const soa = r.authorities![0] as dnsPacket.SoaAnswer;
      assert.equal(soa.type, 'SOA');
      assert.equal(soa.name, Z);
      assert.equal(soa.data.minimum, 30, 'the SOA minimum is the node\'s negative TTL');
      assert.ok(soa.ttl! <= 30);
    }
    // A name that maps to nothing says why, in an Extended DNS Error (RFC 8914).
    const r = await udpQuery(port, `abc.8.118.88.${Z}`, 'TXT', { edns: 1232 });
    const opt = r.additionals!.find((a) => a.type === 'OPT') as dnsPacket.OptAnswer;
    const ede = (opt.options as Array<{ code: number; data?: Buffer }>).find((o) => o.code === 15)!;
    assert.match(ede.data!.subarray(2).toString(), /not an identifier name: no "_" label/);
  });

  test('NODATA for a known identifier without the asked type, or without public values', async () => {
    for (const [id, type] of [['88.118.8/ABC123', 'A'], ['88.118.8/lower.case', 'URI'], ['88.118.8/SECRET', 'TXT']] as const) {
      const r = await udpQuery(port, name(id), type);
      assert.equal(rcodeOf(r), 'NOERROR', id);
      assert.equal(r.answers!.length, 0);
      assert.equal(r.authorities![0]!.type, 'SOA');
    }
  });

  test('suffix case is kept apart on a case-sensitive node', async () => {
    const lower = await udpQuery(port, name('88.118.8/lower.case'), 'TXT');
    assert.deepEqual(txtTexts(lower), ['1:note=kept apart from LOWER.CASE']);
    const upper = await udpQuery(port, name('88.118.8/LOWER.CASE'), 'TXT');
    assert.equal(rcodeOf(upper), 'NXDOMAIN');
  });

  test('REFUSED outside the served zones and for prefixes not served here; SOA and NS at the apex', async () => {
    const out = await udpQuery(port, 'www.example.com', 'A');
    assert.equal(rcodeOf(out), 'REFUSED');
    const unhomed = await udpQuery(port, name('99.1/X'), 'TXT');
    assert.equal(rcodeOf(unhomed), 'REFUSED');
    const soa = await udpQuery(port, Z, 'SOA');
    assert.equal(rcodeOf(soa), 'NOERROR');
    assert.deepEqual((soa.answers![0] as dnsPacket.SoaAnswer).data, {
      mname: 'localhost', rname: `hostmaster.${Z}`, serial: 1, refresh: 3600, retry: 600, expire: 1209600, minimum: 30,
    });
    const ns = await tcpQuery(port, Z.toUpperCase() + '.', 'NS');
    assert.deepEqual(ns.answers!.map((a) => [a.type, a.name, (a as dnsPacket.StringAnswer).data]), [['NS', Z.toUpperCase(), 'localhost']]);
    const apexTxt = await udpQuery(port, Z, 'TXT');
    assert.equal(rcodeOf(apexTxt), 'NOERROR');
    assert.equal(apexTxt.answers!.length, 0);
    const axfr = await tcpQuery(port, Z, 'AXFR');
    assert.equal(rcodeOf(axfr), 'REFUSED');
  });

  test('TC when the answer does not fit, the full answer over TCP', async () => {
    const n = name('88.118.8/BIG');
    const plain = await udpQuery(port, n, 'TXT');
    assert.ok(plain.flag_tc, 'over 512 octets without EDNS');
    assert.equal(plain.answers!.length, 0);
    const edns = await udpQuery(port, n, 'TXT', { edns: 4096 });
    assert.ok(edns.flag_tc, 'over our 1232-octet payload even when the client offers 4096');
    const raw = await udpAsk(port, query(n, 'TXT', { edns: 4096 }));
    assert.ok(raw!.length <= 1232);
    const full = await tcpQuery(port, n, 'TXT', { edns: 1232 });
    assert.ok(!full.flag_tc);
    assert.equal(full.answers!.length, 41);
    // A small answer fits in 512 octets without EDNS.
    assert.ok(!(await udpQuery(port, name('88.118.8/lower.case'), 'TXT')).flag_tc);
  });

  test('EDNS: our payload size in the OPT record; none without EDNS; BADVERS for version 1', async () => {
    const r = await udpQuery(port, name('88.118.8/ABC123'), 'TXT', { edns: 4096 });
    const opt = r.additionals!.find((a) => a.type === 'OPT') as dnsPacket.OptAnswer;
    assert.equal(opt.udpPayloadSize, 1232);
    const none = await udpQuery(port, name('88.118.8/ABC123'), 'TXT');
    assert.equal(none.additionals!.length, 0);
    const v1 = await udpAsk(port, query(name('88.118.8/ABC123'), 'TXT', { edns: 1232, ednsVersion: 1 }));
    const d = dnsPacket.decode(v1!);
    assert.equal((d.additionals![0] as dnsPacket.OptAnswer).extendedRcode, 1, 'BADVERS is 16: 1 in the OPT upper bits');
    assert.equal(d.answers!.length, 0);
  });

  test('malformed queries: FORMERR when the header can be read, dropped otherwise; the server keeps serving', async () => {
    assert.equal(await udpAsk(port, Buffer.from([1, 2, 3]), 300), undefined, 'shorter than a header: dropped');
    const good = query(name('88.118.8/ABC123'), 'TXT', { id: 0x4242 });
    const cases: Buffer[] = [
      good.subarray(0, good.length - 3), // question cut short
      Buffer.concat([good.subarray(0, 4), Buffer.from([0, 2]), good.subarray(6)]), // two questions claimed
      Buffer.concat([good.subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 16, 0, 1])]), // a pointer in the question
      Buffer.concat([good.subarray(0, 10), Buffer.from([0, 1]), good.subarray(12)]), // an additional record that is not there
      Buffer.concat([good.subarray(0, 12), Buffer.from([70]), Buffer.alloc(70, 0x61), Buffer.from([0, 0, 16, 0, 1])]), // a 70-octet label
    ];
    for (const c of cases) {
      const r = await udpAsk(port, c);
      assert.ok(r, 'answered');
      assert.equal(r!.readUInt16BE(0), 0x4242);
      assert.equal(r![3]! & 0xf, 1, 'FORMERR');
      assert.ok(r![2]! & 0x80, 'QR');
    }
    // A response is never answered (two servers cannot be made to loop).
    const response = Buffer.from(good);
    response[2] = response[2]! | 0x80;
    assert.equal(await udpAsk(port, response, 300), undefined);
    // NOTIMP for another opcode (NOTIFY = 4).
    const notify = Buffer.from(good);
    notify[2] = (notify[2]! & 0x87) | (4 << 3);
    assert.equal((await udpAsk(port, notify))![3]! & 0xf, 4);
    // Random bytes: whatever happens, the node still answers afterwards, over UDP and TCP.
    for (let i = 0; i < 200; i++) await udpAsk(port, Buffer.from(Array.from({ length: 12 + (i % 40) }, () => Math.floor(Math.random() * 256))), 5);
    assert.equal(rcodeOf(await udpQuery(port, name('88.118.8/ABC123'), 'TXT')), 'NOERROR');
    assert.equal(rcodeOf(await tcpQuery(port, name('88.118.8/ABC123'), 'TXT')), 'NOERROR');
  });

  test('TCP: several queries on one connection, answered in order', async () => {
    const ids = [11, 12, 13, 14];
    const packets = ids.map((id, i) => query(name(i % 2 ? '88.118.8/ABC123' : '88.118.8/NOPE'), 'TXT', { id }));
    const answers = (await tcpAsk(port, packets)).map((b) => dnsPacket.decode(b));
    assert.deepEqual(answers.map((a) => [a.id, rcodeOf(a)]), [[11, 'NXDOMAIN'], [12, 'NOERROR'], [13, 'NXDOMAIN'], [14, 'NOERROR']]);
  });

  test('cached answers carry the asker\'s ID, RD bit and question case; a registry write ends them', async () => {
    const n = name('88.118.8/ABC123');
    const hits = t.node.dns!.gateway.stats.cacheHits;
    const mixed = n.split('').map((c, i) => (i % 2 ? c.toUpperCase() : c)).join('');
    const raw = await udpAsk(port, query(mixed, 'TXT', { id: 777, rd: false }));
    const r = dnsPacket.decode(raw!);
    assert.ok(t.node.dns!.gateway.stats.cacheHits > hits, 'served from the cache');
    assert.equal(r.id, 777);
    assert.ok(!r.flag_rd);
    assert.equal(r.questions![0]!.name, mixed, 'the question comes back as asked (0x20)');
    assert.equal(txtTexts(r).length, 4);

    const w = await cli(['register', '88.118.8/ABC123', '--dir', t.dir, '--overwrite', '--value', 'URL=https://example.com/v2']);
    assert.equal(w.code, 0, w.stderr);
    t.node.noticeWrites();
    const after = await udpQuery(port, n, 'TXT');
    assert.deepEqual(txtTexts(after), ['1:URL=https://example.com/v2', '100:HS_ADMIN;admin={"handle":"0.NA/88.118.8","index":300,"permissions":"111111111111"}']);
  });

  test('the Handle front end and DNS share one hot cache', async () => {
    const cache = t.node.pipeline.cache;
    const before = cache.stats.inserts;
    await udpQuery(port, name('88.118.8/lower.case'), 'NAPTR'); // already cached by an earlier question
    assert.equal(cache.stats.inserts, before);
  });
});
