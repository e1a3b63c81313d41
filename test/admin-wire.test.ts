// Administration over the wire against a real node on loopback TCP: each operation with the right key, and
// the reference's refusals (400, 401, 403, 404, 405, 500, 502, 505) for wrong keys, missing permissions,
// replayed or expired challenges and bad session MACs; sessions as the reference admin tools open them;
// non-public values only after authentication; quotas.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { startTestNode, type TestNode } from './helpers/node.js';
import { TestClock } from './helpers/clock.js';
import { HandleClient } from '../src/client/handle-client.js';
import { AdminClient } from '../src/client/admin-client.js';
import { rcOf } from './helpers/admin.js';
import { readPrivateKey } from '../src/protocol/keyfile.js';
import { makeValue, Perm } from '../src/model/value.js';
import { AdminPerm } from '../src/model/admin.js';
import { encodeAdmin, encodeVList } from '../src/protocol/admin-data.js';
import { encodePublicKey } from '../src/protocol/pubkey.js';
import { OpCode, OpFlag, ResponseCode } from '../src/protocol/constants.js';
import { encodeRequest } from '../src/client/request.js';
import { decodeChallenge, encodeResolutionRequest } from '../src/protocol/bodies.js';
import { encodeChallengeAnswer, challengeMessage, AuthType } from '../src/protocol/auth-bodies.js';
import { signPubkeyAnswer } from '../src/protocol/auth-crypto.js';
import { encodeHandleOnly, encodeHandleWithValues } from '../src/protocol/admin-bodies.js';
import { decodePacket } from '../src/protocol/message.js';
import dgram from 'node:dgram';

let t: TestNode;
/** The node's clock: challenges expire when a test moves it. */
const clock = new TestClock();
let client: HandleClient;
let adminKey: KeyObject;
const PREFIX = '88.118.8';
const ADMIN = { handle: `0.NA/${PREFIX}`, index: 300 };

function other(): KeyObject {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
}

before(async () => {
  t = await startTestNode({ prefixes: [PREFIX], patch: (c) => ((c.admin = { challengeTimeoutSeconds: 2, quotas: { '88.118.8': { maxPrefixes: 1 } } })), start: { clock: clock.now } });
  client = new HandleClient({ udpTimeoutsMs: [300], tcpTimeoutMs: 3000 });
  adminKey = readPrivateKey(readFileSync(path.join(t.dir, 'keys', `admin-${PREFIX}.key.pem`)));
});
after(async () => {
  client.close();
  await t.stop();
});

const admin = (opts: { session?: boolean } = {}) => new AdminClient(client, t.server, { ...ADMIN, key: adminKey }, opts);


test('create, add, modify, remove, list and delete with the prefix administrator key (challenge-response, no session)', async () => {
  const a = admin();
  const h = `${PREFIX}/WIRE-1`;
  assert.equal(await a.create(h, [makeValue(1, 'URL', 'https://example.cn/1')]), h);
  assert.equal((await client.resolve(t.server, h)).values.find((v) => v.index === 1)?.data.toString(), 'https://example.cn/1');
  await a.add(h, [makeValue(2, 'EMAIL', 'qa@example.cn')]);
  await a.modify(h, [makeValue(1, 'URL', 'https://example.cn/changed')]);
  await a.remove(h, [2]);
  const r = await client.resolve(t.server, h);
  // Created without an HS_ADMIN: its creator administers it (index 100; operator-cli.test.ts).
  assert.deepEqual(r.values.map((v) => [v.index, v.type === 'HS_ADMIN' ? 'admin' : v.data.toString()]), [[1, 'https://example.cn/changed'], [100, 'admin']]);
  assert.ok((await a.list(PREFIX)).includes(h));
  // Duplicates and conflicts answer the reference's codes.
  assert.equal(await rcOf(a.create(h, [])), ResponseCode.HANDLE_ALREADY_EXISTS);
  assert.equal(await rcOf(a.add(h, [makeValue(1, 'URL', 'x')])), ResponseCode.VALUE_ALREADY_EXISTS);
  assert.equal(await rcOf(a.remove(h, [77])), ResponseCode.VALUES_NOT_FOUND);
  await a.delete(h);
  assert.equal((await client.resolve(t.server, h)).responseCode, ResponseCode.HANDLE_NOT_FOUND);
  assert.equal(await rcOf(a.delete(h)), ResponseCode.HANDLE_NOT_FOUND);
  // Every change is in the transaction log, in order.
  const ops = t.node.registry!.changesSince(0, 10000).filter((c) => c.handle_key === `${PREFIX}/WIRE-1`).map((c) => c.op);
  assert.deepEqual(ops, ['create', 'add', 'add', 'remove', 'delete']);
});

