// What one client can take from a node: memory (a client that pipelines and never reads), connections (a
// share per address, TCP and HTTP), time (a request dribbled a byte at a time, half-sent HTTP headers), CPU
// (a frame in tiny pieces is framed in linear time), and the event loop (LIST of a large prefix is streamed
// a page at a time, on the wire and in HTTP, while others are answered). docs/security.md.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startTestNode, type TestNode } from './helpers/node.js';
import { RawTcp, tcpText, udpExchange } from './helpers/raw.js';
import { USER, USER_SECRET, addIdentities, basic } from './helpers/http.js';
import { query } from './helpers/dns.js';
import { HandleClient } from '../src/client/handle-client.js';
import { AdminClient } from '../src/client/admin-client.js';
import { encodeRequest } from '../src/client/request.js';
import { ConfigError, validateConfig } from '../src/node/config.js';
import { identifierToName } from '../src/dns/mapping.js';
import { makeValue } from '../src/model/value.js';
import { encodeHandleOnly, decodeHandleList } from '../src/protocol/admin-bodies.js';
import { AuthType, challengeMessage, encodeChallengeAnswer } from '../src/protocol/auth-bodies.js';
import { signPubkeyAnswer } from '../src/protocol/auth-crypto.js';
import { decodeChallenge, encodeResolutionRequest } from '../src/protocol/bodies.js';
import { OpCode, OpFlag, ResponseCode } from '../src/protocol/constants.js';
import { readPrivateKey } from '../src/protocol/keyfile.js';
import { decodePacket } from '../src/protocol/message.js';
import { Reader } from '../src/protocol/reader.js';
import { addressKey } from '../src/server/connection-guard.js';
import { DnsFrameReader, FrameReader } from '../src/server/framing.js';
import { listJson } from '../src/http/api.js';

const PREFIX = '88.118.8';
const resolveReq = (handle: string, requestId = 1, flags = OpFlag.CA | OpFlag.PO, types: string[] = []) =>
  encodeRequest({ opCode: OpCode.RESOLUTION, body: encodeResolutionRequest(handle, [], types), flags, requestId });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolve once over a fresh TCP connection from `localAddress`; the response code, or undefined when closed unanswered. */
async function tcpResolve(port: number, handle: string, localAddress?: string): Promise<number | undefined> {
  const c = await RawTcp.connect(port, localAddress);
  try {
    c.write(resolveReq(handle, 5));
    await c.until(() => c.frames().length > 0 || c.closed, 5000);
    const f = c.frames()[0];
    return f ? decodePacket(f).header.responseCode : undefined;
  } finally {
    c.close();
  }
}

/** One HTTP/1.1 exchange on a raw socket from `localAddress` (Connection: close); everything received. */
function httpRaw(port: number, text: string, localAddress?: string, timeoutMs = 10000, onData?: () => void): Promise<string> {
  return tcpText(port, text, { ...(localAddress ? { localAddress } : {}), timeoutMs, ...(onData ? { onData } : {}) });
}

/** The body of a chunked HTTP response. */
function dechunk(body: string): string {
  let out = '';
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    const size = parseInt(body.slice(at, eol), 16);
    if (!(size > 0)) return out;
    out += body.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
}

