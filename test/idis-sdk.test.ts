// The national identifier system's Java SDK against real nodes on loopback: its exact requests (the captures
// in test/vectors/idis-golden and what its source sends, docs/idis.md), over UDP and over one pooled TCP
// connection without KC; its login (GET_SITE_INFO under its own SessionId, LOGIN_ID_SYSTEM, the challenge
// answered with RSA and with SM2) and every administrative method inside it; its resolver's bare-prefix
// HS_SITE query at a recursion node; and each answer read the way the SDK's decoder reads it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { cli, tempDir } from './helpers/node.js';
import { baseOf } from './helpers/http.js';
import { HandleClient } from '../src/client/handle-client.js';
import { AdminClient } from '../src/client/admin-client.js';
import { HttpApiClient } from '../src/client/http-api-client.js';
import { udpExchange } from './helpers/raw.js';
import { repoRoot } from './helpers/paths.js';
import { Nodes, at } from './helpers/tiers.js';
import { OW, SDK_TOKEN_FLAG, SdkConnection, sdkChallengeAnswerBody, sdkDecode, sdkLogin, sdkRequest, sdkResolutionBody, SDK_LOGIN_FLAGS } from './helpers/idis-sdk.js';
import type { IdresNode } from '../src/node/node.js';
import { readPrivateKey } from '../src/protocol/keyfile.js';
import { makeValue, Perm, type HandleValue } from '../src/model/value.js';
import { decodeAdmin, encodeAdmin } from '../src/protocol/admin-data.js';
import { encodePublicKey } from '../src/protocol/pubkey.js';
import { decodeSite } from '../src/protocol/site.js';
import { Writer } from '../src/protocol/writer.js';
import { writeValueList } from '../src/protocol/values.js';
import { ResponseCode } from '../src/protocol/constants.js';
import { generateSm2KeyPair } from '../src/protocol/sm2.js';

const golden = (name: string) => readFileSync(path.join(repoRoot, 'test', 'vectors', 'idis-golden', name));

const PREFIX = '88.118.8';
const ADMIN = `0.NA/${PREFIX}`;

/** A handle-and-values body (create, add, modify), as the SDK's encoder writes it. */
function valuesBody(handle: string, values: HandleValue[]): Buffer {
  const w = new Writer(256).utf8(handle);
  writeValueList(w, values);
  return Buffer.from(w.finish());
}
function indexesBody(handle: string, indexes: number[]): Buffer {
  const w = new Writer(64).utf8(handle).u32(indexes.length);
  for (const i of indexes) w.u32(i);
  return Buffer.from(w.finish());
}
const handleBody = (handle: string) => Buffer.from(new Writer(64).utf8(handle).finish());