test('MINT appends a random UUID to the leading part', async () => {
  const h = await admin().create(`${PREFIX}/lot-`, [makeValue(1, 'URL', 'https://example.cn/m')], { mint: true });
  assert.match(h, /^88\.118\.8\/lot-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal((await client.resolve(t.server, h)).responseCode, ResponseCode.SUCCESS);
});

test('a session as the reference tools open it: DH, HS_MAC, one challenge, then operations without one', async () => {
  const wire = t.node.handler as unknown as { admin: { stats: { challenges: number; sessions: number } } };
  const before = { ...wire.admin.stats };
  const a = admin({ session: true });
  await a.create(`${PREFIX}/SESS-1`, [makeValue(1, 'URL', 'https://example.cn/s')]);
  await a.add(`${PREFIX}/SESS-1`, [makeValue(2, 'URL', 'https://example.cn/s2')]);
  await a.delete(`${PREFIX}/SESS-1`);
  assert.equal(wire.admin.stats.sessions - before.sessions, 1);
  assert.equal(wire.admin.stats.challenges - before.challenges, 1, 'only the first operation of the session is challenged');
});

test('a wrong key is 403; an identity that is no administrator is 400 whatever it signs', async () => {
  assert.equal(await rcOf(new AdminClient(client, t.server, { ...ADMIN, key: other() }).create(`${PREFIX}/BAD-1`, [])), ResponseCode.AUTHENTICATION_FAILED);
  const reg = t.node.registry!;
  const outsiderKey = other();
  reg.create(`${PREFIX}/OUTSIDER`, [makeValue(300, 'HS_PUBKEY', encodePublicKey(outsiderKey), { permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE | Perm.PUBLIC_READ })]);
  const outsider = new AdminClient(client, t.server, { handle: `${PREFIX}/OUTSIDER`, index: 300, key: outsiderKey });
  assert.equal(await rcOf(outsider.create(`${PREFIX}/BAD-2`, [])), ResponseCode.INVALID_ADMIN);
  // Signing with a key it does not hold changes nothing: the permission check comes first.
  assert.equal(await rcOf(new AdminClient(client, t.server, { handle: `${PREFIX}/OUTSIDER`, index: 300, key: other() }).create(`${PREFIX}/BAD-2`, [])), ResponseCode.INVALID_ADMIN);
  assert.equal(reg.exists(`${PREFIX}/BAD-1`) || reg.exists(`${PREFIX}/BAD-2`), false);
});

test('permission bits: ADD_VALUE alone may add but not modify (400); a read-only value cannot be modified (401); groups grant through HS_VLIST', async () => {
  const reg = t.node.registry!;
  const key = other();
  const perms = Perm.ADMIN_READ | Perm.ADMIN_WRITE | Perm.PUBLIC_READ;
  reg.create(`${PREFIX}/ADDER`, [makeValue(300, 'HS_PUBKEY', encodePublicKey(key), { permissions: perms })]);
  reg.create(`${PREFIX}/GROUP`, [makeValue(200, 'HS_VLIST', encodeVList([{ handle: `${PREFIX}/ADDER`, index: 300 }]))]);
  reg.create(`${PREFIX}/TARGET`, [
    makeValue(100, 'HS_ADMIN', encodeAdmin({ permissions: AdminPerm.ADD_VALUE, handle: `${PREFIX}/GROUP`, index: 200 })),
    makeValue(1, 'URL', 'https://example.cn/t'),
    makeValue(2, 'DESC', 'fixed', { permissions: Perm.ADMIN_READ | Perm.PUBLIC_READ }),
  ]);
  const adder = new AdminClient(client, t.server, { handle: `${PREFIX}/ADDER`, index: 300, key });
  await adder.add(`${PREFIX}/TARGET`, [makeValue(3, 'URL', 'https://example.cn/added')]);
  assert.equal(await rcOf(adder.modify(`${PREFIX}/TARGET`, [makeValue(1, 'URL', 'https://evil.example/')])), ResponseCode.INVALID_ADMIN);
  assert.equal(await rcOf(admin().modify(`${PREFIX}/TARGET`, [makeValue(2, 'DESC', 'changed')])), ResponseCode.INSUFFICIENT_PERMISSIONS);
  assert.equal(await rcOf(adder.delete(`${PREFIX}/TARGET`)), ResponseCode.INVALID_ADMIN);
  assert.deepEqual(reg.getValues(`${PREFIX}/TARGET`)!.map((v) => v.index), [1, 2, 3, 100]);
});

test('HS_SECKEY identities prove themselves with a MAC (PBKDF2-HMAC-SHA1), and a wrong secret is 403', async () => {
  const reg = t.node.registry!;
  reg.create(`${PREFIX}/SECUSR`, [makeValue(300, 'HS_SECKEY', 'sesame', { permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE })]);
  reg.create(`${PREFIX}/SECTARGET`, [makeValue(100, 'HS_ADMIN', encodeAdmin({ permissions: 0x0fff, handle: `${PREFIX}/SECUSR`, index: 300 }))]);
  const good = new AdminClient(client, t.server, { handle: `${PREFIX}/SECUSR`, index: 300, secret: Buffer.from('sesame') });
  await good.add(`${PREFIX}/SECTARGET`, [makeValue(1, 'URL', 'https://example.cn/sec')]);
  const bad = new AdminClient(client, t.server, { handle: `${PREFIX}/SECUSR`, index: 300, secret: Buffer.from('wrong') });
  assert.equal(await rcOf(bad.add(`${PREFIX}/SECTARGET`, [makeValue(2, 'URL', 'x')])), ResponseCode.AUTHENTICATION_FAILED);
});

/** Send a create, take its 402, and return what is needed to answer it by hand. */
async function challengeFor(handle: string) {
  const reqId = 0x1000 + Math.floor(Math.random() * 1000);
  const [c] = await client.tcpSend(t.server, encodeRequest({ opCode: OpCode.CREATE_HANDLE, body: encodeHandleWithValues(handle, []), flags: OpFlag.REC | OpFlag.CA | OpFlag.PO, requestId: reqId }));
  assert.equal(c!.header.responseCode, ResponseCode.AUTHENTICATION_NEEDED);
  assert.ok(c!.envelope.sessionId > 0);
  const { nonce, digest } = decodeChallenge(c!.body);
  const body = encodeChallengeAnswer({
    authType: AuthType.PUBKEY,
    identityHandle: ADMIN.handle,
    identityIndex: ADMIN.index,
    signedResponse: signPubkeyAnswer(adminKey, challengeMessage(nonce, digest.digest), [2, 11], ADMIN.handle),
  });
  const answer = (requestId: number, sessionId = c!.envelope.sessionId) =>
    client.tcpSend(t.server, encodeRequest({ opCode: OpCode.RESPONSE_TO_CHALLENGE, body, flags: OpFlag.REC | OpFlag.CA | OpFlag.PO, requestId, sessionId }));
  return { answer, challengeId: c!.envelope.sessionId };
}

test('challenges are single-use: a retransmitted answer gets the same response, any other reuse 405; expired 405; unknown 500; SessionId 0 405', async () => {
  const { answer } = await challengeFor(`${PREFIX}/ONCE`);
  const [first] = await answer(0x2222);
  assert.equal(first!.header.responseCode, ResponseCode.SUCCESS);
  assert.equal(first!.header.opCode, OpCode.CREATE_HANDLE);
  assert.equal(first!.envelope.requestId, 0x2222);
  assert.equal(first!.envelope.sessionId, 0);
  const [again] = await answer(0x2222);
  assert.equal(again!.header.responseCode, ResponseCode.SUCCESS);
  const [replay] = await answer(0x3333);
  assert.equal(replay!.header.responseCode, ResponseCode.AUTHEN_TIMEOUT);

  const late = await challengeFor(`${PREFIX}/LATE`);
  clock.advance(2200); // past challengeTimeoutSeconds (2)
  const [expired] = await late.answer(0x4444);
  assert.equal(expired!.header.responseCode, ResponseCode.AUTHEN_TIMEOUT);
  assert.equal(t.node.registry!.exists(`${PREFIX}/LATE`), false);

  const [unknown] = await (await challengeFor(`${PREFIX}/X`)).answer(0x5555, 0x7ffffff0);
  assert.equal(unknown!.header.responseCode, ResponseCode.SESSION_TIMEOUT);
  // A plain resolution naming an unknown session too, even when its answer is cached.
  await client.resolve(t.server, `${PREFIX}/TARGET`);
  const [cachedButUnknown] = await client.tcpSend(t.server, encodeRequest({ opCode: OpCode.RESOLUTION, body: encodeResolutionRequest(`${PREFIX}/TARGET`), sessionId: 0x7fff0001 }));
  assert.equal(cachedButUnknown!.header.responseCode, ResponseCode.SESSION_TIMEOUT);
  const [zero] = await (await challengeFor(`${PREFIX}/Y`)).answer(0x6666, 0);
  assert.equal(zero!.header.responseCode, ResponseCode.AUTHEN_TIMEOUT);
});

test('a non-public value: never without authentication (UDP, TCP, PO or not); after the challenge, all values', async () => {
  const h = `${PREFIX}/SECRETIVE`;
  await admin().create(h, [makeValue(1, 'URL', 'https://example.cn/p'), makeValue(2, 'EMAIL', 'owner@example.cn', { permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE })]);
  for (const transport of ['udp', 'tcp'] as const) {
    const withPo = await client.resolve(t.server, h, { transport });
    assert.deepEqual(withPo.values.map((v) => v.index), [1, 100], `${transport} with PO: public values only (100: the creator's HS_ADMIN)`);
    const noPo = await client.resolve(t.server, h, { transport, flags: OpFlag.CA | OpFlag.REC });
    assert.equal(noPo.responseCode, ResponseCode.AUTHENTICATION_NEEDED, `${transport} without PO is challenged`);
    // Twice: the second time the answer is cached, and still challenged.
    assert.equal((await client.resolve(t.server, h, { transport, flags: OpFlag.CA })).responseCode, ResponseCode.AUTHENTICATION_NEEDED);
  }
  const all = await admin().resolveAll(h);
  assert.deepEqual(all.map((v) => v.index), [1, 2, 100]);
  assert.equal(all.find((v) => v.index === 2)!.data.toString(), 'owner@example.cn');
  // A handle with public values only is answered without PO at once.
  assert.equal((await client.resolve(t.server, `${PREFIX}/TARGET`, { flags: OpFlag.CA })).responseCode, ResponseCode.SUCCESS);
});

test('admin requests over UDP are refused with RC 4 and the RequestId echoed', async () => {
  const sock = dgram.createSocket('udp4');
  const reply = await new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no UDP answer')), 3000);
    sock.on('message', (m) => {
      clearTimeout(timer);
      resolve(m);
    });
    sock.send(encodeRequest({ opCode: OpCode.DELETE_HANDLE, body: encodeHandleOnly(`${PREFIX}/X`), flags: OpFlag.REC | OpFlag.CA | OpFlag.PO, requestId: 0xabcdef }), t.server.port, '127.0.0.1');
  });
  sock.close();
  const p = decodePacket(reply);
  assert.equal(p.header.responseCode, ResponseCode.PROTOCOL_ERROR);
  assert.equal(p.envelope.requestId, 0xabcdef);
});