describe('framing is linear in the bytes, whatever the pieces', () => {
  test('a 60 KB Handle frame in 16-byte pieces is joined once (twice with its envelope), not once per piece', () => {
    const frame = resolveReq(`${PREFIX}/ABC`, 9, OpFlag.CA, Array.from({ length: 3000 }, (_, i) => `TYPE-${String(i).padStart(11, '0')}`));
    assert.ok(frame.length > 60000, `${frame.length}`);
    const r = new FrameReader();
    const out: Buffer[] = [];
    for (let i = 0; i < frame.length; i += 16) {
      r.push(frame.subarray(i, i + 16));
      for (let f = r.next(); f !== undefined; f = r.next()) out.push(f as Buffer);
    }
    assert.equal(out.length, 1);
    assert.ok(out[0]!.equals(frame));
    assert.ok(r.joins <= 2, `${r.joins} joins for one frame`);
    assert.equal(r.buffered, 0);
  });

  test('frames a byte at a time, and frames several to a piece; the bytes handed out are never overwritten', () => {
    const frames = Array.from({ length: 50 }, (_, i) => resolveReq(`${PREFIX}/X${i}`, i + 1));
    const all = Buffer.concat(frames);
    const r = new FrameReader();
    const out: Buffer[] = [];
    for (let i = 0; i < all.length; i++) {
      r.push(all.subarray(i, i + 1));
      for (let f = r.next(); f !== undefined; f = r.next()) out.push(f as Buffer);
    }
    assert.equal(out.length, 50);
    out.forEach((f, i) => assert.ok(f.equals(frames[i]!), `frame ${i}`));
    assert.ok(r.joins <= 2 * 50, `${r.joins} joins for 50 frames`);
    const whole = new FrameReader();
    whole.push(all);
    let n = 0;
    while (whole.next() !== undefined) n++;
    assert.equal(n, 50);
    assert.equal(whole.joins, 0, 'frames that arrive whole are not copied');
  });

  test('DNS over TCP: a message in 1-byte pieces is joined at most twice', () => {
    const msg = query('pump._.8.118.88.id.internal', 'TXT');
    const framed = Buffer.concat([Buffer.from([msg.length >> 8, msg.length & 255]), msg]);
    const r = new DnsFrameReader();
    let got: Buffer | undefined;
    for (let i = 0; i < framed.length; i++) {
      r.push(framed.subarray(i, i + 1));
      const f = r.next();
      if (f) got = f as Buffer;
    }
    assert.ok(got && got.subarray(2).equals(msg));
    assert.ok(r.joins <= 2);
  });

  test('the address a connection counts against: IPv4, IPv4-mapped IPv6 as IPv4, IPv6 by its /64', () => {
    assert.equal(addressKey('127.0.0.2'), '127.0.0.2');
    assert.equal(addressKey('::ffff:127.0.0.2'), '127.0.0.2');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:DB8::1'), '2001:db8:0:0::/64');
    assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(addressKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
  });

  test('the new settings are validated and unknown ones refused', () => {
    const c = validateConfig({ tcp: { maxConnectionsPerAddress: 8, requestTimeoutMs: 500, maxQueuedBytes: 1 << 20 }, http: { maxConnectionsPerAddress: 4, headersTimeoutMs: 300 } });
    assert.equal(c.tcp.maxConnectionsPerAddress, 8);
    assert.equal(c.http.headersTimeoutMs, 300);
    const d = validateConfig({});
    assert.deepEqual([d.tcp.maxConnectionsPerAddress, d.tcp.requestTimeoutMs, d.tcp.maxQueuedBytes, d.http.maxConnectionsPerAddress, d.http.headersTimeoutMs], [64, 10000, 1048576, 64, 10000]);
    assert.throws(() => validateConfig({ tcp: { bogus: 1, maxQueuedBytes: 1000, requestTimeoutMs: 0 } }), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /unknown setting "tcp\.bogus"/);
      assert.match(err.message, /tcp\.maxQueuedBytes must be an integer from 524288/);
      assert.match(err.message, /tcp\.requestTimeoutMs must be an integer from 100/);
      return true;
    });
    assert.throws(() => validateConfig({ http: { maxConnectionsPerAddress: 0 } }), /http\.maxConnectionsPerAddress/);
  });
});

