// What a stranger on the network must not be able to do to other clients' authentication, and what the
// node must not be made to spend: fixes from a security review, each held by a test over real sockets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { generateKeyPairSync, createDiffieHellman, type KeyObject } from 'node:crypto';
import net from 'node:net';
import { startTestNode, type TestNode } from './helpers/node.js';
import { HandleClient } from '../src/client/handle-client.js';
import { AdminClient } from '../src/client/admin-client.js';
import { readPrivateKey } from '../src/protocol/keyfile.js';
import { makeValue, Perm } from '../src/model/value.js';
import { OpCode, OpFlag, ResponseCode } from '../src/protocol/constants.js';
import { encodeRequest } from '../src/client/request.js';
import { decodeChallenge } from '../src/protocol/bodies.js';
import { AuthType, KeyExchangeMode, challengeMessage, encodeChallengeAnswer, encodeSessionSetupRequest } from '../src/protocol/auth-bodies.js';
import { signPubkeyAnswer } from '../src/protocol/auth-crypto.js';
import { encodeHandleWithValues } from '../src/protocol/admin-bodies.js';
import { encodeDhPublicKey } from '../src/protocol/pubkey.js';
import { encodePacket } from '../src/protocol/message.js';
import { encodeMacCredential, encryptPacket, sessionMac } from '../src/protocol/session-crypto.js';
import { IdresNode } from '../src/node/node.js';
import { baseOf, basic, call, addIdentities, USER, USER_SECRET } from './helpers/http.js';
import { encodeAdmin } from '../src/protocol/admin-data.js';
import { AdminPerm } from '../src/model/admin.js';

let t: TestNode;
let client: HandleClient;
let adminKey: KeyObject;
const ADMIN = { handle: '0.NA/88.118.8', index: 300 };
const FLAGS = OpFlag.REC | OpFlag.CA | OpFlag.PO;

before(async () => {
  t = await startTestNode({ prefixes: ['88.118.8'], patch: (c) => ((c.http = { enabled: true, port: 0 })) });
  client = new HandleClient({ udpTimeoutsMs: [300], tcpTimeoutMs: 3000 });
  adminKey = readPrivateKey(readFileSync(path.join(t.dir, 'keys', 'admin-88.118.8.key.pem')));
});
after(async () => {
  client.close();
  await t.stop();
});

async function challenged(handle: string) {
  const [c] = await client.tcpSend(t.server, encodeRequest({ opCode: OpCode.CREATE_HANDLE, body: encodeHandleWithValues(handle, []), flags: FLAGS }));
  assert.equal(c!.header.responseCode, ResponseCode.AUTHENTICATION_NEEDED);
  const { nonce, digest } = decodeChallenge(c!.body);
  const answer = (key: KeyObject, requestId: number) =>
    client.tcpSend(
      t.server,
      encodeRequest({
        opCode: OpCode.RESPONSE_TO_CHALLENGE,
        body: encodeChallengeAnswer({ authType: AuthType.PUBKEY, identityHandle: ADMIN.handle, identityIndex: ADMIN.index, signedResponse: signPubkeyAnswer(key, challengeMessage(nonce, digest.digest), [2, 11], ADMIN.handle) }),
        flags: FLAGS,
        requestId,
        sessionId: c!.envelope.sessionId,
      }),
    );
  return { id: c!.envelope.sessionId, answer };
}

test('challenge ids are not guessable, and a wrong answer does not spoil the challenge for its client (a few do drop it)', async () => {
  const a = await challenged('88.118.8/SPOIL-1');
  const b = await challenged('88.118.8/SPOIL-2');
  assert.ok(Math.abs(a.id - b.id) > 1000 || a.id !== b.id + 1, 'ids are not consecutive');
  const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const [junk] = await a.answer(stranger, 11);
  assert.equal(junk!.header.responseCode, ResponseCode.AUTHENTICATION_FAILED);
  const [real] = await a.answer(adminKey, 12);
  assert.equal(real!.header.responseCode, ResponseCode.SUCCESS);
  assert.equal(t.node.registry!.exists('88.118.8/SPOIL-1'), true);
  for (let i = 0; i < 3; i++) assert.equal((await b.answer(stranger, 20 + i))[0]!.header.responseCode, ResponseCode.AUTHENTICATION_FAILED);
  const [late] = await b.answer(adminKey, 30);
  assert.equal(late!.header.responseCode, ResponseCode.SESSION_TIMEOUT, 'three failures drop the challenge');
  assert.equal(t.node.registry!.exists('88.118.8/SPOIL-2'), false);
});