test('a request naming an unknown session gets 500; inside an authenticated session a missing MAC is 404, a wrong one 502, a replayed counter 505', async () => {
  const [unknown] = await client.tcpSend(t.server, encodeRequest({ opCode: OpCode.DELETE_HANDLE, body: encodeHandleOnly(`${PREFIX}/X`), flags: OpFlag.REC | OpFlag.CA | OpFlag.PO, sessionId: 0x7fff0000 }));
  assert.equal(unknown!.header.responseCode, ResponseCode.SESSION_TIMEOUT);

  const a = admin({ session: true });
  await a.create(`${PREFIX}/MAC-1`, []);
  const s = (a as unknown as { session: { id: number; key: Buffer; counter: number } }).session;
  const body = encodeHandleWithValues(`${PREFIX}/MAC-1`, [makeValue(5, 'URL', 'https://example.cn/mac')]);
  const [noMac] = await client.tcpSend(t.server, encodeRequest({ opCode: OpCode.ADD_VALUE, body, flags: OpFlag.REC | OpFlag.CA | OpFlag.PO, sessionId: s.id }));
  assert.equal(noMac!.header.responseCode, ResponseCode.INVALID_CREDENTIAL);
  const real = s.key;
  s.key = Buffer.alloc(32, 1);
  assert.equal(await rcOf(a.add(`${PREFIX}/MAC-1`, [makeValue(5, 'URL', 'x')])), ResponseCode.INVALID_SESSION_KEY);
  s.key = real;
  s.counter = 0; // counter 1 was used by the create
  assert.equal(await rcOf(a.add(`${PREFIX}/MAC-1`, [makeValue(5, 'URL', 'x')])), ResponseCode.SESSION_MESSAGE_REJECTED);
  s.counter = 100;
  await a.add(`${PREFIX}/MAC-1`, [makeValue(5, 'URL', 'https://example.cn/mac')]);
  assert.equal(t.node.registry!.getValues(`${PREFIX}/MAC-1`)!.find((v) => v.index === 5)!.data.toString(), 'https://example.cn/mac');
});

