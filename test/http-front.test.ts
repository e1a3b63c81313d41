// The redirect front over real HTTP: 302 to the identifier's URL, a page of its public values without one
// (or with ?noredirect), everything in the page escaped, only http(s) redirected to, and 404 pages.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeValue, Perm } from '../src/model/value.js';
import { escapeHtml, webUrl } from '../src/http/redirect.js';
import { startTestNode, type TestNode } from './helpers/node.js';
import { baseOf, call } from './helpers/http.js';

describe('the redirect front of a business node', () => {
  let t: TestNode;
  let base: string;

  before(async () => {
    t = await startTestNode();
    base = baseOf(t.node);
    const r = t.node.registry!;
    r.create('88.118.8/ABC123', [
      makeValue(1, 'URL', 'https://trace.example.cn/p/abc123?src=qr&x=1'),
      makeValue(2, 'productName', '智能水泵 XB200'),
      makeValue(9, 'internal.cost', '812.00 CNY', { permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE }),
    ]);
    r.create('88.118.8/NOURL', [makeValue(1, 'desc', '<script>alert("x")</script> & more'), makeValue(2, 'blob', Buffer.from([0, 1, 2]))]);
    r.create('88.118.8/EVIL', [makeValue(1, 'URL', 'javascript:alert(1)'), makeValue(2, 'URL', 'https://ok.example/"><b>')]);
    r.create('88.118.8/BADURL', [makeValue(1, 'URL', 'javascript:alert(1)')]);
    r.create('88.118.8/HIDDEN', [makeValue(1, 'URL', 'https://secret.example/', { permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE })]);
    t.node.noticeWrites();
  });
  after(async () => {
    await t.stop();
  });

  test('GET /PREFIX/SUFFIX answers 302 to the URL value, whatever the case of the suffix', async () => {
    for (const path of ['/88.118.8/ABC123', '/88.118.8/abc123', '/hdl:88.118.8/ABC123']) {
      const r = await call(base, 'GET', path);
      assert.equal(r.status, 302, path);
      assert.equal(r.headers.location, 'https://trace.example.cn/p/abc123?src=qr&x=1');
    }
  });

  test('?noredirect gives the page of public values; private values are not on it', async () => {
    const r = await call(base, 'GET', '/88.118.8/ABC123?noredirect');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/html;charset=UTF-8/);
    assert.match(r.text, /<h1><code>88\.118\.8\/ABC123<\/code><\/h1>/);
    assert.match(r.text, /智能水泵 XB200/);
    assert.match(r.text, /<a href="https:\/\/trace\.example\.cn\/p\/abc123\?src=qr&amp;x=1"/);
    assert.doesNotMatch(r.text, /812\.00/);
  });

  test('without a URL: the page, with every value escaped', async () => {
    const r = await call(base, 'GET', '/88.118.8/NOURL');
    assert.equal(r.status, 200);
    assert.doesNotMatch(r.text, /<script>/);
    assert.match(r.text, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; &amp; more/);
    assert.match(r.text, /AAEC/); // binary data shown as its base64
  });

  test('only http(s) URLs are redirected to or linked', async () => {
    let r = await call(base, 'GET', '/88.118.8/EVIL');
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, 'https://ok.example/%22%3E%3Cb%3E');
    r = await call(base, 'GET', '/88.118.8/BADURL');
    assert.equal(r.status, 200);
    assert.doesNotMatch(r.text, /href="javascript/);
    assert.match(r.text, /javascript:alert\(1\)/);
  });

  test('an identifier whose URL is not public gets the page without it, never the redirect', async () => {
    const r = await call(base, 'GET', '/88.118.8/HIDDEN');
    assert.equal(r.status, 200);
    assert.doesNotMatch(r.text, /secret\.example/);
    assert.match(r.text, /no public values/);
  });

  test('404 pages: unknown identifier, prefix not served here, not an identifier at all', async () => {
    for (const [path, why] of [
      ['/88.118.8/NOPE', /is not registered/],
      ['/99.1/X', /is not served by this node/],
      ['/just-a-word', /is not an identifier/],
      ['/88.118.8%2F%3Cscript%3E', /is not registered/],
    ] as const) {
      const r = await call(base, 'GET', path);
      assert.equal(r.status, 404, path);
      assert.match(r.text, why);
      assert.doesNotMatch(r.text, /<script>/);
    }
    const bad = await call(base, 'GET', '/%E0%A4%A');
    assert.equal(bad.status, 400);
    const post = await call(base, 'POST', '/88.118.8/ABC123');
    assert.equal(post.status, 405);
  });

  test('escapeHtml and webUrl', () => {
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    assert.equal(webUrl(' https://a.example/x '), 'https://a.example/x');
    assert.equal(webUrl('data:text/html,hi'), undefined);
    assert.equal(webUrl('/relative'), undefined);
  });
});

describe('a node with the redirect front off', () => {
  test('answers 404 for identifier paths and still serves the API', async () => {
    const t = await startTestNode({ patch: (c) => ((c.http as Record<string, unknown>).redirectFront = false) });
    try {
      t.node.registry!.create('88.118.8/X', [makeValue(1, 'URL', 'https://example.com/x')]);
      t.node.noticeWrites();
      const base = baseOf(t.node);
      assert.equal((await call(base, 'GET', '/88.118.8/X')).status, 404);
      assert.equal((await call(base, 'GET', '/api/handles/88.118.8/X')).status, 200);
    } finally {
      await t.stop();
    }
  });
});