test('a request naming a session must carry its MAC even before the session is authenticated', async () => {
  const a = new AdminClient(client, t.server, { ...ADMIN, key: adminKey }, { session: true });
  // Open the session only (the first admin request would authenticate it).
  const s = await (a as unknown as { openSession(): Promise<{ id: number }> }).openSession();
  const [p] = await client.tcpSend(t.server, encodeRequest({ opCode: OpCode.CREATE_HANDLE, body: encodeHandleWithValues('88.118.8/HIJACK', []), flags: FLAGS, sessionId: s.id }));
  assert.equal(p!.header.responseCode, ResponseCode.INVALID_CREDENTIAL);
});

test('an encrypted request in a session is decrypted with the session key and carried out', async () => {
  const a = new AdminClient(client, t.server, { ...ADMIN, key: adminKey }, { session: true });
  await a.create('88.118.8/ENC-0', []);
  const s = (a as unknown as { session: { id: number; key: Buffer; counter: number } }).session;
  const body = encodeHandleWithValues('88.118.8/ENC-1', [makeValue(1, 'EMAIL', 'secret@example.cn', { permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE })]);
  const plain = encodeRequest({ opCode: OpCode.CREATE_HANDLE, body, flags: FLAGS, sessionId: s.id, requestId: 777 });
  const counter = ++s.counter;
  const mac = sessionMac(s.key, plain, counter, plain.subarray(20, plain.length - 4));
  const env = { major: 2, minor: 11, compressed: false, encrypted: false, truncated: false, suggestedMajor: 2, suggestedMinor: 11, sessionId: s.id, requestId: 777, sequence: 0 };
  const header = { opCode: OpCode.CREATE_HANDLE, responseCode: 0, opFlags: FLAGS, siteSerial: 0xffff, recursionCount: 0, expiration: plain.readUInt32BE(36) };
  const sealed = encryptPacket(s.key, encodePacket(env, header, body, encodeMacCredential(counter, mac)));
  const [p] = await client.tcpSend(t.server, sealed);
  assert.equal(p!.header.responseCode, ResponseCode.SUCCESS);
  assert.equal(t.node.registry!.getValues('88.118.8/ENC-1')![0]!.data.toString(), 'secret@example.cn');
  // The same bytes under a key that is not the session's: refused, nothing written.
  const forged = encryptPacket(Buffer.alloc(32, 9), encodePacket({ ...env, requestId: 778 }, header, encodeHandleWithValues('88.118.8/ENC-2', []), encodeMacCredential(counter + 1, mac)));
  const [q] = await client.tcpSend(t.server, forged);
  assert.equal(q!.header.responseCode, ResponseCode.INVALID_SESSION_KEY);
  assert.equal(t.node.registry!.exists('88.118.8/ENC-2'), false);
});

test('a write over the wire is seen by the next resolution at once (the cache is dropped before the acknowledgement)', async () => {
  const a = new AdminClient(client, t.server, { ...ADMIN, key: adminKey }, { session: true });
  await a.create('88.118.8/FRESH', [makeValue(1, 'URL', 'https://example.cn/v0')]);
  for (let i = 1; i <= 20; i++) {
    assert.equal((await client.resolve(t.server, '88.118.8/FRESH')).values[0]!.data.toString(), `https://example.cn/v${i - 1}`);
    await a.modify('88.118.8/FRESH', [makeValue(1, 'URL', `https://example.cn/v${i}`)]);
    assert.equal((await client.resolve(t.server, '88.118.8/FRESH')).values[0]!.data.toString(), `https://example.cn/v${i}`);
  }
});