describe('the national SDK against a business node', () => {
  const nodes = new Nodes();
  let business: IdresNode;
  let adminKey: KeyObject;
  let sm2Key: KeyObject;

  before(async () => {
    business = await nodes.start('business', { prefixes: [PREFIX] }, (c) => (c.tcp = { idleTimeoutMs: 5000, maxConnections: 100 }));
    adminKey = readPrivateKey(readFileSync(path.join(nodes.root, 'business', 'keys', `admin-${PREFIX}.key.pem`)));
    const reg = business.registry!;
    reg.create(`${PREFIX}/IDIS-1`, [
      makeValue(1, 'URL', 'https://trace.example.cn/idis-1'),
      makeValue(2, 'productName', '智能水泵'),
      makeValue(3, 'internal.cost', '812.00 CNY', { permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE }),
      makeValue(100, 'HS_ADMIN', encodeAdmin({ permissions: 0x0fff, handle: ADMIN, index: 300 })),
    ]);
    // An SM2 identity, made as an operator would (idres keys generate --sm2), allowed to add handles under the prefix.
    const keyFile = path.join(tempDir(), 'sm2.key');
    const r = await cli(['keys', 'generate', '--sm2', '--out', keyFile]);
    assert.equal(r.code, 0, r.stderr);
    sm2Key = readPrivateKey(readFileSync(keyFile));
    const pub = readFileSync(`${keyFile}.pub.bin`);
    assert.equal(pub.subarray(4, 15).toString(), 'SM2_PUB_KEY');
    reg.create(`${PREFIX}/SM2-OPERATOR`, [makeValue(300, 'HS_PUBKEY', pub, { permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE | Perm.PUBLIC_READ })]);
    reg.upsertValues(ADMIN, [makeValue(101, 'HS_ADMIN', encodeAdmin({ permissions: 0x0fff, handle: `${PREFIX}/SM2-OPERATOR`, index: 300 }))]);
  });
  after(() => nodes.stopAll());

  test('its captured UDP resolution (an empty token after the type list) is answered, and decodes as the SDK decodes it', async () => {
    const req = golden('resolution-udp.bin');
    const [reply] = await udpExchange(business.port, [req]);
    assert.ok(reply, 'an answer');
    const r = sdkDecode(reply);
    assert.equal(r.responseCode, ResponseCode.SUCCESS);
    assert.equal(r.requestId, req.readUInt32BE(8));
    assert.equal(r.handle, `${PREFIX}/IDIS-1`);
    // PO: the public values only.
    assert.deepEqual(r.values!.map((v) => v.index), [1, 2, 100]);
    assert.equal(r.values!.find((v) => v.index === 2)!.data.toString(), '智能水泵');
  });

  test('its captured TCP resolution, then 100 more requests on the same connection without KC, answered in turn', async () => {
    const c = await SdkConnection.connect(business.port);
    const first = await c.request(golden('resolution-tcp.bin'));
    assert.equal(first.responseCode, ResponseCode.SUCCESS);
    assert.equal(first.requestId, 1);
    const expected: number[] = [];
    for (let i = 2; i <= 101; i++) {
      // Known, unknown, filtered, and now and then the heartbeat handle "0".
      const kind = i % 4;
      const handle = kind === 0 ? `${PREFIX}/IDIS-1` : kind === 1 ? `${PREFIX}/NOPE-${i}` : kind === 2 ? `${PREFIX}/idis-1` : '0';
      const body = kind === 2 ? sdkResolutionBody(handle, ['URL']) : sdkResolutionBody(handle);
      const r = await c.request(sdkRequest({ opCode: 1, body, requestId: i }));
      assert.equal(r.requestId, i);
      expected.push(kind === 0 || kind === 2 ? 1 : 100);
      assert.equal(r.responseCode, expected.at(-1), `request ${i}`);
      if (kind === 2) assert.deepEqual(r.values!.map((v) => v.type), ['URL']);
    }
    assert.equal(c.closed, false, 'the connection is still open');
    assert.deepEqual(c.strays, [], 'exactly one message per request');
    c.close();
  });

  test('a resolution with a token (OpFlag 0x00000004) gets what the same request without one gets: the token grants nothing', async () => {
    const c = await SdkConnection.connect(business.port);
    const plain = await c.request(sdkRequest({ opCode: 1, body: sdkResolutionBody(`${PREFIX}/IDIS-1`), requestId: 1 }));
    for (let i = 0; i < 2; i++) {
      // Twice: the second is answered from the hot cache, keyed without the token.
      const withToken = await c.request(sdkRequest({ opCode: 1, body: sdkResolutionBody(`${PREFIX}/IDIS-1`, [], [], 'Bearer eyJhbGciOi.fake.token'), requestId: 2 + i, flags: 0x19000000 | SDK_TOKEN_FLAG }));
      assert.equal(withToken.responseCode, ResponseCode.SUCCESS);
      assert.deepEqual(withToken.values, plain.values);
      assert.ok(!withToken.values!.some((v) => v.index === 3), 'no non-public value');
    }
    // Over UDP too, and without PO the token does not stand in for a login: the private value is challenged.
    const [reply] = await udpExchange(business.port, [sdkRequest({ opCode: 1, body: sdkResolutionBody(`${PREFIX}/IDIS-1`, [], [3], 'token'), requestId: 9, flags: 0x10000000 | SDK_TOKEN_FLAG })]);
    assert.equal(sdkDecode(reply!).responseCode, ResponseCode.AUTHENTICATION_NEEDED);
    c.close();
  });

  test('its login with an RSA key, then every administrative method unsigned under its own SessionId, never a 402', async () => {
    const c = await SdkConnection.connect(business.port);
    const login = await sdkLogin(c, { handle: ADMIN, index: 300, key: adminKey }, { sessionId: 10001, firstRequestId: 2 });
    // GET_SITE_INFO under a SessionId nobody issued is answered, not refused with 500.
    assert.equal(login.siteInfo.responseCode, ResponseCode.SUCCESS);
    assert.equal(login.siteInfo.site!.servers[0]!.interfaces.find((i) => i.protocol === 1)!.port, business.port);
    assert.equal(login.challenge.responseCode, ResponseCode.AUTHENTICATION_NEEDED);
    assert.equal(login.challenge.sessionId, 10001, 'the challenge is issued under the client-chosen SessionId');
    assert.equal(login.result.responseCode, ResponseCode.SUCCESS);
    assert.equal(login.result.opCode, 2001, 'RC 1 on the login opcode, which is what the SDK decodes');

    let id = 1;
    const op = (opCode: number, body: Buffer, flags?: number) => c.request(sdkRequest({ opCode, body, requestId: id++, sessionId: 10001, ...(flags !== undefined ? { flags } : {}) }));
    const h = `${PREFIX}/SDK-RSA-1`;
    const created = await op(100, valuesBody(h, [makeValue(1, 'URL', 'https://example.cn/sdk/1'), makeValue(100, 'HS_ADMIN', encodeAdmin({ permissions: 0x0fff, handle: ADMIN, index: 300 }))]));
    assert.equal(created.responseCode, ResponseCode.SUCCESS, created.message);
    assert.equal(created.opCode, 100);
    assert.equal((await op(102, valuesBody(h, [makeValue(2, 'EMAIL', 'qa@example.cn')]))).responseCode, ResponseCode.SUCCESS);
    assert.equal((await op(104, valuesBody(h, [makeValue(1, 'URL', 'https://example.cn/sdk/1b')]))).responseCode, ResponseCode.SUCCESS);
    // With OW, as the SDK's overwrite variants send it.
    assert.equal((await op(102, valuesBody(h, [makeValue(2, 'EMAIL', 'ops@example.cn')]), 0x19000000 | OW)).responseCode, ResponseCode.SUCCESS);
    let resolved = await op(1, sdkResolutionBody(h));
    assert.deepEqual(resolved.values!.map((v) => [v.index, v.data.toString()]).filter(([i]) => i !== 100), [[1, 'https://example.cn/sdk/1b'], [2, 'ops@example.cn']]);
    assert.equal((await op(103, indexesBody(h, [2]))).responseCode, ResponseCode.SUCCESS);
    resolved = await op(1, sdkResolutionBody(h));
    assert.deepEqual(resolved.values!.map((v) => v.index), [1, 100]);
    const listed = await op(105, handleBody(ADMIN));
    assert.equal(listed.responseCode, ResponseCode.SUCCESS);
    assert.ok(listed.handles!.includes(h) && listed.handles!.includes(`${PREFIX}/IDIS-1`));
    // Without PO, as the identity: its non-public values, not a challenge.
    const own = await op(1, sdkResolutionBody(`${PREFIX}/IDIS-1`, [], [3]), 0x10000000);
    assert.equal(own.responseCode, ResponseCode.SUCCESS);
    assert.equal(own.values![0]!.data.toString(), '812.00 CNY');
    // Refusals are refusals, never the 402 the SDK would take for success.
    const dup = await op(100, valuesBody(h, []));
    assert.equal(dup.responseCode, ResponseCode.HANDLE_ALREADY_EXISTS);
    assert.equal((await op(101, handleBody(h))).responseCode, ResponseCode.SUCCESS);
    assert.equal(business.registry!.exists(h), false);
    // The heartbeat (handle "0", SessionId 0) on the logged-in connection changes nothing.
    assert.equal((await c.request(sdkRequest({ opCode: 1, body: sdkResolutionBody('0'), requestId: id++ }))).responseCode, ResponseCode.HANDLE_NOT_FOUND);
    assert.equal((await op(100, valuesBody(`${PREFIX}/SDK-RSA-2`, [makeValue(1, 'URL', 'https://example.cn/sdk/2')]))).responseCode, ResponseCode.SUCCESS);
    assert.ok(business.registry!.exists(`${PREFIX}/SDK-RSA-2`));
    assert.deepEqual(c.strays, []);
    c.close();
  });

  test('its login with an SM2 key (SM3, the handle as user ID), and a create within its permissions', async () => {
    const c = await SdkConnection.connect(business.port);
    const identity = { handle: `${PREFIX}/SM2-OPERATOR`, index: 300, key: sm2Key };
    const login = await sdkLogin(c, identity, { sessionId: 10002, firstRequestId: 2 });
    assert.equal(login.result.responseCode, ResponseCode.SUCCESS, login.result.message);
    assert.equal(login.result.opCode, 2001);
    const h = `${PREFIX}/SDK-SM2-1`;
    const r = await c.request(sdkRequest({ opCode: 100, body: valuesBody(h, [makeValue(1, 'URL', 'https://example.cn/sm2')]), requestId: 1, sessionId: 10002 }));
    assert.equal(r.responseCode, ResponseCode.SUCCESS, r.message);
    // Created without an HS_ADMIN: the identity that logged in administers it, as the reference's tools do.
    const admin = business.registry!.getValues(h)!.find((v) => v.type === 'HS_ADMIN')!;
    assert.deepEqual({ handle: decodeAdmin(admin.data).handle, index: decodeAdmin(admin.data).index }, { handle: `${PREFIX}/SM2-OPERATOR`, index: 300 });
    c.close();
  });

  test('an SM2 identity on the other paths: the standard 402 challenge-response, a Diffie-Hellman session, HTTP\'s Handle scheme', async () => {
    const client = new HandleClient({ udpTimeoutsMs: [300], tcpTimeoutMs: 3000 });
    const server = { host: '127.0.0.1', port: business.port };
    const identity = { handle: `${PREFIX}/SM2-OPERATOR`, index: 300, key: sm2Key };
    try {
      await new AdminClient(client, server, identity).create(`${PREFIX}/SM2-CR`, [makeValue(1, 'URL', 'https://example.cn/cr')]);
      await new AdminClient(client, server, identity, { session: true }).create(`${PREFIX}/SM2-SESSION`, [makeValue(1, 'URL', 'https://example.cn/s')]);
      await new HttpApiClient(baseOf(business), identity).create(`${PREFIX}/SM2-HTTP`, [makeValue(1, 'URL', 'https://example.cn/h')]);
      for (const h of ['SM2-CR', 'SM2-SESSION', 'SM2-HTTP']) assert.ok(business.registry!.exists(`${PREFIX}/${h}`), h);
      // The same key under another identity's name does not verify: the handle is the SM2 user ID.
      business.registry!.create(`${PREFIX}/SM2-TWIN`, [makeValue(300, 'HS_PUBKEY', encodePublicKey(createPublicKey(sm2Key)), { permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE })]);
      business.registry!.upsertValues(ADMIN, [makeValue(102, 'HS_ADMIN', encodeAdmin({ permissions: 0x0fff, handle: `${PREFIX}/SM2-TWIN`, index: 300 }))]);
      const c = await SdkConnection.connect(business.port);
      const login = await c.request(sdkRequest({ opCode: 2001, body: Buffer.from(new Writer(64).utf8(`${PREFIX}/SM2-TWIN`).u32(300).finish()), requestId: 1, sessionId: 7, flags: SDK_LOGIN_FLAGS, noCredential: true }));
      const signedAsOther = sdkChallengeAnswerBody(`${PREFIX}/SM2-OPERATOR`, 300, sm2Key, login.nonce!, login.digest!);
      // Rename the identity in the answer, keeping the signature made under the other handle.
      const forged = Buffer.concat([Buffer.from(new Writer(64).utf8('HS_PUBKEY').utf8(`${PREFIX}/SM2-TWIN`).u32(300).finish()), signedAsOther.subarray(4 + 9 + 4 + `${PREFIX}/SM2-OPERATOR`.length + 4)]);
      const r = await c.request(sdkRequest({ opCode: 200, body: forged, requestId: 2, sessionId: 7, flags: SDK_LOGIN_FLAGS }));
      assert.equal(r.responseCode, ResponseCode.AUTHENTICATION_FAILED);
      c.close();
    } finally {
      client.close();
    }
  });

  test('login failures: a wrong key is 403 and counted; a non-administrator is refused 400, never challenged; five failures end logins on the connection', async () => {
    const stats = (business.handler as unknown as { admin: { stats: { authFailures: number } } }).admin.stats;
    const before = stats.authFailures;
    const c = await SdkConnection.connect(business.port);
    const wrong = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const bad = await sdkLogin(c, { handle: ADMIN, index: 300, key: wrong }, { sessionId: 10003, firstRequestId: 1 });
    assert.equal(bad.result.responseCode, ResponseCode.AUTHENTICATION_FAILED);
    assert.equal(stats.authFailures, before + 1);
    // Requests under the SessionId of a login that did not succeed are refused, not challenged.
    const refused = await c.request(sdkRequest({ opCode: 100, body: valuesBody(`${PREFIX}/SDK-NO`, []), requestId: 20, sessionId: 10003 }));
    assert.notEqual(refused.responseCode, ResponseCode.AUTHENTICATION_NEEDED);
    assert.notEqual(refused.responseCode, ResponseCode.SUCCESS);
    assert.equal(business.registry!.exists(`${PREFIX}/SDK-NO`), false);
    // SM2 signature named as RSA's hash: does not verify.
    const sm2Wrong = generateSm2KeyPair().privateKey;
    const bad2 = await sdkLogin(c, { handle: `${PREFIX}/SM2-OPERATOR`, index: 300, key: sm2Wrong }, { sessionId: 10004, firstRequestId: 30 });
    assert.equal(bad2.result.responseCode, ResponseCode.AUTHENTICATION_FAILED);
    for (let i = 0; i < 3; i++) await sdkLogin(c, { handle: ADMIN, index: 300, key: wrong }, { sessionId: 10005 + i, firstRequestId: 40 + i * 3 });
    const locked = await sdkLogin(c, { handle: ADMIN, index: 300, key: adminKey }, { sessionId: 10010, firstRequestId: 60 });
    assert.equal(locked.challenge.responseCode, ResponseCode.AUTHENTICATION_FAILED, 'the right key too, once the connection has failed five times');
    c.close();

    // An identity that proves itself but administers nothing: its create is 400, inside the login, not 402.
    const outsiderKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
    business.registry!.create(`${PREFIX}/OUTSIDER`, [makeValue(300, 'HS_PUBKEY', encodePublicKey(createPublicKey(outsiderKey.privateKey)), { permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE | Perm.PUBLIC_READ })]);
    const c2 = await SdkConnection.connect(business.port);
    const ok = await sdkLogin(c2, { handle: `${PREFIX}/OUTSIDER`, index: 300, key: outsiderKey.privateKey }, { sessionId: 10020, firstRequestId: 1 });
    assert.equal(ok.result.responseCode, ResponseCode.SUCCESS);
    const denied = await c2.request(sdkRequest({ opCode: 100, body: valuesBody(`${PREFIX}/SDK-DENIED`, []), requestId: 9, sessionId: 10020 }));
    assert.equal(denied.responseCode, ResponseCode.INVALID_ADMIN);
    const read = await c2.request(sdkRequest({ opCode: 1, body: sdkResolutionBody(`${PREFIX}/IDIS-1`, [], [3]), requestId: 10, sessionId: 10020, flags: 0x10000000 }));
    assert.ok(read.responseCode === ResponseCode.INVALID_ADMIN || read.responseCode === ResponseCode.INSUFFICIENT_PERMISSIONS, `RC ${read.responseCode}`);
    assert.equal(business.registry!.exists(`${PREFIX}/SDK-DENIED`), false);
    c2.close();
  });

  test('its captured GET_SITE_INFO under SessionId 10001 is answered with the site, as the first step of a login', async () => {
    const c = await SdkConnection.connect(business.port);
    const r = await c.request(golden('get-site-info-session.bin'));
    assert.equal(r.responseCode, ResponseCode.SUCCESS);
    assert.equal(r.sessionId, 10001);
    assert.equal(r.site!.servers.length, 1);
    // LOGIN_ID_SYSTEM over UDP is refused clearly: the login belongs to a TCP connection.
    const [reply] = await udpExchange(business.port, [sdkRequest({ opCode: 2001, body: Buffer.from(new Writer(64).utf8(ADMIN).u32(300).finish()), requestId: 5, sessionId: 10001, flags: SDK_LOGIN_FLAGS, noCredential: true })]);
    assert.equal(sdkDecode(reply!).responseCode, ResponseCode.OPERATION_NOT_SUPPORTED);
    // An answer to a challenge nobody issued on this connection is refused.
    const stray = await c.request(sdkRequest({ opCode: 200, body: sdkChallengeAnswerBody(ADMIN, 300, adminKey, Buffer.alloc(16), Buffer.alloc(32)), requestId: 6, sessionId: 424242, flags: SDK_LOGIN_FLAGS }));
    assert.notEqual(stray.responseCode, ResponseCode.SUCCESS);
    c.close();
  });
});

