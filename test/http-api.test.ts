// The JSON API against a real node over HTTP on loopback, with undici: resolution and its filters, every
// value format out and back in, writes through the admin layer with the reference's status mapping,
// authentication (Basic, the Handle scheme with HS_SECKEY and HS_PUBKEY, sessions) and its failures,
// listing with pagination, and the API's edges (media type, body size, unknown endpoints, CORS, JSONP).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createPrivateKey, createPublicKey, createSign, generateKeyPairSync, pbkdf2Sync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { makeValue, Perm } from '../src/model/value.js';
import { encodeVList } from '../src/protocol/admin-data.js';
import { encodePublicKey } from '../src/protocol/pubkey.js';
import { HandleClient } from '../src/client/handle-client.js';
import { ResponseCode } from '../src/protocol/constants.js';
import { startTestNode, type TestNode } from './helpers/node.js';
import {
  JSON_HEADERS,
  NOBODY,
  NOBODY_SECRET,
  USER,
  USER_ADMIN_JSON,
  USER_SECRET,
  addIdentities,
  baseOf,
  basic,
  call,
} from './helpers/http.js';

describe('the JSON API of a business node', () => {
  let t: TestNode;
  let base: string;
  const put = (h: string, body: unknown, query = '', headers: Record<string, string> = basic(`300:${USER}`, USER_SECRET)) =>
    call(base, 'PUT', `/api/handles/${h}${query}`, { headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) });

  before(async () => {
    t = await startTestNode();
    base = baseOf(t.node);
    addIdentities(t.node);
    const r = t.node.registry!;
    r.create('88.118.8/ABC123', [
      makeValue(1, 'URL', 'https://example.com/p/ABC123'),
      makeValue(2, 'EMAIL', 'owner@example.com'),
      makeValue(3, 'URL.mobile', 'https://m.example.com/p/ABC123'),
      makeValue(4, 'blob', Buffer.from([0, 1, 2, 0xff])),
      makeValue(20, 'internal.cost', '12.50 CNY', { permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE }),
      makeValue(200, 'HS_VLIST', encodeVList([{ handle: USER, index: 300 }])),
    ]);
    r.create('88.118.8/SECRET', [makeValue(1, 'note', 'admins only', { permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE })]);
    t.node.noticeWrites();
  });
  after(async () => {
    await t.stop();
  });

  describe('resolution', () => {
    test('GET answers every public value in index order, the handle echoed as asked', async () => {
      const r = await call(base, 'GET', '/api/handles/88.118.8/abc123');
      assert.equal(r.status, 200);
      assert.match(String(r.headers['content-type']), /^application\/json;charset=UTF-8$/);
      assert.equal(r.json.responseCode, 1);
      assert.equal(r.json.handle, '88.118.8/abc123');
      assert.deepEqual(Object.keys(r.json), ['responseCode', 'handle', 'values']);
      assert.deepEqual(r.json.values.map((v: { index: number }) => v.index), [1, 2, 3, 4, 200]);
      for (const v of r.json.values) {
        assert.deepEqual(Object.keys(v), ['index', 'type', 'data', 'ttl', 'timestamp']);
        assert.equal(v.ttl, 86400);
        assert.match(v.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      }
    });

    test('type and index filters select their union; a type ending in "." selects its subtypes', async () => {
      const pick = async (q: string) => (await call(base, 'GET', `/api/handles/88.118.8/ABC123?${q}`)).json.values.map((v: { index: number }) => v.index);
      assert.deepEqual(await pick('type=email'), [2]);
      assert.deepEqual(await pick('type=URL'), [1]);
      assert.deepEqual(await pick('type=URL.'), [1, 3]);
      assert.deepEqual(await pick('index=4&type=EMAIL'), [2, 4]);
      assert.deepEqual(await pick('index=1&index=200'), [1, 200]);
      assert.deepEqual(await pick('auth=true&cert=true&doNotRefer'), [1, 2, 3, 4, 200]);
    });

    test('100 → 404, nothing matching → 200 with RC 200, a prefix not homed → 400 RC 301, a bad index → 400 RC 4', async () => {
      let r = await call(base, 'GET', '/api/handles/88.118.8/NOPE');
      assert.equal(r.status, 404);
      assert.deepEqual(r.json, { responseCode: 100, handle: '88.118.8/NOPE' });
      r = await call(base, 'GET', '/api/handles/88.118.8/ABC123?type=nothing');
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { responseCode: 200, values: [], handle: '88.118.8/ABC123' });
      r = await call(base, 'GET', '/api/handles/99.999/x');
      assert.equal(r.status, 400);
      assert.deepEqual(r.json, { responseCode: 301, message: "That prefix doesn't live here", handle: '99.999/x' });
      r = await call(base, 'GET', '/api/handles/88.118.8/ABC123?index=various');
      assert.equal(r.status, 400);
      assert.equal(r.json.responseCode, 4);
      assert.equal(r.json.handle, undefined);
      r = await call(base, 'GET', '/api/handles/');
      assert.equal(r.status, 400);
      assert.equal(r.json.responseCode, 102);
    });

    test('a handle without a slash is looked up as 0.NA/<it>; %-escapes in the path are decoded', async () => {
      let r = await call(base, 'GET', '/api/handles/88.118.8?type=HS_SITE');
      assert.equal(r.status, 200);
      assert.equal(r.json.handle, '88.118.8');
      assert.equal(r.json.values[0].data.format, 'site');
      r = await call(base, 'GET', '/api/handles/88.118.8%2FABC123?type=EMAIL');
      assert.equal(r.json.handle, '88.118.8/ABC123');
      assert.equal(r.json.values[0].data.value, 'owner@example.com');
    });

    test('HEAD has the headers and no body; POST resolves with JSON or form parameters', async () => {
      const h = await call(base, 'HEAD', '/api/handles/88.118.8/ABC123');
      assert.equal(h.status, 200);
      assert.equal(h.text, '');
      assert.ok(Number(h.headers['content-length']) > 100);
      let r = await call(base, 'POST', '/api/handles/88.118.8/ABC123', { headers: JSON_HEADERS, body: JSON.stringify({ type: ['EMAIL'], index: [4] }) });
      assert.deepEqual(r.json.values.map((v: { index: number }) => v.index), [2, 4]);
      r = await call(base, 'POST', '/api/handles/88.118.8/ABC123', { headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'index=1' });
      assert.deepEqual(r.json.values.map((v: { index: number }) => v.index), [1]);
    });

    test('?pretty indents, ?callback wraps as JSONP with a sanitised name', async () => {
      let r = await call(base, 'GET', '/api/handles/88.118.8/ABC123?index=1&pretty');
      assert.match(r.text, /^\{\n  "responseCode": 1,/);
      r = await call(base, 'GET', '/api/handles/88.118.8/ABC123?index=1&callback=my.cb<x>');
      assert.match(String(r.headers['content-type']), /^application\/javascript/);
      assert.match(r.text, /^my_cb_x_\(\{"responseCode":1,.*\}\);$/);
    });

    test('reads share the hot cache with the wire: a second GET is a cache hit', async () => {
      const before = t.node.pipeline.cache.stats.hits;
      await call(base, 'GET', '/api/handles/88.118.8/ABC123?type=EMAIL&index=3');
      await call(base, 'GET', '/api/handles/88.118.8/ABC123?type=EMAIL&index=3');
      assert.ok(t.node.pipeline.cache.stats.hits > before);
    });
  });

  describe('value formats', () => {
    test('output: string, base64 for binary data, admin, vlist, site and key', async () => {
      const abc = (await call(base, 'GET', '/api/handles/88.118.8/ABC123')).json.values;
      assert.deepEqual(abc.find((v: { index: number }) => v.index === 1).data, { format: 'string', value: 'https://example.com/p/ABC123' });
      assert.deepEqual(abc.find((v: { index: number }) => v.index === 4).data, { format: 'base64', value: 'AAEC/w==' });
      assert.deepEqual(abc.find((v: { index: number }) => v.index === 200).data, { format: 'vlist', value: [{ handle: USER, index: 300 }] });
      const na = (await call(base, 'GET', '/api/handles/0.NA/88.118.8')).json.values;
      assert.deepEqual(na.find((v: { type: string }) => v.type === 'HS_ADMIN').data, {
        format: 'admin',
        value: { handle: '0.NA/88.118.8', index: 300, permissions: '111111111111' },
      });
      const site = na.find((v: { type: string }) => v.type === 'HS_SITE').data;
      assert.equal(site.format, 'site');
      assert.equal(site.value.servers[0].interfaces.find((i: { protocol: string }) => i.protocol === 'UDP').port, t.node.port);
      const key = na.find((v: { type: string }) => v.type === 'HS_PUBKEY').data;
      assert.equal(key.format, 'key');
      assert.equal(key.value.kty, 'RSA');
      assert.equal(key.value.e, 'AQAB');
    });

    test('input: every format written with PUT reads back as the same bytes (hex comes back as base64)', async () => {
      const na = (await call(base, 'GET', '/api/handles/0.NA/88.118.8')).json.values;
      const site = na.find((v: { type: string }) => v.type === 'HS_SITE').data;
      const jwk = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
      const sent = [
        { index: 1, type: 'URL', data: { format: 'string', value: 'https://example.com/formats' } },
        { index: 2, type: 'bin', data: { format: 'base64', value: 'AAECAw==' } },
        { index: 3, type: 'bin.hex', data: { format: 'hex', value: '00ff10' } },
        { index: 4, type: 'number', data: 42 },
        { index: 5, type: 'HS_SITE', data: site },
        { index: 6, type: 'HS_PUBKEY', data: { format: 'key', value: { kty: 'RSA', n: jwk.n, e: jwk.e } } },
        { index: 200, type: 'HS_VLIST', data: { format: 'vlist', value: [{ handle: USER, index: '300' }] } },
        { index: 7, type: 'note', data: 'admins', permissions: '1100', ttl: '2030-01-01T00:00:00Z', references: [{ handle: USER, index: 300 }] },
        USER_ADMIN_JSON,
      ];
      const w = await put('88.118.8/FORMATS', { values: sent });
      assert.equal(w.status, 201, w.text);
      assert.deepEqual(w.json, { responseCode: 1, handle: '88.118.8/FORMATS' });
      const stored = t.node.registry!.get('88.118.8/FORMATS')!.values;
      const byIndex = new Map(stored.map((v) => [v.index, v]));
      assert.equal(byIndex.get(3)!.data.toString('hex'), '00ff10');
      assert.equal(byIndex.get(4)!.data.toString(), '42');
      assert.deepEqual(byIndex.get(6)!.data, encodePublicKey(createPublicKey({ key: { kty: 'RSA', n: jwk.n!, e: jwk.e! }, format: 'jwk' })));
      assert.equal(byIndex.get(7)!.permissions, Perm.ADMIN_READ | Perm.ADMIN_WRITE);
      assert.equal(byIndex.get(7)!.ttlType, 1);

      const back = (await call(base, 'GET', '/api/handles/88.118.8/FORMATS', { headers: basic(`300:${USER}`, USER_SECRET) })).json.values;
      const get = (i: number) => back.find((v: { index: number }) => v.index === i);
      assert.deepEqual(get(1).data, sent[0]!.data);
      assert.deepEqual(get(2).data, sent[1]!.data);
      assert.deepEqual(get(3).data, { format: 'base64', value: Buffer.from('00ff10', 'hex').toString('base64') });
      assert.deepEqual(get(4).data, { format: 'string', value: '42' });
      assert.deepEqual(get(5).data, site);
      assert.deepEqual(get(6).data, sent[5]!.data);
      assert.deepEqual(get(200).data, { format: 'vlist', value: [{ handle: USER, index: 300 }] });
      assert.equal(get(7).permissions, '1100');
      assert.equal(get(7).ttl, '2030-01-01T00:00:00Z');
      assert.deepEqual(get(7).references, [{ handle: USER, index: 300 }]);
      assert.deepEqual(get(100).data, { format: 'admin', value: { handle: USER, index: 300, permissions: '011111111111' } });
    });

    test('a value that does not read is 400 RC 4 without a handle; an unknown format too', async () => {
      for (const data of [{ format: 'hex', value: 'abc' }, { format: 'weird', value: 'x' }, null, { format: 'key', value: { kty: 'EC' } }]) {
        const r = await put('88.118.8/BAD', { values: [{ index: 1, type: 'X', data }] });
        assert.equal(r.status, 400, JSON.stringify(data));
        assert.equal(r.json.responseCode, 4);
        assert.equal(r.json.handle, undefined);
      }
      const r = await put('88.118.8/BAD', { nothing: [] });
      assert.equal(r.status, 400);
      assert.equal(r.json.message, 'Invalid JSON in PUT request');
    });
  });

  describe('writes and their status mapping', () => {
    test('create → 201, existing with overwrite=false → 409 RC 101, replace → 200 and the record becomes exactly what was sent', async () => {
      const values = [{ index: 1, type: 'URL', data: 'https://example.com/one' }, { index: 2, type: 'EMAIL', data: 'a@b.cn' }, USER_ADMIN_JSON];
      let r = await put('88.118.8/W1', { values }, '?overwrite=false');
      assert.equal(r.status, 201);
      assert.deepEqual(r.json, { responseCode: 1, handle: '88.118.8/W1' });
      r = await put('88.118.8/W1', { values }, '?overwrite=false');
      assert.equal(r.status, 409);
      assert.equal(r.json.responseCode, 101);
      assert.equal(r.json.handle, '88.118.8/W1');
      r = await put('88.118.8/W1', [values[0], USER_ADMIN_JSON]);
      assert.equal(r.status, 200);
      const g = await call(base, 'GET', '/api/handles/88.118.8/W1');
      assert.deepEqual(g.json.values.map((v: { index: number }) => v.index), [1, 100]);
    });

    test('PUT ?index= adds (201) or replaces (200); mismatched indexes, an empty list and overwrite=false conflicts are refused', async () => {
      await put('88.118.8/W2', { values: [{ index: 1, type: 'URL', data: 'https://example.com/w2' }, USER_ADMIN_JSON] });
      let r = await put('88.118.8/W2', { values: [{ index: 5, type: 'EMAIL', data: 'x@y.cn' }] }, '?index=5');
      assert.equal(r.status, 201);
      r = await put('88.118.8/W2', { values: [{ index: 5, type: 'EMAIL', data: 'z@y.cn' }] }, '?index=5&overwrite=true');
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { responseCode: 1, handle: '88.118.8/W2' });
      r = await put('88.118.8/W2', { values: [{ index: 5, type: 'EMAIL', data: 'q@y.cn' }] }, '?index=5&overwrite=false');
      assert.equal(r.status, 409);
      assert.equal(r.json.responseCode, 201);
      r = await put('88.118.8/W2', { values: [{ index: 6, type: 'EMAIL', data: 'q@y.cn' }] }, '?index=7');
      assert.equal(r.status, 400);
      assert.equal(r.json.message, 'Mismatched indexes in PUT request');
      r = await put('88.118.8/W2', { values: [] }, '?index=various');
      assert.equal(r.status, 400);
      assert.equal(r.json.responseCode, 202);
      r = await put('88.118.8/W2', { values: [{ index: 8, type: 'A', data: 'a' }, { index: 8, type: 'B', data: 'b' }] }, '?index=various');
      assert.equal(r.status, 409);
      assert.equal(r.json.responseCode, 201);
      r = await put('88.118.8/GONE', { values: [{ index: 9, type: 'A', data: 'a' }] }, '?index=9');
      assert.equal(r.status, 404);
      assert.equal(r.json.responseCode, 100);
      const g = await call(base, 'GET', '/api/handles/88.118.8/W2?index=5');
      assert.equal(g.json.values[0].data.value, 'z@y.cn');
    });

    test('writes are seen at once by the wire (the cache is invalidated)', async () => {
      const client = new HandleClient({ udpTimeoutsMs: [300, 600], tcpTimeoutMs: 3000 });
      try {
        await put('88.118.8/W3', { values: [{ index: 1, type: 'URL', data: 'https://example.com/v1' }, USER_ADMIN_JSON] });
        let a = await client.resolve(t.server, '88.118.8/W3', { types: ['URL'] });
        assert.equal(a.values[0]!.data.toString(), 'https://example.com/v1');
        await put('88.118.8/W3', { values: [{ index: 1, type: 'URL', data: 'https://example.com/v2' }] }, '?index=1');
        a = await client.resolve(t.server, '88.118.8/W3', { types: ['URL'] });
        assert.equal(a.values[0]!.data.toString(), 'https://example.com/v2');
      } finally {
        client.close();
      }
    });

    test('DELETE ?index= removes values (400 RC 200 for a missing index); DELETE removes the handle (then 404 RC 100)', async () => {
      await put('88.118.8/W4', { values: [{ index: 1, type: 'URL', data: 'https://example.com/w4' }, { index: 2, type: 'X', data: 'x' }, USER_ADMIN_JSON] });
      const auth = basic(`300:${USER}`, USER_SECRET);
      let r = await call(base, 'DELETE', '/api/handles/88.118.8/W4?index=2', { headers: auth });
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { responseCode: 1, handle: '88.118.8/W4' });
      r = await call(base, 'DELETE', '/api/handles/88.118.8/W4?index=2', { headers: auth });
      assert.equal(r.status, 400);
      assert.equal(r.json.responseCode, 200);
      r = await call(base, 'DELETE', '/api/handles/88.118.8/W4?index=various', { headers: auth });
      assert.equal(r.status, 400);
      assert.equal(r.json.responseCode, 4);
      r = await call(base, 'DELETE', '/api/handles/88.118.8/w4', { headers: auth });
      assert.equal(r.status, 200);
      assert.equal(r.json.handle, '88.118.8/w4');
      r = await call(base, 'DELETE', '/api/handles/88.118.8/W4', { headers: auth });
      assert.equal(r.status, 404);
      assert.deepEqual([r.json.responseCode, r.json.handle], [100, '88.118.8/W4']);
    });

    test('mintNewSuffix=true creates a handle with a random UUID suffix', async () => {
      const r = await put('88.118.8/run-', { values: [{ index: 1, type: 'URL', data: 'https://example.com/minted' }, USER_ADMIN_JSON] }, '?mintNewSuffix=true');
      assert.equal(r.status, 201);
      assert.match(r.json.handle, /^88\.118\.8\/run-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal((await call(base, 'GET', `/api/handles/${r.json.handle}`)).status, 200);
    });

    test('PUT needs application/json; a body over http.maxBodyBytes is 413; a prefix not homed is 400 RC 301', async () => {
      let r = await call(base, 'PUT', '/api/handles/88.118.8/X', { headers: { 'Content-Type': 'text/plain', ...basic(`300:${USER}`, USER_SECRET) }, body: '[]' });
      assert.equal(r.status, 400);
      assert.match(r.json.message, /Unsupported media type text\/plain/);
      r = await call(base, 'PUT', '/api/handles/88.118.8/X', { headers: JSON_HEADERS, body: 'x'.repeat(t.node.config.http.maxBodyBytes + 1) });
      assert.equal(r.status, 413);
      r = await put('99.999/X', { values: [{ index: 1, type: 'URL', data: 'https://x' }] });
      assert.equal(r.status, 400);
      assert.equal(r.json.responseCode, 301);
    });
  });

  describe('authentication', () => {
    test('no credentials on a write: 401 with RC 402 and both challenges', async () => {
      const r = await put('88.118.8/ANON', { values: [{ index: 1, type: 'URL', data: 'https://x' }] }, '', {});
      assert.equal(r.status, 401);
      assert.equal(r.json.responseCode, 402);
      assert.equal(r.json.handle, '88.118.8/ANON');
      const www = ([] as string[]).concat(r.headers['www-authenticate'] as string | string[]);
      assert.ok(www.includes('Basic realm="handle"'));
      assert.ok(www.some((h) => /^Handle sessionId="[^"]+", nonce="[^"]+"$/.test(h)));
      assert.equal(t.node.registry!.exists('88.118.8/ANON'), false);
    });

    test('a wrong password or an unknown identity: 401, empty body, error in the challenge', async () => {
      for (const h of [basic(`300:${USER}`, 'wrong'), basic(`300:88.118.8/NOSUCH`, 'x'), basic(`301:${USER}`, USER_SECRET), { Authorization: 'Basic !!!' }, { Authorization: 'Bogus x' }]) {
        const r = await put('88.118.8/BADPW', { values: [{ index: 1, type: 'URL', data: 'https://x' }] }, '', h);
        assert.equal(r.status, 401, JSON.stringify(h));
        assert.equal(r.text, '');
        assert.ok(([] as string[]).concat(r.headers['www-authenticate'] as string).some((x) => x.includes('error=')));
      }
      assert.equal(t.node.registry!.exists('88.118.8/BADPW'), false);
    });

    test('index 0 in Basic tries every HS_SECKEY of the identity', async () => {
      const r = await put('88.118.8/IDX0', { values: [{ index: 1, type: 'URL', data: 'https://x' }, USER_ADMIN_JSON] }, '', basic(USER, USER_SECRET));
      assert.equal(r.status, 201);
    });

    test('authenticated but not an administrator: 403 RC 400 with the handle', async () => {
      const r = await put('88.118.8/NOTYOURS', { values: [{ index: 1, type: 'URL', data: 'https://x' }] }, '', basic(`300:${NOBODY}`, NOBODY_SECRET));
      assert.equal(r.status, 403);
      assert.equal(r.json.responseCode, 400);
      assert.equal(r.json.handle, '88.118.8/NOTYOURS');
      const d = await call(base, 'DELETE', '/api/handles/88.118.8/ABC123', { headers: basic(`300:${NOBODY}`, NOBODY_SECRET) });
      assert.equal(d.status, 403);
      assert.ok(t.node.registry!.exists('88.118.8/ABC123'));
    });

    test('non-public values: hidden from anonymous reads, 401 RC 402 when asked for, 403 for a non-admin, shown to an admin', async () => {
      let r = await call(base, 'GET', '/api/handles/88.118.8/SECRET');
      assert.deepEqual(r.json, { responseCode: 200, values: [], handle: '88.118.8/SECRET' });
      r = await call(base, 'GET', '/api/handles/88.118.8/ABC123?publicOnly=false');
      assert.equal(r.status, 401);
      assert.equal(r.json.responseCode, 402);
      r = await call(base, 'GET', '/api/handles/88.118.8/ABC123', { headers: basic(`300:${NOBODY}`, NOBODY_SECRET) });
      assert.equal(r.status, 403);
      assert.equal(r.json.responseCode, 400);
      r = await call(base, 'GET', '/api/handles/88.118.8/ABC123?publicOnly=true', { headers: basic(`300:${NOBODY}`, NOBODY_SECRET) });
      assert.equal(r.status, 200);
      assert.equal(r.json.values.length, 5);
      // USER01 is a server-wide administrator of nothing, but a READ_VALUE admin of handles naming it.
      r = await call(base, 'GET', '/api/handles/88.118.8/FORMATS?index=7', { headers: basic(`300:${USER}`, USER_SECRET) });
      assert.equal(r.json.values[0].data.value, 'admins');
      const anon = await call(base, 'GET', '/api/handles/88.118.8/FORMATS?index=7');
      assert.equal(anon.json.responseCode, 200);
    });

    test('the Handle scheme with HS_SECKEY (HMAC-SHA256 and PBKDF2), then the session alone', async () => {
      const first = await put('88.118.8/HS1', { values: [] }, '', {});
      const challenge = ([] as string[]).concat(first.headers['www-authenticate'] as string).find((h) => h.startsWith('Handle'))!;
      const sessionId = /sessionId="([^"]+)"/.exec(challenge)![1]!;
      const nonce = Buffer.from(/nonce="([^"]+)"/.exec(challenge)![1]!, 'base64');
      const cnonce = randomBytes(16);
      const mac = createHmac('sha256', USER_SECRET).update(Buffer.concat([nonce, cnonce])).digest('base64');
      const header = `Handle sessionId="${sessionId}", id="300%3A${USER}", type="HS_SECKEY", cnonce="${cnonce.toString('base64')}", alg="HMAC-SHA256", signature="${mac}"`;
      let r = await put('88.118.8/HS1', { values: [{ index: 1, type: 'URL', data: 'https://x' }, USER_ADMIN_JSON] }, '', { Authorization: header });
      assert.equal(r.status, 201, r.text);
      r = await call(base, 'DELETE', '/api/handles/88.118.8/HS1', { headers: { Authorization: `Handle sessionId="${sessionId}"` } });
      assert.equal(r.status, 200);
      // A wrong MAC fails with 401 and an empty body; an unknown session too.
      const bad = header.replace(/signature="[^"]+"/, 'signature="AAAA"').replace(/cnonce="[^"]+"/, `cnonce="${randomBytes(16).toString('base64')}"`);
      r = await put('88.118.8/HS2', { values: [{ index: 1, type: 'URL', data: 'https://x' }] }, '', { Authorization: bad });
      assert.equal(r.status, 401);
      assert.equal(r.text, '');
      r = await call(base, 'DELETE', '/api/handles/88.118.8/W1', { headers: { Authorization: 'Handle sessionId="no-such-session"' } });
      assert.equal(r.status, 401);

      // PBKDF2-HMAC-SHA1 on a session from POST /api/sessions.
      const s = await call(base, 'POST', '/api/sessions');
      assert.equal(s.status, 201);
      const n2 = Buffer.from(s.json.nonce, 'base64');
      const salt = randomBytes(16);
      const dk = pbkdf2Sync(USER_SECRET, salt, 1000, 20, 'sha1');
      const c2 = randomBytes(16);
      const mac2 = createHmac('sha1', dk).update(Buffer.concat([n2, c2])).digest('base64');
      r = await put('88.118.8/HS3', { values: [{ index: 1, type: 'URL', data: 'https://x' }, USER_ADMIN_JSON] }, '', {
        Authorization: `Handle sessionId="${s.json.sessionId}", id="300:${USER}", type="HS_SECKEY", cnonce="${c2.toString('base64')}", alg="PBKDF2-HMAC-SHA1", salt="${salt.toString('base64')}", iterations="1000", length="160", signature="${mac2}"`,
      });
      assert.equal(r.status, 201, r.text);
      const info = await call(base, 'GET', '/api/sessions/this', { headers: { Authorization: `Handle sessionId="${s.json.sessionId}"` } });
      assert.deepEqual({ authenticated: info.json.authenticated, id: info.json.id }, { authenticated: true, id: `300:${USER}` });
      const end = await call(base, 'DELETE', '/api/sessions/this', { headers: { Authorization: `Handle sessionId="${s.json.sessionId}"` } });
      assert.equal(end.status, 204);
    });

    test('the Handle scheme with HS_PUBKEY: the prefix administrator signs nonce ‖ cnonce with its RSA key', async () => {
      const key = createPrivateKey(readFileSync(path.join(t.dir, 'keys', 'admin-88.118.8.key.pem'), 'utf8'));
      const s = await call(base, 'POST', '/api/sessions');
      const cnonce = randomBytes(16);
      const sig = createSign('sha256').update(Buffer.concat([Buffer.from(s.json.nonce, 'base64'), cnonce])).sign(key).toString('base64');
      const r = await call(base, 'GET', '/api/handles/88.118.8/SECRET', {
        headers: { Authorization: `Handle sessionId="${s.json.sessionId}", id="300:0.NA/88.118.8", type="HS_PUBKEY", cnonce="${cnonce.toString('base64')}", alg="SHA256", signature="${sig}"` },
      });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.values[0].data.value, 'admins only');
    });

    test('credentials from a peer the plainHttpAuth policy does not trust are ignored, and a 401 is sent as 403', async () => {
      const strict = await startTestNode({ patch: (c) => ((c.http as Record<string, unknown>).plainHttpAuth = 'never') });
      try {
        const r = await call(baseOf(strict.node), 'PUT', '/api/handles/88.118.8/P1', {
          headers: { ...JSON_HEADERS, ...basic(`300:${USER}`, USER_SECRET) },
          body: JSON.stringify({ values: [{ index: 1, type: 'URL', data: 'https://x' }] }),
        });
        assert.equal(r.status, 403);
        assert.equal(r.json.responseCode, 402);
        assert.equal(r.headers['www-authenticate'], undefined);
      } finally {
        await strict.stop();
      }
    });
  });

  describe('listing', () => {
    test('needs LIST_HANDLES: 401 RC 402 anonymously, 403 for a non-admin', async () => {
      let r = await call(base, 'GET', '/api/handles?prefix=88.118.8');
      assert.equal(r.status, 401);
      assert.equal(r.json.responseCode, 402);
      r = await call(base, 'GET', '/api/handles?prefix=88.118.8', { headers: basic(`300:${NOBODY}`, NOBODY_SECRET) });
      assert.equal(r.status, 403);
      assert.equal(r.json.responseCode, 400);
      r = await call(base, 'GET', '/api/handles?prefix=99.999', { headers: basic(`300:${USER}`, USER_SECRET) });
      assert.equal(r.status, 400);
      assert.equal(r.json.responseCode, 301);
    });

    test('pages: page and pageSize both given and ≥ 0, totalCount a string counting everything', async () => {
      const auth = basic(`300:${USER}`, USER_SECRET);
      const all = await call(base, 'GET', '/api/handles?prefix=0.NA/88.118.8', { headers: auth });
      assert.equal(all.status, 200, all.text);
      assert.equal(all.json.prefix, '0.NA/88.118.8');
      const handles: string[] = all.json.handles;
      assert.equal(all.json.totalCount, String(handles.length));
      assert.ok(handles.includes('88.118.8/ABC123') && handles.includes(USER));
      assert.equal(all.json.page, undefined);
      const pages: string[] = [];
      for (let page = 0; page < 100; page++) {
        const r = await call(base, 'GET', `/api/handles?prefix=88.118.8&page=${page}&pageSize=3`, { headers: auth });
        assert.equal(r.json.page, page);
        assert.equal(r.json.pageSize, 3);
        assert.equal(r.json.totalCount, String(handles.length));
        if (r.json.handles.length === 0) break;
        pages.push(...r.json.handles);
      }
      assert.deepEqual(pages, handles);
      const counted = await call(base, 'GET', '/api/handles?prefix=88.118.8&page=0&pageSize=0', { headers: auth });
      assert.deepEqual(counted.json.handles, []);
      const bad = await call(base, 'GET', '/api/handles?prefix=88.118.8&page=x&pageSize=2', { headers: auth });
      assert.equal(bad.status, 400);
      assert.equal(bad.json.responseCode, 4);
    });
  });

  describe('the rest of the API', () => {
    test('GET /api/site is this node\'s site; unknown endpoints 404 RC 4; unknown methods 501; OPTIONS lists the methods', async () => {
      const s = await call(base, 'GET', '/api/site');
      assert.equal(s.json.responseCode, 1);
      assert.equal(s.json.site.servers[0].interfaces[0].port, t.node.port);
      const u = await call(base, 'GET', '/api/nothing');
      assert.equal(u.status, 404);
      assert.deepEqual(u.json, { responseCode: 4, message: 'Unknown HTTP API endpoint GET /api/nothing' });
      const m = await call(base, 'PATCH', '/api/handles/88.118.8/ABC123');
      assert.equal(m.status, 501);
      assert.equal(m.json.message, 'Unknown method PATCH');
      const o = await call(base, 'OPTIONS', '/api/handles/88.118.8/ABC123');
      assert.equal(o.status, 200);
      assert.match(String(o.headers.allow), /PUT, DELETE/);
    });

    test('CORS: the origin echoed, preflights answered without running the endpoint', async () => {
      const r = await call(base, 'GET', '/api/handles/88.118.8/ABC123', { headers: { Origin: 'https://app.example' } });
      assert.equal(r.headers['access-control-allow-origin'], 'https://app.example');
      assert.match(String(r.headers['access-control-expose-headers']), /Content-Length/);
      assert.equal(r.headers['access-control-allow-credentials'], undefined);
      const p = await call(base, 'OPTIONS', '/api/handles/88.118.8/ABC123', {
        headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'authorization, content-type' },
      });
      assert.equal(p.status, 200);
      assert.equal(p.text, '');
      assert.equal(p.headers['access-control-allow-methods'], 'GET,POST,HEAD,PUT,DELETE');
      assert.equal(p.headers['access-control-max-age'], '86400');
      const no = await call(base, 'OPTIONS', '/api/handles/x', { headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'PATCH' } });
      assert.equal(no.headers['access-control-allow-origin'], undefined);
    });

    test('a resolver answers reads and refuses writes with RC 301', async () => {
      // Writes go to the node that homes the prefix; a node without it says so, as over the wire.
      const r = await call(base, 'PUT', '/api/handles/77.1/X', { headers: { ...JSON_HEADERS, ...basic(`300:${USER}`, USER_SECRET) }, body: '[]' });
      assert.equal(r.status, 400);
      assert.equal(r.json.responseCode, ResponseCode.SERVER_NOT_RESP);
    });
  });
});