test('HTTP: a value readable by nobody is refused even to an administrator; JSONP never carries credentials; an over-long handle is a 400', async () => {
  addIdentities(t.node);
  t.node.registry!.create('88.118.8/LOCKED', [makeValue(1, 'URL', 'https://example.cn/l'), makeValue(2, 'NOTE', 'readable-by-nobody', { permissions: 0 })]);
  t.node.registry!.create('88.118.8/PRIV', [
    makeValue(1, 'URL', 'https://example.cn/p'),
    makeValue(2, 'EMAIL', 'owner@example.cn', { permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE }),
    makeValue(100, 'HS_ADMIN', encodeAdmin({ permissions: AdminPerm.READ_VALUE, handle: USER, index: 300 })),
  ]);
  t.node.noticeWrites();
  const base = baseOf(t.node);
  const auth = basic(`300:${USER}`, USER_SECRET);
  const locked = await call(base, 'GET', '/api/handles/88.118.8/LOCKED', { headers: auth });
  assert.equal(locked.status, 403);
  assert.ok(!locked.text.includes('readable-by-nobody'));
  const priv = await call(base, 'GET', '/api/handles/88.118.8/PRIV', { headers: auth });
  assert.equal(priv.status, 200);
  assert.ok(priv.text.includes('owner@example.cn'), 'an authorised reader sees it');
  const jsonp = await call(base, 'GET', '/api/handles/88.118.8/PRIV?callback=steal', { headers: auth });
  assert.ok(!jsonp.text.includes('owner@example.cn'), 'not through JSONP');
  assert.ok(jsonp.text.startsWith('steal('));
  const long = await call(base, 'GET', `/api/handles/88.118.8/${'x'.repeat(3000)}`);
  assert.equal(long.status, 400);
  assert.equal(long.json.responseCode, ResponseCode.INVALID_HANDLE);
});

test('a node serving from several worker processes refuses administration with a clear message instead of losing challenges', async () => {
  // Shared mode needs a fixed port, chosen before the node binds; another test process may take it in
  // between, so a taken port means another try.
  let w: IdresNode | undefined;
  let port = 0;
  for (let attempt = 0; !w && attempt < 5; attempt++) {
    port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    w = await IdresNode.start(t.dir, { port, shared: true, httpPort: 0, log: () => undefined }).catch(() => undefined);
  }
  assert.ok(w, 'a node binds a free port in shared mode');
  if (!w) return;
  try {
    const [p] = await client.tcpSend({ host: '127.0.0.1', port }, encodeRequest({ opCode: OpCode.CREATE_HANDLE, body: encodeHandleWithValues('88.118.8/W', []), flags: FLAGS }));
    assert.equal(p!.header.responseCode, ResponseCode.OPERATION_NOT_SUPPORTED);
    assert.equal((await client.resolve({ host: '127.0.0.1', port }, '88.118.8/FRESH')).responseCode, ResponseCode.SUCCESS);
  } finally {
    await w.stop();
  }
});

test('session setup accepts only standard DH groups, and one address may hold only so many unauthenticated sessions', async () => {
  const odd = createDiffieHellman(512);
  const body = encodeSessionSetupRequest({ mode: KeyExchangeMode.DIFFIE_HELLMAN, timeoutSeconds: 60, identityHandle: '', identityIndex: -1, publicKey: encodeDhPublicKey({ y: odd.generateKeys(), p: odd.getPrime(), g: odd.getGenerator() }) });
  const [p] = await client.tcpSend(t.server, encodeRequest({ opCode: OpCode.SESSION_SETUP, body, flags: OpFlag.CT | FLAGS | OpFlag.RD }));
  assert.equal(p!.header.responseCode, ResponseCode.SESSION_FAILED);
  const std = createDiffieHellman(Buffer.from('FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF', 'hex'), Buffer.from([2]));
  const good = encodeSessionSetupRequest({ mode: KeyExchangeMode.DIFFIE_HELLMAN, timeoutSeconds: 60, identityHandle: '', identityIndex: -1, publicKey: encodeDhPublicKey({ y: std.generateKeys(), p: std.getPrime(), g: Buffer.from([2]) }) });
  const codes: number[] = [];
  for (let i = 0; i < 40; i++) codes.push((await client.tcpSend(t.server, encodeRequest({ opCode: OpCode.SESSION_SETUP, body: good, flags: OpFlag.CT | FLAGS | OpFlag.RD })))[0]!.header.responseCode);
  const ok = codes.filter((c) => c === ResponseCode.SUCCESS).length;
  assert.ok(ok > 0 && ok <= 32, `at most 32 open at once for one address (${ok} opened)`);
  assert.equal(codes.filter((c) => c === ResponseCode.SERVER_TOO_BUSY).length, 40 - ok);
});