describe('a node with tight deadlines and bounds', () => {
  let t: TestNode;
  const MAX_QUEUED = 512 * 1024;

  before(async () => {
    t = await startTestNode({
      initArgs: ['--dns-port', '0'],
      patch: (c) => {
        c.tcp = { idleTimeoutMs: 5000, maxConnections: 200, maxConnectionsPerAddress: 50, requestTimeoutMs: 300, maxQueuedBytes: MAX_QUEUED };
        Object.assign(c.http as Record<string, unknown>, { headersTimeoutMs: 300, requestTimeoutMs: 1000, keepAliveTimeoutMs: 5000 });
      },
    });
    const r = t.node.registry!;
    r.create(`${PREFIX}/ABC123`, [makeValue(1, 'URL', 'https://example.cn/abc123')]);
    // An answer of about 64 KB for a request of 40 bytes.
    r.create(`${PREFIX}/BIG`, Array.from({ length: 16 }, (_, i) => makeValue(i + 1, 'DESC', 'x'.repeat(4000))));
    t.node.noticeWrites();
  });
  after(async () => {
    await t.stop();
  });

  test('a client that pipelines and never reads holds no more than the bound; it is closed; others are answered', async () => {
    const stats = t.node.connectionStats().tcp!;
    const before = { stall: stats.closed.write_stall, limit: stats.closed.queue_limit };
    assert.equal(await tcpResolve(t.node.port, `${PREFIX}/BIG`), ResponseCode.SUCCESS);
    const base = process.memoryUsage().arrayBuffers;
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 10);
    // 3,000 requests for 64 KB each (some 190 MB of answers) in one write; the client never reads.
    const hog = net.connect({ host: '127.0.0.1', port: t.node.port });
    hog.on('error', () => undefined);
    await new Promise<void>((r) => hog.once('connect', () => r()));
    hog.pause();
    const one = resolveReq(`${PREFIX}/BIG`, 1);
    hog.write(Buffer.concat(Array.from({ length: 3000 }, () => one)));
    // Meanwhile another connection is answered.
    await sleep(100);
    assert.equal(await tcpResolve(t.node.port, `${PREFIX}/ABC123`), ResponseCode.SUCCESS);
    // The node closes the connection; a client that does not read cannot see that until it reads again.
    for (let i = 0; i < 300 && stats.closed.write_stall === before.stall; i++) await sleep(50);
    clearInterval(sampler);
    const closed = new Promise<void>((resolve) => hog.once('close', () => resolve()));
    hog.on('data', () => undefined);
    hog.resume();
    await closed;
    assert.equal(stats.closed.write_stall, before.stall + 1, 'closed because its answers were not taken');
    assert.equal(stats.closed.queue_limit, before.limit, 'it never came to the hard limit');
    assert.ok(stats.peakQueuedBytes <= MAX_QUEUED, `a connection held ${stats.peakQueuedBytes} bytes`);
    // Without the bound the node would have buffered the 190 MB of answers (the kernel takes a few MB).
    assert.ok(peak - base < 48 * 1024 * 1024, `buffers grew by ${((peak - base) / 1048576).toFixed(1)} MiB`);
  });

  test('a request dribbled a byte at a time is closed at the request deadline, though every byte resets the idle timer', async () => {
    const stats = t.node.connectionStats().tcp!;
    const deadlines = stats.closed.request_deadline;
    const c = await RawTcp.connect(t.node.port);
    const req = resolveReq(`${PREFIX}/ABC123`, 3);
    const started = Date.now();
    // One byte every 100 ms: the whole request would take 5 s; the idle timeout is 5 s, the deadline 300 ms.
    for (let i = 0; i < req.length && !c.closed; i++) {
      c.write(req.subarray(i, i + 1));
      await c.until(() => c.closed, 100);
    }
    assert.ok(c.closed, 'closed before the request was whole');
    assert.ok(Date.now() - started < 4000, 'closed by the request deadline, not the idle timer');
    assert.equal(c.frames().length, 0);
    assert.equal(stats.closed.request_deadline, deadlines + 1);
    // A whole request sent at once is answered as ever.
    assert.equal(await tcpResolve(t.node.port, `${PREFIX}/ABC123`), ResponseCode.SUCCESS);
  });

  test('DNS over TCP: a query in 1-byte pieces is answered; one dribbled slower than the deadline is closed', async () => {
    const port = t.node.dns!.port;
    const msg = query(identifierToName(`${PREFIX}/ABC123`, 'id.internal'), 'TXT', { id: 77 });
    const framed = Buffer.concat([Buffer.from([msg.length >> 8, msg.length & 255]), msg]);
    const quick = net.connect({ host: '127.0.0.1', port });
    quick.setNoDelay(true);
    let got = Buffer.alloc(0);
    quick.on('data', (d) => (got = Buffer.concat([got, d])));
    await new Promise<void>((r) => quick.once('connect', () => r()));
    for (let i = 0; i < framed.length; i++) {
      quick.write(framed.subarray(i, i + 1));
      await new Promise((r) => setImmediate(r));
    }
    for (let i = 0; i < 50 && got.length < 2; i++) await sleep(20);
    quick.destroy();
    assert.ok(got.length > 2 && got.readUInt16BE(2) === 77, 'the dribbled query was answered');

    const stats = t.node.connectionStats().dns!;
    const deadlines = stats.closed.request_deadline;
    const slow = await RawTcp.connect(port);
    for (let i = 0; i < framed.length && !slow.closed; i++) {
      slow.write(framed.subarray(i, i + 1));
      await slow.until(() => slow.closed, 100);
    }
    assert.ok(slow.closed);
    assert.equal(stats.closed.request_deadline, deadlines + 1);
  });

  test('HTTP: half-sent headers, dribbled, are cut off at the header deadline (408); others are answered meanwhile', async () => {
    const port = t.node.http!.port;
    const stats = t.node.connectionStats().http!;
    const deadlines = stats.closed.request_deadline;
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    let out = '';
    s.on('data', (d) => (out += d.toString('latin1')));
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    const started = Date.now();
    s.write('GET /api/handles/88.118.8/ABC123 HTTP/1.1\r\nHost: x\r\n');
    const dribble = (async () => {
      for (let i = 0; i < 100 && !s.destroyed; i++) {
        s.write('X');
        await sleep(50);
      }
    })();
    const other = await httpRaw(port, 'GET /api/handles/88.118.8/ABC123 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(other, /^HTTP\/1\.1 200 /);
    await closed;
    await dribble;
    assert.ok(Date.now() - started < 4000, 'cut off near the header deadline');
    assert.match(out, /^HTTP\/1\.1 408 /);
    assert.ok(stats.closed.request_deadline > deadlines);
  });

  test('the connection metrics are published', async () => {
    const text = await httpRaw(t.node.http!.port, 'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(text, /idres_connections_closed_total\{transport="tcp",reason="write_stall"\} [1-9]/);
    assert.match(text, /idres_connections_closed_total\{transport="tcp",reason="request_deadline"\} [1-9]/);
    assert.match(text, /idres_connections_closed_total\{transport="dns",reason="request_deadline"\} [1-9]/);
    assert.match(text, /idres_connections_closed_total\{transport="http",reason="request_deadline"\} [1-9]/);
    assert.match(text, /idres_connections_refused_total\{transport="tcp",reason="per_address"\} 0/);
    assert.match(text, /idres_connection_queued_bytes_peak\{transport="tcp"\} [1-9]/);
    assert.match(text, /idres_connections_open\{transport="http"\} [1-9]/);
  });
});

/** Count the handles the registry's listing has handed out so far (the node runs in this process). */
function countListing(node: TestNode['node']): { yielded: () => number; restore: () => void } {
  const reg = node.registry!;
  const original = reg.eachUnder;
  let yielded = 0;
  reg.eachUnder = function* (prefix: string, pageSize?: number) {
    for (const h of original.call(reg, prefix, pageSize)) {
      yielded++;
      yield h;
    }
  };
  return { yielded: () => yielded, restore: () => void (reg.eachUnder = original) };
}

describe('a share of the connections per address, and LIST streamed', () => {
  let t: TestNode;
  const client = new HandleClient({ udpTimeoutsMs: [300, 600], tcpTimeoutMs: 10000 });
  const LISTED = 20000;
  const names: string[] = [];

  before(async () => {
    t = await startTestNode({
      patch: (c) => {
        c.tcp = { idleTimeoutMs: 30000, maxConnections: 200, maxConnectionsPerAddress: 8 };
        Object.assign(c.http as Record<string, unknown>, { maxConnectionsPerAddress: 8 });
      },
    });
    const r = t.node.registry!;
    r.create(`${PREFIX}/ABC123`, [makeValue(1, 'URL', 'https://example.cn/abc123')]);
    addIdentities(t.node);
    // 20,000 identifiers written straight into the registry, in one transaction.
    const now = Math.floor(Date.now() / 1000);
    const url = [makeValue(1, 'URL', 'https://example.cn/p')];
    r.db.transaction(() => {
      for (let i = 0; i < LISTED; i++) {
        const h = `${PREFIX}/LIST-${String(i).padStart(6, '0')}`;
        r.createInTxn(h, url, false, now, { quiet: true });
        names.push(h);
      }
      r.logBulk(LISTED, now, names.map((h) => r.key(h)));
    })();
    t.node.noticeWrites();
  });
  after(async () => {
    client.close();
    await t.stop();
  });

  test('TCP: one address at its share is refused at once while another address is answered; the slots come back', async () => {
    const stats = t.node.connectionStats().tcp!;
    const refused = stats.refusedPerAddress;
    const held: RawTcp[] = [];
    for (let i = 0; i < 8; i++) {
      const c = await RawTcp.connect(t.node.port, '127.0.0.1');
      // A heartbeat answered: the node has taken the connection.
      c.write(resolveReq('0', 100 + i, OpFlag.CA | OpFlag.PO | OpFlag.KC));
      assert.ok(await c.until(() => c.frames().length === 1));
      held.push(c);
    }
    const ninth = await RawTcp.connect(t.node.port, '127.0.0.1');
    ninth.write(resolveReq(`${PREFIX}/ABC123`, 9));
    assert.ok(await ninth.until(() => ninth.closed, 3000), 'the ninth connection from 127.0.0.1 was closed');
    assert.equal(ninth.frames().length, 0);
    assert.equal(stats.refusedPerAddress, refused + 1);
    assert.equal(await tcpResolve(t.node.port, `${PREFIX}/ABC123`, '127.0.0.2'), ResponseCode.SUCCESS, 'another address is answered');
    // UDP is not held by TCP connections either.
    assert.equal((await client.resolve(t.server, `${PREFIX}/ABC123`)).responseCode, ResponseCode.SUCCESS);
    held[0]!.close();
    await held[0]!.until(() => held[0]!.closed);
    let answered: number | undefined;
    for (let i = 0; i < 20 && answered === undefined; i++) {
      answered = await tcpResolve(t.node.port, `${PREFIX}/ABC123`, '127.0.0.1');
      if (answered === undefined) await sleep(50);
    }
    assert.equal(answered, ResponseCode.SUCCESS, 'a slot freed is taken again');
    for (const c of held) c.close();
  });

  test('HTTP: one address holding its share with half-sent requests is refused at once; another address is answered', async () => {
    const port = t.node.http!.port;
    const stats = t.node.connectionStats().http!;
    const refused = stats.refusedPerAddress;
    const held: net.Socket[] = [];
    for (let i = 0; i < 8; i++) {
      const s = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' });
      s.on('error', () => undefined);
      await new Promise<void>((r) => s.once('connect', () => r()));
      s.write('GET /api/handles/88.118.8/ABC123 HTTP/1.1\r\nHost: x\r\n');
      held.push(s);
    }
    for (let i = 0; i < 50 && stats.open < 8; i++) await sleep(20);
    const ninth = await httpRaw(port, 'GET /api/handles/88.118.8/ABC123 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', '127.0.0.1', 3000);
    assert.equal(ninth, '', 'closed without an answer');
    assert.equal(stats.refusedPerAddress, refused + 1);
    const other = await httpRaw(port, 'GET /api/handles/88.118.8/ABC123 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', '127.0.0.2');
    assert.match(other, /^HTTP\/1\.1 200 /);
    for (const s of held) s.destroy();
  });

  test('TCP LIST of 20,000 handles: streamed (CN on all but the last), every handle once; a resolution on another connection is answered meanwhile', async () => {
    const key = readPrivateKey(readFileSync(path.join(t.dir, 'keys', `admin-${PREFIX}.key.pem`)));
    const admin = { handle: `0.NA/${PREFIX}`, index: 300 };
    const packets = await new AdminClient(client, t.server, { ...admin, key }).send(OpCode.LIST_HANDLES, encodeHandleOnly(`0.NA/${PREFIX}`));
    assert.ok(packets.length > 100, `${packets.length} messages`);
    packets.forEach((p, i) => {
      assert.equal(p.header.responseCode, ResponseCode.SUCCESS);
      assert.equal((p.header.opFlags & OpFlag.CN) !== 0, i < packets.length - 1, `CN on message ${i}`);
    });
    const listed = packets.flatMap((p) => decodeHandleList(new Reader(p.body)));
    assert.equal(new Set(listed).size, listed.length, 'no handle twice');
    assert.equal(listed.length, t.node.registry!.countUnder(PREFIX));
    const seen = new Set(listed);
    assert.ok(names.every((n) => seen.has(n)), 'every handle written is listed');

    // Again by hand, to see other clients served meanwhile: the challenge; its answer on one connection; once
    // the list's first message is in, a resolution on another connection. When that is answered, the
    // registry's listing is still under way (a list made whole before it was sent would be done by then).
    const ask = await RawTcp.connect(t.node.port);
    ask.write(encodeRequest({ opCode: OpCode.LIST_HANDLES, body: encodeHandleOnly(`0.NA/${PREFIX}`), flags: OpFlag.REC | OpFlag.CA | OpFlag.PO, requestId: 11 }));
    assert.ok(await ask.until(() => ask.frames().length === 1));
    const challenge = decodePacket(ask.frames()[0]!);
    assert.equal(challenge.header.responseCode, ResponseCode.AUTHENTICATION_NEEDED);
    ask.close();
    const { nonce, digest } = decodeChallenge(challenge.body);
    const version: [number, number] = [challenge.envelope.major, challenge.envelope.minor];
    const signed = signPubkeyAnswer(key, challengeMessage(nonce, digest.digest), version, admin.handle);
    const answer = encodeChallengeAnswer({ authType: AuthType.PUBKEY, signedResponse: signed, identityHandle: admin.handle, identityIndex: admin.index });
    const lister = await RawTcp.connect(t.node.port);
    const other = await RawTcp.connect(t.node.port, '127.0.0.2');
    const listing = countListing(t.node);
    let yieldedWhenAnswered = -1;
    try {
      lister.socket.once('data', () => other.write(resolveReq(`${PREFIX}/ABC123`, 13)));
      other.socket.once('data', () => (yieldedWhenAnswered = listing.yielded()));
      lister.write(encodeRequest({ opCode: OpCode.RESPONSE_TO_CHALLENGE, body: answer, flags: OpFlag.REC | OpFlag.CA | OpFlag.PO, sessionId: challenge.envelope.sessionId, version, requestId: 12 }));
      assert.ok(await other.until(() => other.frames().length === 1, 20000));
      assert.ok(await lister.until(() => lister.frames().some((f) => (decodePacket(f).header.opFlags & OpFlag.CN) === 0), 20000));
    } finally {
      listing.restore();
    }
    assert.equal(decodePacket(other.frames()[0]!).header.responseCode, ResponseCode.SUCCESS);
    const total = t.node.registry!.countUnder(PREFIX);
    assert.ok(yieldedWhenAnswered > 0 && yieldedWhenAnswered < total, `the resolution was answered with ${yieldedWhenAnswered} of ${total} handles listed`);
    const again = lister.frames().flatMap((f) => decodeHandleList(new Reader(decodePacket(f).body)));
    assert.deepEqual(again, listed);
    lister.close();
    other.close();
  });

  test('a streamed list is never sent over UDP: a challenge for LIST answered by datagram gets RC 4', async () => {
    const key = readPrivateKey(readFileSync(path.join(t.dir, 'keys', `admin-${PREFIX}.key.pem`)));
    const ask = await RawTcp.connect(t.node.port);
    ask.write(encodeRequest({ opCode: OpCode.LIST_HANDLES, body: encodeHandleOnly(`0.NA/${PREFIX}`), flags: OpFlag.REC | OpFlag.CA | OpFlag.PO, requestId: 21 }));
    assert.ok(await ask.until(() => ask.frames().length === 1));
    const c = decodePacket(ask.frames()[0]!);
    ask.close();
    const { nonce, digest } = decodeChallenge(c.body);
    const version: [number, number] = [c.envelope.major, c.envelope.minor];
    const signed = signPubkeyAnswer(key, challengeMessage(nonce, digest.digest), version, `0.NA/${PREFIX}`);
    const body = encodeChallengeAnswer({ authType: AuthType.PUBKEY, signedResponse: signed, identityHandle: `0.NA/${PREFIX}`, identityIndex: 300 });
    const got = await udpExchange(t.node.port, [encodeRequest({ opCode: OpCode.RESPONSE_TO_CHALLENGE, body, flags: OpFlag.REC | OpFlag.CA | OpFlag.PO, sessionId: c.envelope.sessionId, version, requestId: 22 })]);
    assert.equal(got.length, 1, 'one datagram, not thousands');
    assert.equal(decodePacket(got[0]!).header.responseCode, ResponseCode.PROTOCOL_ERROR);
  });

  test('HTTP LIST of 20,000 handles: streamed JSON, every handle once, totalCount; pages; a resolution is answered meanwhile', async () => {
    const port = t.node.http!.port;
    const auth = basic(`300:${USER}`, USER_SECRET).Authorization;
    const listing = countListing(t.node);
    let yieldedWhenAnswered = -1;
    let resolution: Promise<string> | undefined;
    let text: string;
    try {
      // Once the list's first bytes are in, a resolution from another address; it is answered while the
      // registry's listing is still under way.
      text = await httpRaw(port, `GET /api/handles?prefix=${PREFIX} HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nConnection: close\r\n\r\n`, undefined, 20000, () => {
        resolution ??= httpRaw(port, 'GET /api/handles/88.118.8/ABC123 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', '127.0.0.2', 20000, () => {
          if (yieldedWhenAnswered < 0) yieldedWhenAnswered = listing.yielded();
        });
      });
    } finally {
      listing.restore();
    }
    assert.match((await resolution) ?? '', /^HTTP\/1\.1 200 /);
    const total = t.node.registry!.countUnder(PREFIX);
    assert.ok(yieldedWhenAnswered > 0 && yieldedWhenAnswered < total, `the resolution was answered with ${yieldedWhenAnswered} of ${total} handles listed`);
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.match(text, /transfer-encoding: chunked/i);
    const json = JSON.parse(dechunk(text.slice(text.indexOf('\r\n\r\n') + 4)));
    assert.equal(json.responseCode, 1);
    assert.equal(json.prefix, PREFIX);
    assert.equal(json.totalCount, String(total));
    assert.equal(json.handles.length, total);
    assert.equal(new Set(json.handles).size, total);
    const seen = new Set<string>(json.handles);
    assert.ok(names.every((n) => seen.has(n)), 'every handle written is listed');

    const paged = await httpRaw(port, `GET /api/handles?prefix=${PREFIX}&page=3&pageSize=1000 HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nConnection: close\r\n\r\n`);
    const page = JSON.parse(dechunk(paged.slice(paged.indexOf('\r\n\r\n') + 4)));
    assert.deepEqual([page.page, page.pageSize, page.totalCount], [3, 1000, String(total)]);
    assert.deepEqual(page.handles, json.handles.slice(3000, 4000));
  });

  test('the streamed JSON is what JSON.stringify writes, plain, pretty, paged and as JSONP', () => {
    const collect = (o: Parameters<typeof listJson>[0]) => [...listJson(o)].join('');
    const handles = Array.from({ length: 2500 }, (_, i) => `88.118.8/"Q${i}\\`);
    for (const pretty of [false, true]) {
      for (const n of [0, 1, 2500]) {
        const some = handles.slice(0, n);
        assert.equal(collect({ prefix: '0.NA/88.118.8', handles: some, pretty }), JSON.stringify({ responseCode: 1, prefix: '0.NA/88.118.8', handles: some, totalCount: String(n) }, null, pretty ? 2 : undefined));
        const w = { page: 1, pageSize: 700 };
        assert.equal(
          collect({ prefix: 'P', handles: some, window: w, pretty }),
          JSON.stringify({ responseCode: 1, prefix: 'P', page: 1, pageSize: 700, handles: some.slice(700, 1400), totalCount: String(n) }, null, pretty ? 2 : undefined),
        );
      }
    }
    assert.equal(collect({ prefix: 'P', handles: ['a'], pretty: false, callback: 'cb' }), 'cb({"responseCode":1,"prefix":"P","handles":["a"],"totalCount":"1"});');
  });
});