describe("the national SDK's resolver: the bare prefix's HS_SITE at a recursion node, then the identifier at that site", () => {
  const nodes = new Nodes();
  let top: IdresNode, secondary: IdresNode, business: IdresNode, resolver: IdresNode;

  before(async () => {
    top = await nodes.start('top', { roles: ['top'], prefixes: ['88'] });
    secondary = await nodes.start('secondary', { roles: ['secondary'], prefixes: ['88.118'] });
    business = await nodes.start('business', { prefixes: [PREFIX] });
    let r = await cli(['prefix', 'delegate', PREFIX, '--dir', path.join(nodes.root, 'secondary'), '--site', at(business)]);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(['prefix', 'delegate', '88.118', '--dir', path.join(nodes.root, 'top'), '--site', at(secondary)]);
    assert.equal(r.code, 0, r.stderr);
    resolver = await nodes.start('resolver', { roles: ['resolver'], roots: [at(top)] });
    business.registry!.create(`${PREFIX}/IDIS-1`, [makeValue(1, 'URL', 'https://trace.example.cn/idis-1')]);
  });
  after(() => nodes.stopAll());

  test('the recursion node answers "88.118.8" with the business site; the SDK then resolves there over TCP', async () => {
    const c = await SdkConnection.connect(resolver.port);
    const site = await c.request(sdkRequest({ opCode: 1, body: sdkResolutionBody(PREFIX, ['HS_SITE']), requestId: 1 }));
    assert.equal(site.responseCode, ResponseCode.SUCCESS, site.message);
    assert.equal(site.handle, PREFIX, 'the handle as asked');
    const sites = site.values!.filter((v) => v.type === 'HS_SITE' || v.type === 'HS_SITE.6').map((v) => decodeSite(v.data));
    assert.ok(sites.length > 0);
    // The SDK takes the first site and its first TCP interface.
    const tcp = sites[0]!.servers[0]!.interfaces.find((i) => i.protocol === 1)!;
    assert.equal(tcp.port, business.port);
    // Asked again: from the resolver's cache, the same.
    const again = await c.request(sdkRequest({ opCode: 1, body: sdkResolutionBody(PREFIX, ['HS_SITE']), requestId: 2 }));
    assert.deepEqual(again.values, site.values);
    c.close();
    const b = await SdkConnection.connect(tcp.port);
    const r = await b.request(sdkRequest({ opCode: 1, body: sdkResolutionBody(`${PREFIX}/IDIS-1`), requestId: 3 }));
    assert.equal(r.values![0]!.data.toString(), 'https://trace.example.cn/idis-1');
    b.close();
  });

  test('every role that answers prefix handles answers the bare form as it answers 0.NA/P', async () => {
    for (const [node, q] of [[business, PREFIX], [secondary, PREFIX], [secondary, '88.118'], [top, '88']] as const) {
      const c = await SdkConnection.connect(node.port);
      const bare = await c.request(sdkRequest({ opCode: 1, body: sdkResolutionBody(q, ['HS_SITE']), requestId: 1 }));
      const full = await c.request(sdkRequest({ opCode: 1, body: sdkResolutionBody(`0.NA/${q}`, ['HS_SITE']), requestId: 2 }));
      assert.equal(bare.responseCode, ResponseCode.SUCCESS, `${q} at ${node.port}: ${bare.message}`);
      assert.equal(bare.handle, q);
      assert.equal(full.handle, `0.NA/${q}`);
      assert.deepEqual(bare.values, full.values);
      c.close();
    }
    // A prefix the top-level node only refers: 303 for both forms, as for any client.
    const c = await SdkConnection.connect(top.port);
    const referred = await c.request(sdkRequest({ opCode: 1, body: sdkResolutionBody(PREFIX, ['HS_SITE']), requestId: 1 }));
    assert.equal(referred.responseCode, ResponseCode.PREFIX_REFERRAL);
    assert.ok(referred.values!.some((v) => v.type === 'HS_SITE.PREFIX'));
    c.close();
  });
});
