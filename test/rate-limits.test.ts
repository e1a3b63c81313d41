// Item 4 of the hardening issue: no single client can flood through the node or guess passwords at leisure.
// Response-rate limiting of every UDP answer by source network (slip: every Nth limited answer a short TC,
// the rest dropped; another network unaffected; a bounded table); failed authentications over HTTP and
// the wire limited per identity and per source, with lockouts that double and end, logged and counted;
// and the security log limiting itself under a flood. The clocks are fake: nothing sleeps to wait for time.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { startTestNode, type TestNode } from './helpers/node.js';
import { addIdentities, baseOf, basic, call, USER, USER_SECRET, NOBODY } from './helpers/http.js';
import { SdkConnection, sdkLogin } from './helpers/idis-sdk.js';
import { HandleClient } from '../src/client/handle-client.js';
import { AdminClient, AdminError } from '../src/client/admin-client.js';
import { encodeRequest } from '../src/client/request.js';
import { makeValue } from '../src/model/value.js';
import { parseAddress, networkOf } from '../src/model/address.js';
import { encodeResolutionRequest } from '../src/protocol/bodies.js';
import { OpCode, ResponseCode } from '../src/protocol/constants.js';
import { decodePacket } from '../src/protocol/message.js';
import { readPrivateKey } from '../src/protocol/keyfile.js';
import { DROP, ResponseRateLimiter, SEND, SLIP, TRUNCATE, type RrlOptions } from '../src/server/udp-rate.js';
import { truncatedDns } from '../src/server/dns.js';
import { SecurityLog } from '../src/admin/security-log.js';
import { AuthLimiter } from '../src/admin/auth-limits.js';
import { validateConfig } from '../src/node/config.js';
import { query, tcpQuery } from './helpers/dns.js';

const RRL: RrlOptions = { responsesPerSecond: 5, burst: 5, slip: 3, ipv4PrefixLength: 24, ipv6PrefixLength: 56, tableSize: 64, exempt: [] };

/** The events of a list of JSON lines, parsed. */
const parsed = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

