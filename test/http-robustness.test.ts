// Bad input over HTTP: junk paths, queries, headers and bodies get a 4xx (JSON under /api), never a 500, a
// hang or a crash, and the node keeps answering others; oversized and slow requests are cut off.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tcpText } from './helpers/raw.js';
import fc from 'fast-check';
import { makeValue } from '../src/model/value.js';
import { startTestNode, type TestNode } from './helpers/node.js';
import { baseOf, call } from './helpers/http.js';

describe('the HTTP face under bad input', () => {
  let t: TestNode;
  let base: string;

  before(async () => {
    t = await startTestNode({ patch: (c) => Object.assign(c.http as Record<string, unknown>, { maxBodyBytes: 4096, requestTimeoutMs: 1000 }) });
    base = baseOf(t.node);
    t.node.registry!.create('88.118.8/OK', [makeValue(1, 'URL', 'https://example.com/ok')]);
    t.node.noticeWrites();
  });
  after(async () => {
    await t.stop();
  });

  test('random paths, queries, methods and bodies never get a 5xx, and /api answers are JSON with a responseCode', async () => {
    const seg = fc.string({ unit: fc.constantFrom('a', 'Z', '0', '.', '/', '%', '%2F', '%zz', '%E0%A4', '+', '?', '&', '=', ';', '~', '中', '"', '<'), maxLength: 24 });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'),
        fc.constantFrom('/api/handles/', '/api/handles', '/api/', '/api/sessions/', '/', '/88.118.8/', '/api/site'),
        seg,
        fc.array(fc.tuple(fc.constantFrom('index', 'type', 'prefix', 'page', 'pageSize', 'overwrite', 'publicOnly', 'mintNewSuffix'), seg), { maxLength: 4 }),
        fc.option(fc.oneof(fc.string({ maxLength: 64 }), fc.json({ maxDepth: 3 })), { nil: undefined }),
        fc.constantFrom(undefined, 'Basic Zm9vOmJhcg==', 'Basic', 'Handle sessionId="x"', 'Handle id="1:a/b", type="HS_SECKEY"', 'Handle ,,,', 'Bearer z'),
        async (method, prefix, rest, params, body, authorization) => {
          const q = params.map(([k, v]) => `${k}=${v}`).join('&');
          const path = encodeURI(prefix + rest).replace(/%25/g, '%') + (q ? `?${encodeURI(q)}` : '');
          const headers: Record<string, string> = { 'Content-Type': 'application/json' };
          if (authorization) headers.Authorization = authorization;
          let r;
          try {
            r = await call(base, method, path, { headers, ...(body !== undefined && method !== 'GET' && method !== 'HEAD' ? { body } : {}) });
          } catch (err) {
            // undici refuses some paths before sending them; that is the client, not the server.
            if ((err as { code?: string }).code === 'UND_ERR_INVALID_ARG') return;
            throw err;
          }
          assert.ok(r.status < 500 || r.status === 501 || r.status === 502, `${method} ${path} → ${r.status} ${r.text}`);
          if (path.startsWith('/api/handles') && method !== 'HEAD' && r.status !== 401 && r.status !== 204 && method !== 'OPTIONS' && r.text !== '') {
            assert.equal(typeof r.json?.responseCode, 'number', `${method} ${path} → ${r.text}`);
          }
        },
      ),
      { numRuns: 300, seed: 20261201 },
    );
    assert.equal((await call(base, 'GET', '/api/handles/88.118.8/OK')).status, 200);
    assert.equal(t.node.http!.server.internalErrors, 0);
  });

  test('a chunked body over the limit is cut off with 413; a Content-Length over it is refused unread', async () => {
    const big = Buffer.alloc(8192, 0x61);
    const r = await call(base, 'PUT', '/api/handles/88.118.8/BIG', {
      headers: { 'Content-Type': 'application/json' },
      body: (async function* () {
        for (let i = 0; i < 4; i++) yield big.subarray(i * 2048, (i + 1) * 2048);
      })() as unknown as Buffer,
    });
    assert.equal(r.status, 413);
    const raw = await rawExchange(base, 'PUT /api/handles/88.118.8/BIG HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n');
    assert.match(raw, /^HTTP\/1\.1 413 /);
  });

  test('a malformed request line gets 400 and a slow client is cut off; others are answered meanwhile', async () => {
    const bad = await rawExchange(base, 'GARBAGE\r\n\r\n');
    assert.match(bad, /^HTTP\/1\.1 400 /);
    // Headers that never finish: the connection is closed after requestTimeoutMs (1 s here), bounded wait.
    const started = Date.now();
    const slow = rawExchange(base, 'GET /api/handles/88.118.8/OK HTTP/1.1\r\nHost: x\r\n', 10000);
    assert.equal((await call(base, 'GET', '/api/handles/88.118.8/OK')).status, 200);
    await slow;
    assert.ok(Date.now() - started < 9000, 'the slow connection was not closed by the server');
  });
});

/** Write raw bytes to the HTTP port, read until the server closes (or the time runs out). */
function rawExchange(base: string, text: string, timeoutMs = 5000): Promise<string> {
  return tcpText(Number(new URL(base).port), text, { timeoutMs, until: (out) => /\r\n\r\n/.test(out) && /Connection: close/i.test(out) });
}
