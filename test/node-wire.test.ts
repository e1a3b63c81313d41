// The node at the byte level, over raw sockets: keep-connection, heartbeats, version negotiation, request
// digests, fragmented requests, the UDP size bound, and malformed input that must neither crash the node
// nor stop it answering others.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HandleClient } from '../src/client/handle-client.js';
import { encodeRequest } from '../src/client/request.js';
import { OpCode, OpFlag, ResponseCode } from '../src/protocol/constants.js';
import { decodePacket, encodePacket } from '../src/protocol/message.js';
import { decodeErrorBody, decodeResolutionResponse, encodeResolutionRequest } from '../src/protocol/bodies.js';
import { Reassembler, fragmentPacket } from '../src/protocol/fragment.js';
import { decodeCredential } from '../src/protocol/credential.js';
import { decodePublicKey } from '../src/protocol/pubkey.js';
import { verifyPacket } from '../src/protocol/signing.js';
import { requestDigest } from '../src/protocol/digest.js';
import { golden } from './helpers/paths.js';
import { RawTcp, udpExchange } from './helpers/raw.js';
import { cli, startTestNode, type TestNode } from './helpers/node.js';

const resolveReq = (handle: string, flags = OpFlag.CA | OpFlag.PO, requestId = 4242, types: string[] = []) =>
  encodeRequest({ opCode: OpCode.RESOLUTION, body: encodeResolutionRequest(handle, [], types), flags, requestId });