describe('the response-rate limiter (unit)', () => {
  test('a network gets its burst, then every slip-th limited answer as TC and the rest dropped; another network is untouched; the bucket refills', () => {
    const l = new ResponseRateLimiter(RRL, undefined);
    const v = (a: string, t = 1000) => l.check(a, 100, t);
    for (let i = 1; i <= 5; i++) assert.equal(v(`192.0.2.${i}`), SEND);
    assert.deepEqual([6, 7, 8, 9, 10, 11].map((i) => v(`192.0.2.${i}`)), [DROP, DROP, SLIP, DROP, DROP, SLIP]);
    assert.equal(l.stats.dropped, 4);
    assert.equal(l.stats.slipped, 2);
    assert.equal(v('192.0.3.1'), SEND, 'the next /24 is another network');
    // 5 a second: after 400 ms two answers more.
    assert.deepEqual([v('192.0.2.1', 1400), v('192.0.2.1', 1400), v('192.0.2.1', 1400)], [SEND, SEND, DROP]);
    // Quiet for long, it has its whole burst again, never more.
    // (The slip counts on: this is the network's 8th limited answer.)
    assert.deepEqual(Array.from({ length: 7 }, () => v('192.0.2.77', 60000)), [SEND, SEND, SEND, SEND, SEND, DROP, SLIP]);
  });

  test('slip 0 drops every limited answer, slip 1 sends each as TC', () => {
    const drop = new ResponseRateLimiter({ ...RRL, burst: 1, slip: 0 }, undefined);
    assert.deepEqual([1, 2, 3, 4].map(() => drop.check('198.51.100.1', 50, 0)), [SEND, DROP, DROP, DROP]);
    const tc = new ResponseRateLimiter({ ...RRL, burst: 1, slip: 1 }, undefined);
    assert.deepEqual([1, 2, 3].map(() => tc.check('198.51.100.1', 50, 0)), [SEND, SLIP, SLIP]);
  });

  test('IPv6 is counted by /56, IPv4-mapped addresses as IPv4; the prefix lengths are settings', () => {
    const l = new ResponseRateLimiter({ ...RRL, burst: 1 }, undefined);
    assert.equal(l.check('2001:db8:0:100::1', 0, 0), SEND);
    assert.notEqual(l.check('2001:db8:0:1ff:ffff::2', 0, 0), SEND, 'same /56');
    assert.equal(l.check('2001:db8:0:200::1', 0, 0), SEND, 'the next /56');
    assert.equal(l.check('::ffff:203.0.113.9', 0, 0), SEND);
    assert.notEqual(l.check('203.0.113.200', 0, 0), SEND, 'the mapped address counts with its IPv4 network');
    const wide = new ResponseRateLimiter({ ...RRL, burst: 1, ipv4PrefixLength: 16 }, undefined);
    assert.equal(wide.check('10.1.2.3', 0, 0), SEND);
    assert.notEqual(wide.check('10.1.99.3', 0, 0), SEND, 'same /16');
    // Text that is not an address is never limited (nothing to count it under).
    assert.equal(l.check('not-an-address', 0, 0), SEND);
  });

  test('exempt blocks: a whole network, or single addresses inside a limited one', () => {
    const l = new ResponseRateLimiter({ ...RRL, burst: 1, exempt: ['127.0.0.0/8', '::1/128', '192.0.2.7/32'] }, undefined);
    for (let i = 0; i < 50; i++) assert.equal(l.check('127.0.0.1', 100, 0), SEND);
    for (let i = 0; i < 50; i++) assert.equal(l.check('::1', 100, 0), SEND);
    assert.equal(l.check('192.0.2.8', 100, 0), SEND);
    assert.notEqual(l.check('192.0.2.9', 100, 0), SEND);
    assert.equal(l.check('192.0.2.7', 100, 0), SEND, 'exempt however empty its network bucket');
  });

  test('the large-answer byte budget: answers over minBytes also cost their bytes; past the budget TC', () => {
    const l = new ResponseRateLimiter({ ...RRL, responsesPerSecond: 0 }, { minBytes: 1232, bytesPerSecond: 10000 });
    assert.equal(l.check('192.0.2.1', 6000, 0), SEND);
    assert.equal(l.check('192.0.2.2', 6000, 0), TRUNCATE, 'same network, over its 10,000 bytes');
    assert.equal(l.check('192.0.2.2', 1000, 0), SEND, 'small answers do not cost bytes');
    assert.equal(l.check('192.0.2.2', 6000, 1000), SEND, 'refilled after a second');
    assert.equal(l.stats.truncated, 1);
  });

  test('the table is bounded: a flood from 100,000 networks fills a fixed table, and a busy network stays limited through it', () => {
    const l = new ResponseRateLimiter({ ...RRL, tableSize: 256, burst: 10 }, undefined);
    assert.equal(l.size, 256);
    let limited = 0;
    for (let i = 0; i < 100000; i++) {
      // Distinct /24s (10.x.y.0), each well under its rate, interleaved with one network over it.
      l.check(`10.${(i >> 8) & 255}.${i & 255}.1`, 100, 5000);
      if (l.check('192.0.2.1', 100, 5000) !== SEND) limited++;
    }
    assert.ok(l.stats.used <= l.size, `${l.stats.used} entries in a table of ${l.size}`);
    assert.ok(l.stats.evictions > 0);
    assert.equal(limited, 100000 - 10, 'the busy network kept its entry (the least recently used of a set goes)');
  });

  test('a network is reported when limited, then at most once an interval, with the count since', () => {
    const reports: Array<[string, number, number]> = [];
    const l = new ResponseRateLimiter({ ...RRL, burst: 1, slip: 2 }, undefined, (p, n, s) => reports.push([p, n, s]), 10000);
    for (let i = 0; i < 11; i++) l.check('192.0.2.1', 0, 0);
    assert.deepEqual(reports, [['192.0.2.0/24', 1, 0]]);
    l.check('192.0.2.1', 0, 10000); // refilled: sent
    l.check('192.0.2.1', 0, 10000);
    assert.deepEqual(reports[1], ['192.0.2.0/24', 10, 5], 'the ten limited at 0 ms (one reported then) and the first at 10 s');
    for (let i = 0; i < 2; i++) l.check('2001:db8:aa:bb01::1', 0, 20000);
    assert.deepEqual(reports[2], ['2001:db8:aa:bb00::/56', 1, 0]);
  });

  test('addresses are read without allocation in every form Node writes them', () => {
    const g = new Uint16Array(8);
    assert.equal(parseAddress('192.0.2.1', g), 4);
    assert.deepEqual([g[6], g[7]], [0xc000, 0x0201]);
    assert.equal(parseAddress('::ffff:192.0.2.1', g), 4);
    assert.deepEqual([g[6], g[7]], [0xc000, 0x0201]);
    assert.equal(parseAddress('2001:db8::1', g), 6);
    assert.deepEqual([...g], [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
    assert.equal(parseAddress('fe80::1:2%eth0', g), 6);
    assert.deepEqual([...g], [0xfe80, 0, 0, 0, 0, 0, 1, 2]);
    assert.equal(parseAddress('::', g), 6);
    assert.equal(parseAddress('1:2:3:4:5:6:7:8', g), 6);
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1::2::3', ':1', '1:2:3:4:5:6:7:8:9', 'x::1', '1.2.3.4:80', '12345::']) {
      assert.equal(parseAddress(bad, g), 0, bad);
    }
    assert.equal(networkOf('192.0.2.1'), '192.0.2.1');
    assert.equal(networkOf('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  });

  test('a slipped DNS answer is its header and question with TC and no records', () => {
    const q = Buffer.from('1234' + '8180' + '0001' + '0001' + '0000' + '0001' + '02696402636e00' + '00100001' + 'c00c0010000100000e10000403616263' + '0000291000000000000000', 'hex');
    const tc = truncatedDns(q)!;
    assert.equal(tc.length, 12 + 7 + 4);
    assert.equal(tc[2]! & 0x02, 0x02);
    assert.deepEqual([tc.readUInt16BE(4), tc.readUInt16BE(6), tc.readUInt16BE(8), tc.readUInt16BE(10)], [1, 0, 0, 0]);
    assert.equal(truncatedDns(q.subarray(0, 15)), undefined);
  });
});

describe('UDP answers to a busy network over a real node', () => {
  let t: TestNode;
  let now = 1_000_000;
  const lines: string[] = [];
  before(async () => {
    t = await startTestNode({
      patch: (c) => ((c.udp = { rrl: { responsesPerSecond: 10, burst: 10, slip: 2, exempt: [] } })),
      start: { clock: () => now, securityLog: (l) => lines.push(l) },
    });
    t.node.registry!.create('88.118.8/SMALL', [makeValue(1, 'URL', 'https://example.cn/s')]);
  });
  after(() => t.stop());

  /** Send `count` resolutions from a socket bound to `from`; every datagram back within a while, by RequestId. */
  async function burst(from: string, count: number, firstId = 1): Promise<Map<number, Buffer>> {
    const sock = dgram.createSocket('udp4');
    const got = new Map<number, Buffer>();
    sock.on('message', (m) => got.set(m.readUInt32BE(8), m));
    await new Promise<void>((r) => sock.bind(0, from, r));
    for (let i = 0; i < count; i++) {
      sock.send(encodeRequest({ opCode: OpCode.RESOLUTION, body: encodeResolutionRequest('88.118.8/SMALL'), requestId: firstId + i }), t.server.port, '127.0.0.1');
    }
    const deadline = Date.now() + 3000;
    // Wait for the answers that will come (at most `count`), then a little for any stragglers.
    while (Date.now() < deadline && got.size < count) {
      const before = got.size;
      await new Promise((r) => setTimeout(r, 150));
      if (got.size === before && got.size > 0) break;
    }
    sock.close();
    return got;
  }

  test('small answers past the rate: most dropped, every second one a short TC; another network (127.0.1.x) is still answered', async () => {
    const busy = await burst('127.0.0.5', 40);
    const full = [...busy.values()].filter((m) => !decodePacket(m).envelope.truncated);
    const tc = [...busy.values()].filter((m) => decodePacket(m).envelope.truncated);
    assert.equal(full.length, 10, 'the burst');
    assert.equal(tc.length, 15, 'half of the 30 limited answers slip');
    assert.equal(busy.size, 25, 'the other 15 are dropped');
    for (const m of full) assert.equal(decodePacket(m).header.responseCode, ResponseCode.SUCCESS);
    for (const m of tc) {
      const p = decodePacket(m);
      assert.equal(p.header.responseCode, ResponseCode.SERVER_TOO_BUSY);
      assert.ok(m.length < 100, `a short answer (${m.length} bytes)`);
    }
    const other = await burst('127.0.1.5', 5, 100);
    assert.equal(other.size, 5);
    for (const m of other.values()) assert.equal(decodePacket(m).header.responseCode, ResponseCode.SUCCESS);

    const s = t.node.security.rrl.stats;
    assert.deepEqual([s.dropped, s.slipped], [15, 15]);
    const events = parsed(lines).filter((e) => e.event === 'udp_rate_limited');
    assert.equal(events.length, 1, 'one line for the network, not one per packet');
    assert.equal(events[0]!.source, '127.0.0.0/24');
    const metrics = await t.node.http!.metrics.text();
    assert.match(metrics, /idres_udp_rate_limited_total\{front="handle",action="dropped"\} 15/);
    assert.match(metrics, /idres_udp_rate_limited_total\{front="handle",action="slipped"\} 15/);
    assert.match(metrics, /idres_security_events_total\{event="udp_rate_limited"\} 1/);
  });

  test('a real client behind the limited network gets its answer over TCP after the TC', async () => {
    const client = new HandleClient({ udpTimeoutsMs: [200, 200, 200], tcpTimeoutMs: 3000 });
    try {
      const r = await client.resolve(t.server, '88.118.8/SMALL');
      assert.equal(r.responseCode, ResponseCode.SUCCESS);
      assert.equal(r.transport, 'tcp');
    } finally {
      client.close();
    }
  });

  test('after the interval the network is reported again with the count of limited answers since', async () => {
    const s = t.node.security.rrl.stats;
    // Limited so far: the first one reported, the rest not yet.
    const limitedSoFar = s.dropped + s.slipped;
    now += 10000; // refilled, and the report interval is over
    const got = await burst('127.0.0.5', 12, 200);
    assert.equal([...got.values()].filter((m) => !decodePacket(m).envelope.truncated).length, 10);
    const events = parsed(lines).filter((e) => e.event === 'udp_rate_limited');
    assert.equal(events.length, 2);
    assert.equal(events[1]!.limited, limitedSoFar, 'the ones since the last line, and this one');
  });
});

test("the DNS gateway's UDP answers are limited the same way (a DNS TC answer when one slips); TCP is not", async () => {
  const lines: string[] = [];
  const t = await startTestNode({
    patch: (c) => {
      c.udp = { rrl: { responsesPerSecond: 5, burst: 5, slip: 2, exempt: [] } };
      c.dns = { enabled: true, port: 0, zones: ['id.internal'] };
    },
    start: { clock: () => 5_000_000, securityLog: (l) => lines.push(l) },
  });
  try {
    t.node.registry!.create('88.118.8/SMALL', [makeValue(1, 'URL', 'https://example.cn/s')]);
    const sock = dgram.createSocket('udp4');
    const got: Buffer[] = [];
    sock.on('message', (m) => got.push(m));
    await new Promise<void>((r) => sock.bind(0, '127.0.0.9', r));
    for (let i = 0; i < 25; i++) sock.send(query('small._.8.118.88.id.internal', 'TXT', { id: i + 1 }), t.node.dns!.port, '127.0.0.1');
    for (let waited = 0; waited < 3000 && got.length < 15; waited += 50) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 200));
    sock.close();
    const tc = got.filter((m) => (m[2]! & 0x02) !== 0);
    assert.equal(got.length - tc.length, 5, 'the burst answered in full');
    assert.equal(tc.length, 10, 'half of the 20 limited slip as TC');
    for (const m of tc) assert.equal(m.readUInt16BE(6), 0, 'no answer records in a TC answer');
    assert.deepEqual([t.node.security.dnsRrl!.stats.dropped, t.node.security.dnsRrl!.stats.slipped], [10, 10]);
    assert.equal(parsed(lines).filter((e) => e.event === 'dns_rate_limited')[0]?.source, '127.0.0.0/24');
    assert.match(await t.node.http!.metrics.text(), /idres_udp_rate_limited_total\{front="dns",action="dropped"\} 10/);
    // Over TCP the same network is answered in full (a connection proves its address).
    const overTcp = await tcpQuery(t.node.dns!.port, 'small._.8.118.88.id.internal', 'TXT');
    assert.equal(overTcp.answers?.length, 1);
  } finally {
    await t.stop();
  }
});

describe('failed authentications over a real node (HTTP and the wire share the limits)', () => {
  let t: TestNode;
  let now = 1_000_000;
  const lines: string[] = [];
  let base: string;
  const events = (name: string) => parsed(lines).filter((e) => e.event === name);
  before(async () => {
    t = await startTestNode({
      patch: (c) => {
        c.admin = { failedAuth: { perIdentity: 3, perSource: 1000, lockoutSeconds: 10, maxLockoutSeconds: 100, forgetSeconds: 1000 } };
        c.securityLog = { intervalSeconds: 60, linesPerInterval: 5 };
      },
      start: { clock: () => now, securityLog: (l) => lines.push(l) },
    });
    addIdentities(t.node);
    base = baseOf(t.node);
  });
  after(() => t.stop());

  const get = (password: string, who = USER) => call(base, 'GET', `/api/handles/${USER}`, { headers: basic(`300:${who}`, password) });

  test('HTTP Basic: three wrong passwords, then 429 with Retry-After, the right one too, until the lockout ends', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await get('guess-' + i)).status, 401);
    const locked = await get(USER_SECRET);
    assert.equal(locked.status, 429, 'the right password is refused unchecked while locked');
    assert.equal(locked.headers['retry-after'], '10');
    assert.equal(locked.json.responseCode, ResponseCode.SERVER_TOO_BUSY);
    assert.match(locked.json.message, /too many failed authentications for this identity/);
    // Another identity from the same address is not locked (the source limit is far off here).
    assert.equal((await get('nope', NOBODY)).status, 401);

    const failed = events('auth_failed').filter((e) => e.identity === `300:${USER}`);
    assert.equal(failed.length, 3);
    assert.deepEqual(failed.map((e) => e.identityFailures), [1, 2, 3]);
    assert.equal(failed[0]!.transport, 'http');
    assert.equal(failed[0]!.source, '127.0.0.1');
    assert.equal(failed[0]!.reason, 'Identity not verified');
    const lockouts = events('auth_lockout');
    assert.equal(lockouts.length, 1);
    assert.deepEqual([lockouts[0]!.scope, lockouts[0]!.identity, lockouts[0]!.failures, lockouts[0]!.lockoutSeconds], ['identity', `300:${USER}`, 3, 10]);
    assert.equal(events('auth_refused')[0]!.retryAfterSeconds, 10);
    const metrics = await t.node.http!.metrics.text();
    assert.match(metrics, /idres_security_events_total\{event="auth_failed"\} 4/);
    assert.match(metrics, /idres_security_events_total\{event="auth_lockout"\} 1/);
    assert.match(metrics, /idres_security_events_total\{event="auth_refused"\} 1/);
    assert.match(metrics, /idres_auth_locked\{scope="identity"\} 1/);

    now += 5000;
    assert.equal((await get(USER_SECRET)).headers['retry-after'], '5');
    now += 5000;
    const ok = await get(USER_SECRET);
    assert.equal(ok.status, 200, 'the right password works once the lockout has ended');
    assert.match(await t.node.http!.metrics.text(), /idres_auth_locked\{scope="identity"\} 0/);
  });

  test('each lockout after the first is twice as long (up to the maximum); a success clears the count', async () => {
    // The success above cleared USER's failures: three more are needed for a lockout.
    for (let i = 0; i < 3; i++) assert.equal((await get('again-' + i)).status, 401);
    assert.equal((await get(USER_SECRET)).headers['retry-after'], '10');
    now += 10000;
    assert.equal((await get('wrong')).status, 401, 'checked once the lockout is over, and wrong again');
    assert.equal((await get(USER_SECRET)).headers['retry-after'], '20');
    now += 20000;
    assert.equal((await get('wrong')).status, 401);
    assert.equal((await get(USER_SECRET)).headers['retry-after'], '40');
    now += 40000;
    assert.equal((await get('wrong')).status, 401);
    assert.equal((await get(USER_SECRET)).headers['retry-after'], '80');
    now += 80000;
    assert.equal((await get('wrong')).status, 401);
    assert.equal((await get(USER_SECRET)).headers['retry-after'], '100', 'capped at maxLockoutSeconds');
    now += 100000;
    assert.equal((await get(USER_SECRET)).status, 200);
  });

  test('the security log limits itself under a flood: five lines an interval per event, then one line with the count left out', async () => {
    now += 120000; // a fresh interval of the log
    for (let i = 0; i < 3; i++) await get('flood-' + i);
    const before = lines.length;
    const refusedBefore = t.node.security.log.counts.auth_refused;
    for (let i = 0; i < 60; i++) assert.equal((await get('flood')).status, 429);
    assert.equal(t.node.security.log.counts.auth_refused - refusedBefore, 60, 'every event is counted');
    const written = parsed(lines.slice(before)).filter((e) => e.event === 'auth_refused');
    assert.equal(written.length, 5, 'the first five lines of the interval, not sixty');
    now += 60000;
    t.node.security.log.flush();
    const summary = parsed(lines.slice(before)).filter((e) => e.event === 'auth_refused' && e.suppressed !== undefined);
    assert.deepEqual(summary.map((e) => [e.suppressed, e.intervalSeconds]), [[55, 60]]);
    assert.match(await t.node.http!.metrics.text(), /idres_security_log_suppressed_total \d+/);
    now += 100000; // past the lockout, for the next test
  });

  test("the wire: wrong keys lock the identity (RC 3, the right key too), the national SDK's login as well, until the lockout ends", async () => {
    const client = new HandleClient({ udpTimeoutsMs: [300], tcpTimeoutMs: 3000 });
    const ADMIN = { handle: '0.NA/88.118.8', index: 300 };
    const adminKey = readPrivateKey(readFileSync(path.join(t.dir, 'keys', 'admin-88.118.8.key.pem')));
    const wrong = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    const rcOf = async (key: typeof wrong, handle: string) => {
      try {
        await new AdminClient(client, t.server, { ...ADMIN, key }).create(handle, [makeValue(1, 'URL', 'https://example.cn/w')]);
        return ResponseCode.SUCCESS;
      } catch (err) {
        if (err instanceof AdminError) return err.responseCode;
        throw err;
      }
    };
    try {
      const failedBefore = events('auth_failed').length;
      for (let i = 0; i < 3; i++) assert.equal(await rcOf(wrong, `88.118.8/W-${i}`), ResponseCode.AUTHENTICATION_FAILED);
      assert.equal(await rcOf(adminKey, '88.118.8/W-LOCKED'), ResponseCode.SERVER_TOO_BUSY);
      assert.equal(t.node.registry!.exists('88.118.8/W-LOCKED'), false);
      const failed = events('auth_failed').slice(failedBefore);
      assert.equal(failed.length, 3);
      assert.equal(failed[0]!.identity, '300:0.NA/88.118.8');
      assert.equal(failed[0]!.transport, 'tcp');
      assert.ok(events('auth_lockout').some((e) => e.identity === '300:0.NA/88.118.8'));
      // HTTP's view of the same identity is locked too: one limiter for both.
      const viaHttp = await call(base, 'GET', '/api/handles/88.118.8/USER01', { headers: basic('300:0.NA/88.118.8', 'x') });
      assert.equal(viaHttp.status, 429);

      // The SDK's login (its per-connection limit is kept, and the identity's lockout applies as well).
      const c = await SdkConnection.connect(t.server.port);
      const login = await sdkLogin(c, { handle: ADMIN.handle, index: 300, key: adminKey }, { sessionId: 4242, firstRequestId: 1 });
      assert.equal(login.result.responseCode, ResponseCode.SERVER_TOO_BUSY);
      c.close();

      now += 10000;
      assert.equal(await rcOf(adminKey, '88.118.8/W-OK'), ResponseCode.SUCCESS);
      assert.ok(t.node.registry!.exists('88.118.8/W-OK'));
      const c2 = await SdkConnection.connect(t.server.port);
      const ok = await sdkLogin(c2, { handle: ADMIN.handle, index: 300, key: adminKey }, { sessionId: 4243, firstRequestId: 1 });
      assert.equal(ok.result.responseCode, ResponseCode.SUCCESS);
      c2.close();
    } finally {
      client.close();
    }
  });
});

