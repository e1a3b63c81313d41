// The reference admin tools' own request bytes, replayed at a real node: the stock HDLCreate's
// SESSION_SETUP (over UDP, as it sends it), the stock HDLList's LIST_HANDLES and the stock library's
// resolution without PO are answered the way those tools need (docs/protocol.md §11.6 and §11.12).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { createHash } from 'node:crypto';
import { golden } from './helpers/paths.js';
import { startTestNode, type TestNode } from './helpers/node.js';
import { HandleClient } from '../src/client/handle-client.js';
import { decodePacket } from '../src/protocol/message.js';
import { decodeCredential } from '../src/protocol/credential.js';
import { verifyPacket } from '../src/protocol/signing.js';
import { decodePublicKey } from '../src/protocol/pubkey.js';
import { decodeChallenge, readDigest } from '../src/protocol/bodies.js';
import { decodeDhResponseData, decodeSessionSetupResponse } from '../src/protocol/auth-bodies.js';
import { decodeDhPublicKey } from '../src/protocol/pubkey.js';
import { Reader } from '../src/protocol/reader.js';
import { Reassembler } from '../src/protocol/fragment.js';
import { OpCode, OpFlag, ResponseCode } from '../src/protocol/constants.js';
import { makeValue, Perm } from '../src/model/value.js';

let t: TestNode;
let client: HandleClient;
before(async () => {
  t = await startTestNode({ prefixes: ['88.118.8'] });
  client = new HandleClient({ udpTimeoutsMs: [500], tcpTimeoutMs: 3000 });
  t.node.registry!.create('88.118.8/SECRET', [
    makeValue(1, 'URL', 'https://example.com/public'),
    makeValue(2, 'EMAIL', 'hidden@example.com', { permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE }),
  ]);
});
after(async () => {
  client.close();
  await t.stop();
});

/** Send one datagram and collect the (possibly fragmented) answer. */
function udpExchange(bytes: Buffer): Promise<Buffer> {
  const sock = dgram.createSocket('udp4');
  const r = new Reassembler({ maxPending: 4, maxBytes: 1 << 20, timeoutMs: 3000 });
  return new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error('no UDP answer'));
    }, 3000);
    sock.on('message', (m) => {
      const whole = m.length === 20 + m.readUInt32BE(16) ? m : r.add('x', m, Date.now());
      if (!whole) return;
      clearTimeout(timer);
      sock.close();
      resolve(whole);
    });
    sock.send(bytes, t.server.port, '127.0.0.1');
  });
}

test("the stock HDLCreate's SESSION_SETUP over UDP: a new session, the request's digest, AES, our DH key, signed with the site's key", async () => {
  const req = golden('admin/hdlcreate.00.c2s.bin');
  const reply = await udpExchange(req);
  const p = decodePacket(reply);
  assert.equal(p.header.opCode, OpCode.SESSION_SETUP);
  assert.equal(p.header.responseCode, ResponseCode.SUCCESS);
  assert.equal(p.envelope.requestId, req.readUInt32BE(8));
  assert.ok(p.envelope.sessionId > 0);
  assert.ok(reply.length > 512, 'the answer needs two datagrams, as the reference sends it');
  const r = new Reader(p.body);
  const d = readDigest(r);
  assert.deepEqual(d.digest, createHash('sha256').update(req.subarray(20, req.length - 4)).digest());
  const { mode, data } = decodeSessionSetupResponse(r);
  assert.equal(mode, 4);
  const { cipher, serverKey } = decodeDhResponseData(data);
  assert.equal(cipher, 3);
  const dh = decodeDhPublicKey(serverKey);
  assert.equal(dh.p.length, 128);
  assert.equal(dh.g.toString('hex'), '02');
  const cred = decodeCredential(p.credential);
  assert.equal(cred.type, 'HS_SIGNED');
  const siteKey = decodePublicKey(t.node.site.servers[0]!.publicKey);
  assert.equal(verifyPacket(reply, p.headerAndBody, cred, siteKey, [2, 11]), true);
  // Over TCP too.
  const [overTcp] = await client.tcpSend(t.server, req);
  assert.equal(overTcp!.header.responseCode, ResponseCode.SUCCESS);
  assert.notEqual(overTcp!.envelope.sessionId, p.envelope.sessionId);
});

test("the stock HDLList's LIST_HANDLES: a 402 with a fresh id, the digest of exactly its bytes, and a 16-byte nonce", async () => {
  const req = golden('admin/hdllist.00.c2s.bin');
  const [p] = await client.tcpSend(t.server, req);
  assert.equal(p!.header.opCode, OpCode.LIST_HANDLES);
  assert.equal(p!.header.responseCode, ResponseCode.AUTHENTICATION_NEEDED);
  assert.ok(p!.header.opFlags & OpFlag.RD);
  assert.ok(p!.envelope.sessionId > 0);
  const c = decodeChallenge(p!.body);
  assert.deepEqual(c.digest.digest, createHash('sha256').update(req.subarray(20, req.length - 4)).digest());
  assert.equal(c.nonce.length, 16);
});

test("the stock library's resolution without PO of a handle with an rw-- value is challenged; with PO it gets the public values", async () => {
  const req = golden('admin/resolve-auth.00.c2s.bin');
  const [p] = await client.tcpSend(t.server, req);
  assert.equal(p!.header.responseCode, ResponseCode.AUTHENTICATION_NEEDED);
  assert.equal(p!.header.opFlags >>> 0, 0x98800000, 'AT|REC|CA|RD, as the reference answers it');
  assert.ok(!p!.body.includes(Buffer.from('hidden@example.com')));
  const pub = await client.resolve(t.server, '88.118.8/SECRET');
  assert.deepEqual(pub.values.map((v) => v.index), [1]);
});