describe('the node on the wire', () => {
  let t: TestNode;
  const client = new HandleClient({ udpTimeoutsMs: [300, 600], tcpTimeoutMs: 5000 });

  before(async () => {
    t = await startTestNode({ patch: (c) => (c.tcp = { idleTimeoutMs: 1500, maxConnections: 100 }) });
    const r = await cli(['register', '88.118.8/ABC123', '--dir', t.dir, '--value', 'URL=https://example.com/product/ABC123']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    client.close();
    await t.stop();
  });

  test('TCP without KC: the connection stays open for the next request (the national SDK reuses it); the client ends it', async () => {
    const c = await RawTcp.connect(t.node.port);
    c.write(resolveReq('88.118.8/ABC123', OpFlag.CA | OpFlag.PO, 1));
    assert.ok(await c.until(() => c.frames().length === 1));
    c.write(resolveReq('88.118.8/NOPE', OpFlag.CA | OpFlag.PO, 2));
    assert.ok(await c.until(() => c.frames().length === 2));
    assert.equal(c.closed, false);
    const ps = c.frames().map(decodePacket);
    assert.deepEqual(ps.map((p) => [p.envelope.requestId, p.header.responseCode]), [[1, 1], [2, 100]]);
    assert.ok(ps.every((p) => (p.header.opFlags & OpFlag.KC) === 0), 'no KC in answers to requests without it');
    // The client says it is done: the server closes at once, not after its 1.5 s idle timeout.
    const ended = Date.now();
    c.socket.end();
    assert.ok(await c.until(() => c.closed, 3000));
    assert.ok(Date.now() - ended < 1000, 'closed when the client ended, not by the idle timer');
  });

  test('TCP: a request sent with the client half-closing at once still gets its answer', async () => {
    const c = await RawTcp.connect(t.node.port);
    c.socket.end(resolveReq('88.118.8/ABC123', OpFlag.CA | OpFlag.PO, 7));
    assert.ok(await c.until(() => c.closed, 3000));
    const frames = c.frames();
    assert.equal(frames.length, 1);
    assert.equal(decodePacket(frames[0]!).header.responseCode, ResponseCode.SUCCESS);
  });

  test('TCP: a frame dribbled a byte at a time is answered (framing joins it once)', async () => {
    const c = await RawTcp.connect(t.node.port);
    const req = resolveReq('88.118.8/ABC123', OpFlag.CA | OpFlag.PO, 9);
    for (const byte of req) {
      c.write(Buffer.from([byte]));
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(await c.until(() => c.frames().length === 1));
    assert.equal(decodePacket(c.frames()[0]!).envelope.requestId, 9);
  });

  test('TCP with KC: several requests answered in turn on one connection, heartbeats at once, idle timeout', async () => {
    const c = await RawTcp.connect(t.node.port);
    const kc = OpFlag.CA | OpFlag.PO | OpFlag.KC;
    // Two requests in one write (pipelined), then a heartbeat, then another.
    c.write(Buffer.concat([resolveReq('88.118.8/ABC123', kc, 1), resolveReq('88.118.8/NOPE', kc, 2)]));
    assert.ok(await c.until(() => c.frames().length === 2));
    c.write(resolveReq('0', kc, 3));
    assert.ok(await c.until(() => c.frames().length === 3));
    c.write(resolveReq('88.118.8/abc123', kc, 4));
    assert.ok(await c.until(() => c.frames().length === 4));
    const ps = c.frames().map(decodePacket);
    assert.deepEqual(ps.map((p) => p.envelope.requestId), [1, 2, 3, 4]);
    assert.deepEqual(ps.map((p) => p.header.responseCode), [1, 100, 100, 1]);
    assert.ok(ps.every((p) => p.header.opFlags & OpFlag.KC), 'KC echoed while the connection stays open');
    assert.equal(c.closed, false);
    // Idle past the configured 1.5 s: the server closes.
    assert.ok(await c.until(() => c.closed, 4000), 'closed after the idle timeout');
  });

  test('version negotiation: the lower of 2.11 and what the client suggests; RD digest by that version', async () => {
    const cases: Array<[number, number, number, number, number, number]> = [
      // envelope version, suggested version → response version, digest type
      [2, 11, 2, 11, 11, 3],
      [2, 5, 2, 5, 5, 2],
      [2, 1, 2, 11, 11, 3], // the reference answers a 2.1 request that suggests 2.11 at 2.11
      [2, 10, 0, 0, 10, 3], // no suggestion: the envelope version
    ];
    for (const [maj, min, smaj, smin, expMinor, digestType] of cases) {
      const body = encodeResolutionRequest('88.118.8/ABC123');
      const req = encodePacket(
        { major: maj, minor: min, compressed: false, encrypted: false, truncated: false, suggestedMajor: smaj, suggestedMinor: smin, sessionId: 0, requestId: 77, sequence: 0 },
        { opCode: 1, responseCode: 0, opFlags: OpFlag.CA | OpFlag.PO | OpFlag.RD, siteSerial: 0xffff, recursionCount: 0, expiration: 0 },
        body,
      );
      const [resp] = await udpExchange(t.node.port, [req], 300);
      const p = decodePacket(resp!);
      assert.deepEqual([p.envelope.major, p.envelope.minor], [2, expMinor], `request ${maj}.${min} suggesting ${smaj}.${smin}`);
      assert.deepEqual([p.envelope.suggestedMajor, p.envelope.suggestedMinor], [2, 11]);
      const r = decodeResolutionResponse(p.body, true);
      assert.equal(r.digest!.type, digestType);
      assert.deepEqual(
        Buffer.concat([Buffer.from([r.digest!.type]), r.digest!.digest]),
        requestDigest(decodePacket(req).headerAndBody, [2, expMinor]),
      );
    }
  });

  test('the reference client’s own request bytes get the answer the reference server gave', async () => {
    // The golden 'udp-resolve-ok' request, sent as captured from the reference client.
    const [resp] = await udpExchange(t.node.port, [golden('udp-resolve-ok.req0.bin')], 300);
    const p = decodePacket(resp!);
    const ref = decodePacket(golden('udp-resolve-ok.resp0.bin'));
    assert.equal(p.envelope.requestId, 0x1234);
    assert.equal(p.header.opFlags >>> 0, ref.header.opFlags >>> 0, 'AT|REC|CA|PO, as the reference');
    assert.deepEqual([p.envelope.major, p.envelope.minor, p.envelope.suggestedMajor, p.envelope.suggestedMinor], [2, 11, 2, 11]);
    assert.equal(decodeResolutionResponse(p.body, false).values[0]!.data.toString(), 'https://example.com/product/ABC123');
    const [site] = await udpExchange(t.node.port, [golden('udp-siteinfo.req0.bin')], 300);
    assert.equal(decodePacket(site!).header.responseCode, ResponseCode.SUCCESS);
  });

  test('CT: the response is signed with the server key that the site record carries', async () => {
    const site = await client.siteInfo(t.server);
    const key = decodePublicKey(site.servers[0]!.publicKey);
    for (const [major, minor] of [[2, 11], [2, 7], [2, 5]] as const) {
      const req = encodeRequest({
        opCode: OpCode.RESOLUTION,
        body: encodeResolutionRequest('88.118.8/ABC123'),
        flags: OpFlag.CT | OpFlag.CA | OpFlag.PO,
        requestId: 8080,
        version: [major, minor],
      });
      req[2] = major;
      req[3] = minor; // suggest the same version, so the answer is written in it
      const got = await udpExchange(t.node.port, [req], 400);
      const r = new Reassembler();
      const whole = got.map((d) => r.add('k', d, 0)).find((x) => x)!;
      const p = decodePacket(whole);
      assert.equal(p.envelope.minor, minor);
      const cred = decodeCredential(p.credential);
      assert.equal(cred.type, 'HS_SIGNED');
      assert.equal(cred.digestAlgorithm, minor >= 7 ? 'SHA-256' : 'SHA1');
      assert.ok(verifyPacket(whole, p.headerAndBody, cred, key, [major, minor]), `signature at ${major}.${minor}`);
    }
  });

  test('a request in several UDP fragments, out of order, is reassembled and answered', async () => {
    const types = Array.from({ length: 60 }, (_, i) => `TYPE_NUMBER_${i}_PADDING_PADDING`).concat(['URL']);
    const frags = fragmentPacket(resolveReq('88.118.8/ABC123', OpFlag.CA | OpFlag.PO, 999, types));
    assert.ok(frags.length >= 4);
    const got = await udpExchange(t.node.port, [...frags].reverse(), 400);
    assert.equal(got.length, 1);
    const p = decodePacket(got[0]!);
    assert.equal(p.envelope.requestId, 999);
    assert.deepEqual(decodeResolutionResponse(p.body, false).values.map((v) => v.type), ['URL']);
  });

  test('malformed datagrams: too short to carry a RequestId → dropped; otherwise RC 4 with that RequestId', async () => {
    const before = t.node.handler.stats.dropped;
    assert.deepEqual(await udpExchange(t.node.port, [Buffer.from([1, 2, 3]), Buffer.alloc(0)], 200), []);
    const valid = resolveReq('88.118.8/ABC123', OpFlag.CA | OpFlag.PO, 0xabcdef);
    const bad: Buffer[] = [
      valid.subarray(0, 30), // envelope says 55 bytes, 10 arrive
      Buffer.concat([valid, Buffer.from([0])]), // a byte too many
      (() => {
        const b = Buffer.from(valid);
        b.writeUInt32BE(0xffffffff, 40); // body length lies
        return b;
      })(),
      (() => {
        const b = Buffer.from(valid);
        b.writeUInt32BE(5000, 44); // handle length past the body
        return b;
      })(),
      (() => {
        const b = Buffer.from(valid);
        b.writeUInt32BE(0x7fffffff, 16); // message length over the limit
        return b;
      })(),
      (() => {
        const b = Buffer.from(valid);
        b[49] = 0xff; // invalid UTF-8 in the handle
        return b;
      })(),
    ];
    for (const d of bad) {
      const got = await udpExchange(t.node.port, [d], 250);
      assert.equal(got.length, 1, `one answer to ${d.subarray(0, 24).toString('hex')}`);
      const p = decodePacket(got[0]!);
      assert.equal(p.envelope.requestId, 0xabcdef);
      assert.equal(p.header.responseCode, ResponseCode.PROTOCOL_ERROR);
      assert.ok(decodeErrorBody(p.body, false).message.length > 0, 'says what was wrong');
    }
    assert.ok(t.node.handler.stats.dropped >= before + 1);
    // An unknown opcode is answered, not dropped.
    const unknown = encodeRequest({ opCode: 777, body: Buffer.alloc(0), requestId: 31337 });
    const [u] = await udpExchange(t.node.port, [unknown], 250);
    assert.equal(decodePacket(u!).header.responseCode, ResponseCode.OPERATION_NOT_SUPPORTED);
    // A response is never answered (two servers must not bounce packets forever).
    const [ok] = await udpExchange(t.node.port, [valid], 250);
    assert.deepEqual(await udpExchange(t.node.port, [ok!], 250), []);
    // And the node still answers.
    const r = await client.resolve(t.server, '88.118.8/ABC123');
    assert.equal(r.responseCode, ResponseCode.SUCCESS);
  });

  test('malformed TCP frames: a lying length gets RC 4 and a close; a partial frame times out; others are served', async () => {
    const huge = Buffer.from(resolveReq('88.118.8/ABC123', OpFlag.CA, 55));
    huge.writeUInt32BE(0x00ffffff, 16);
    const c = await RawTcp.connect(t.node.port);
    c.write(huge.subarray(0, 20));
    assert.ok(await c.until(() => c.closed));
    const p = decodePacket(c.frames()[0]!);
    assert.equal([p.envelope.requestId, p.header.responseCode].join(), '55,4');

    const partial = await RawTcp.connect(t.node.port);
    partial.write(resolveReq('88.118.8/ABC123').subarray(0, 30));
    assert.ok(await partial.until(() => partial.closed, 4000), 'closed after the idle timeout');
    assert.equal(partial.frames().length, 0);

    const r = await client.resolve(t.server, '88.118.8/ABC123', { transport: 'tcp' });
    assert.equal(r.responseCode, ResponseCode.SUCCESS);
  });

  test('random garbage in volume over UDP and TCP: no crash, and the node keeps answering', async () => {
    const junk: Buffer[] = [];
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < 300; i++) {
      const base = resolveReq('88.118.8/ABC123', OpFlag.CA, i + 1);
      const b = Buffer.from(base.subarray(0, Math.floor(rnd() * base.length) + 1));
      for (let k = 0; k < 3; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      junk.push(b);
    }
    await udpExchange(t.node.port, junk, 300);
    for (let i = 0; i < 20; i++) {
      const c = await RawTcp.connect(t.node.port);
      c.write(junk[i * 7]!);
      c.socket.end();
      await c.until(() => c.closed, 3000);
    }
    const r = await client.resolve(t.server, '88.118.8/ABC123');
    assert.equal(r.responseCode, ResponseCode.SUCCESS);
  });
});

describe('a node with a small UDP response bound', () => {
  test('an answer over the bound is refused over UDP with TC, and the client gets it over TCP', async () => {
    const t = await startTestNode({ patch: (c) => (c.udp = { maxResponseBytes: 600 }) });
    const client = new HandleClient({ udpTimeoutsMs: [300], tcpTimeoutMs: 5000 });
    try {
      const values = Array.from({ length: 5 }, (_, i) => ['--value', `DESC=${'d'.repeat(200)}${i}`]).flat();
      assert.equal((await cli(['register', '88.118.8/WIDE', '--dir', t.dir, ...values])).code, 0);
      const [d] = await udpExchange(t.node.port, [resolveReq('88.118.8/WIDE')], 300);
      const p = decodePacket(d!);
      assert.equal(p.envelope.truncated, true);
      assert.equal(p.header.responseCode, ResponseCode.ERROR);
      assert.match(decodeErrorBody(p.body, false).message, /ask over TCP/);
      const r = await client.resolve(t.server, '88.118.8/WIDE');
      assert.equal(r.responseCode, ResponseCode.SUCCESS);
      assert.equal(r.transport, 'tcp');
      assert.equal(r.values.length, 6);
    } finally {
      client.close();
      await t.stop();
    }
  });
});

describe('a case-sensitive node', () => {
  test('matches suffixes with their case when initialised with --case-sensitive', async () => {
    const t = await startTestNode({ initArgs: ['--case-sensitive'] });
    const client = new HandleClient({ udpTimeoutsMs: [300] });
    try {
      assert.equal((await cli(['register', '88.118.8/AbC', '--dir', t.dir, '--value', 'URL=x'])).code, 0);
      assert.equal((await client.resolve(t.server, '88.118.8/AbC')).responseCode, ResponseCode.SUCCESS);
      assert.equal((await client.resolve(t.server, '88.118.8/abc')).responseCode, ResponseCode.HANDLE_NOT_FOUND);
      assert.equal((await client.resolve(t.server, '88.118.8/ABC')).responseCode, ResponseCode.HANDLE_NOT_FOUND);
    } finally {
      client.close();
      await t.stop();
    }
  });
});