describe('the limits without a node (unit)', () => {
  test('per source: failures for many identities from one address lock the address; an IPv6 /64 is one source', () => {
    let now = 0;
    const lines: string[] = [];
    const log = new SecurityLog((l) => lines.push(l), { intervalMs: 1000, linesPerInterval: 100 }, () => now);
    const a = new AuthLimiter({ perIdentity: 100, perSource: 4, lockoutSeconds: 2, maxLockoutSeconds: 8, forgetSeconds: 60, maxTracked: 1000 }, log, () => now);
    const from = (source: string, i: number) => ({ identity: { handle: `88.118.8/U${i}`, index: 300 }, source, transport: 'http' as const });
    for (let i = 0; i < 4; i++) {
      assert.equal(a.check(from('2001:db8:1:2::1', i)), undefined);
      a.failed(from(`2001:db8:1:2::${i + 1}`, i), 'wrong');
    }
    const r = a.check(from('2001:db8:1:2:ffff::9', 99));
    assert.equal(r?.scope, 'source');
    assert.equal(r?.retryAfterSeconds, 2);
    assert.equal(a.check(from('2001:db8:1:3::1', 99)), undefined, 'another /64');
    // A success of one identity does not clear the source's count.
    a.succeeded(from('2001:db8:1:2::1', 0));
    now = 2000;
    a.failed(from('2001:db8:1:2::1', 5), 'wrong');
    assert.equal(a.check(from('2001:db8:1:2::1', 6))?.retryAfterSeconds, 4);
    // Forgotten after forgetSeconds without a failure.
    now += 61000;
    a.failed(from('2001:db8:1:2::1', 7), 'wrong');
    assert.equal(a.check(from('2001:db8:1:2::1', 8)), undefined);
    assert.ok(parsed(lines).some((e) => e.event === 'auth_lockout' && e.scope === 'source'));
  });

  test('identities are counted by handle, whatever the index or case (HTTP Basic index 0 tries every key)', () => {
    const a = new AuthLimiter({ perIdentity: 2, perSource: 0, lockoutSeconds: 1, maxLockoutSeconds: 1, forgetSeconds: 60, maxTracked: 10 }, undefined, () => 0);
    a.failed({ identity: { handle: '88.118.8/Admin', index: 0 }, source: '192.0.2.1', transport: 'http' }, 'x');
    a.failed({ identity: { handle: '88.118.8/ADMIN', index: 300 }, source: '192.0.2.2', transport: 'tcp' }, 'x');
    assert.equal(a.check({ identity: { handle: '88.118.8/admin', index: 301 }, source: '192.0.2.3', transport: 'udp' })?.scope, 'identity');
  });

  test('the security log: counted always, a few lines an interval, then the count of what was left out', () => {
    let now = 0;
    const lines: string[] = [];
    const log = new SecurityLog((l) => lines.push(l), { intervalMs: 1000, linesPerInterval: 3 }, () => now);
    for (let i = 0; i < 1000; i++) log.event('udp_rate_limited', { source: `192.0.${i & 255}.0/24` });
    log.event('auth_failed', { source: '192.0.2.1' });
    assert.equal(log.counts.udp_rate_limited, 1000);
    assert.equal(lines.length, 4, 'three of one event and the one of another');
    log.flush();
    assert.equal(lines.length, 4, 'the interval is not over');
    now = 1000;
    log.flush();
    assert.deepEqual(JSON.parse(lines[4]!), { time: new Date(1000).toISOString(), event: 'udp_rate_limited', suppressed: 997, intervalSeconds: 1 });
    assert.equal(lines.length, 5, 'nothing left out of auth_failed: no summary for it');
    log.event('udp_rate_limited', { source: 'x' });
    assert.equal(JSON.parse(lines[5]!).source, 'x', 'a new interval writes again');
    // A sink that throws does not escape.
    new SecurityLog(() => {
      throw new Error('disk full');
    }).event('auth_failed', {});
  });
});