test('quotas: prefixes derived beyond the limit get 605', async () => {
  await admin().create(`0.NA/${PREFIX}.1`, [makeValue(100, 'HS_ADMIN', encodeAdmin({ permissions: 0x0fff, handle: ADMIN.handle, index: 300 }))]);
  assert.equal(await rcOf(admin().create(`0.NA/${PREFIX}.2`, [])), ResponseCode.PREFIX_LIMIT);
});

test('quotas: identifiers beyond the registration limit get 604; requests beyond the daily allowance get 603', async () => {
  const q = await startTestNode({ prefixes: ['88.200'], patch: (c) => ((c.admin = { quotas: { '88.200': { maxHandles: 2 }, '88.201': {} } })) });
  const key = readPrivateKey(readFileSync(path.join(q.dir, 'keys', 'admin-88.200.key.pem')));
  try {
    const a = new AdminClient(client, q.server, { handle: '0.NA/88.200', index: 300, key });
    // The prefix handle 0.NA/88.200 lives under 0.NA, not 88.200: two identifiers fit, the third does not.
    await a.create('88.200/A', []);
    await a.create('88.200/B', []);
    assert.equal(await rcOf(a.create('88.200/C', [])), ResponseCode.REGISTRATION_COUNT_LIMIT);
    assert.equal(q.node.registry!.exists('88.200/C'), false);
    await a.delete('88.200/B');
    await a.create('88.200/C', []);
  } finally {
    await q.stop();
  }
  const d = await startTestNode({ prefixes: ['88.300'], patch: (c) => ((c.admin = { quotas: { '88.300': { dailyRequestsPerClient: 3 } } })) });
  const dkey = readPrivateKey(readFileSync(path.join(d.dir, 'keys', 'admin-88.300.key.pem')));
  try {
    const a = new AdminClient(client, d.server, { handle: '0.NA/88.300', index: 300, key: dkey });
    await a.create('88.300/A', []);
    await a.add('88.300/A', [makeValue(1, 'URL', 'https://example.cn/a')]);
    await a.list('88.300');
    assert.equal(await rcOf(a.create('88.300/B', [])), ResponseCode.DAILY_REQUEST_LIMIT);
    assert.equal(d.node.registry!.exists('88.300/B'), false);
    // Resolution is not an administrative request: it is never counted.
    assert.equal((await client.resolve(d.server, '88.300/A')).responseCode, ResponseCode.SUCCESS);
  } finally {
    await d.stop();
  }
});