test('configuration: udp.rrl, admin.failedAuth and securityLog are validated, with defaults', () => {
  const d = validateConfig({});
  assert.deepEqual(d.udp.rrl, { responsesPerSecond: 200, burst: 200, slip: 2, ipv4PrefixLength: 24, ipv6PrefixLength: 56, tableSize: 65536, exempt: ['127.0.0.1/32', '::1/128'] });
  assert.deepEqual(d.admin.failedAuth, { perIdentity: 10, perSource: 30, lockoutSeconds: 1, maxLockoutSeconds: 900, forgetSeconds: 3600 });
  assert.deepEqual(d.securityLog, { intervalSeconds: 10, linesPerInterval: 10 });
  assert.equal(validateConfig({ udp: { rrl: { responsesPerSecond: 0 } } }).udp.rrl.responsesPerSecond, 0);
  assert.throws(() => validateConfig({ udp: { rrl: { slip: -1 } } }), /udp\.rrl\.slip/);
  assert.throws(() => validateConfig({ udp: { rrl: { exempt: ['10.0.0.0/33'] } } }), /udp\.rrl\.exempt/);
  assert.throws(() => validateConfig({ udp: { rrl: { window: 1 } } }), /unknown setting "udp\.rrl\.window"/);
  assert.throws(() => validateConfig({ udp: { rrl: { ipv6PrefixLength: 72 } } }), /udp\.rrl\.ipv6PrefixLength/);
  assert.throws(() => validateConfig({ admin: { failedAuth: { lockoutSeconds: 100, maxLockoutSeconds: 10 } } }), /maxLockoutSeconds must not be less/);
  assert.throws(() => validateConfig({ admin: { failedAuth: { perUser: 1 } } }), /unknown setting "admin\.failedAuth\.perUser"/);
  assert.throws(() => validateConfig({ securityLog: { linesPerInterval: 0 } }), /securityLog\.linesPerInterval/);
});
