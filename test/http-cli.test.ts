// The CLI against a remote node's HTTP API (--api): register, update, list, delete and import through the
// real idres command, authenticated with Basic (--secret) or a Handle session (--key), and refused cleanly.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { cli, startTestNode, type TestNode } from './helpers/node.js';
import { USER, USER_SECRET, NOBODY, NOBODY_SECRET, addIdentities, baseOf, call } from './helpers/http.js';
import { repoRoot } from './helpers/paths.js';

describe('idres … --api URL', () => {
  let t: TestNode;
  let api: string;
  const asUser = () => ['--api', api, '--auth', `300:${USER}`, '--secret', USER_SECRET];
  const asNobody = () => ['--api', api, '--auth', `300:${NOBODY}`, '--secret', NOBODY_SECRET];
  // The prefix administrator (a server administrator, as the prefix's is by default).
  const asPrefixAdmin = () => ['--api', api, '--auth', '0.NA/88.118.8:300', '--key', path.join(t.dir, 'keys', 'admin-88.118.8.key.pem')];

  before(async () => {
    t = await startTestNode();
    api = baseOf(t.node);
    addIdentities(t.node);
  });
  after(async () => {
    await t.stop();
  });

  test('register, update, list and delete through the HTTP API, with a secret and with a key', async () => {
    let r = await cli(['register', '88.118.8/CLI-1', ...asUser(), '--value', 'URL=https://example.com/cli-1', '--private', 'cost=9']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`registered 88\\.118\\.8/CLI-1 on ${api.replace(/\./g, '\\.')}`));
    let g = await call(api, 'GET', '/api/handles/88.118.8/CLI-1');
    assert.deepEqual(g.json.values.map((v: { type: string }) => v.type), ['URL', 'HS_ADMIN']);
    assert.equal(t.node.registry!.get('88.118.8/CLI-1')!.values.find((v) => v.type === 'cost')!.data.toString(), '9');

    // An existing identifier is not replaced without --overwrite.
    r = await cli(['register', '88.118.8/CLI-1', ...asUser(), '--value', 'URL=https://example.com/other']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /HANDLE_ALREADY_EXISTS/);

    // `register --api` names its --auth identity in the default HS_ADMIN: USER may change what it registered, NOBODY not.
    assert.match(g.json.values[1].data.value.handle, /USER01/);
    r = await cli(['update', '88.118.8/CLI-1', ...asNobody(), '--value', '1:URL=https://example.com/mine']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /INVALID_ADMIN/);
    r = await cli(['update', '88.118.8/CLI-1', ...asUser(), '--value', '9:NOTE=mine']);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(['update', '88.118.8/CLI-1', ...asPrefixAdmin(), '--value', '1:URL=https://example.com/cli-1b', '--value', '7:EMAIL=a@b.cn', '--remove', '2']);
    assert.equal(r.code, 0, r.stderr);
    g = await call(api, 'GET', '/api/handles/88.118.8/CLI-1');
    assert.deepEqual(
      g.json.values.map((v: { index: number; data: { value: unknown } }) => [v.index, v.data.value]).filter(([i]: [number]) => i !== 100),
      [[1, 'https://example.com/cli-1b'], [7, 'a@b.cn'], [9, 'mine']],
    );

    r = await cli(['list', '88.118.8', ...asUser()]);
    assert.equal(r.code, 0, r.stderr);
    const listed = r.stdout.trim().split('\n');
    assert.ok(listed.includes('88.118.8/CLI-1') && listed.includes(USER), r.stdout);

    r = await cli(['delete', '88.118.8/CLI-1', ...asPrefixAdmin()]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await call(api, 'GET', '/api/handles/88.118.8/CLI-1')).status, 404);
  });

  test('with --key the CLI opens a Handle session and signs (HS_PUBKEY)', async () => {
    const key = path.join(t.dir, 'keys', 'admin-88.118.8.key.pem');
    const r = await cli(['register', '88.118.8/CLI-KEY', '--api', api, '--auth', '0.NA/88.118.8:300', '--key', key, '--value', 'URL=https://example.com/k']);
    assert.equal(r.code, 0, r.stderr);
    const l = await cli(['list', '88.118.8', '--api', api, '--auth', '0.NA/88.118.8:300', '--key', key]);
    assert.equal(l.code, 0, l.stderr);
    assert.match(l.stdout, /88\.118\.8\/CLI-KEY/);
  });

  test('refusals are one clear line and exit 2: wrong secret, not an admin, no credentials, a bad URL', async () => {
    let r = await cli(['register', '88.118.8/CLI-2', '--api', api, '--auth', `300:${USER}`, '--secret', 'wrong', '--value', 'URL=https://x.example']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /credentials were not accepted/);
    r = await cli(['register', '88.118.8/CLI-2', '--api', api, '--auth', `300:${NOBODY}`, '--secret', NOBODY_SECRET, '--value', 'URL=https://x.example']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /INVALID_ADMIN \(400\)/);
    r = await cli(['delete', '88.118.8/CLI-2', '--api', api]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /AUTHENTICATION_NEEDED \(402\)/);
    r = await cli(['list', '88.118.8', '--api', 'ftp://nowhere', '--auth', `300:${USER}`, '--secret', USER_SECRET]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not an http\(s\) URL/);
    r = await cli(['list', '88.118.8', '--api', api, '--server', '127.0.0.1:1', '--auth', `300:${USER}`, '--secret', USER_SECRET]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not both/);
    assert.equal(t.node.registry!.exists('88.118.8/CLI-2'), false);
  });

  test('import --api sends every row, keeps what exists without --update, reports bad rows', async () => {
    const file = path.join(repoRoot, 'fixtures', 'import-example.csv');
    let r = await cli(['import', file, ...asUser()]);
    assert.equal(r.code, 0, r.stderr);
    const m = /(\d+) rows, (\d+) created, (\d+) already registered/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.ok(Number(m[2]) > 0);
    assert.equal(t.node.registry!.exists('88.118.8/CNC-CK6150-0000001'), true);
    const g = await call(api, 'GET', '/api/handles/88.118.8/CNC-CK6150-0000001?type=URL');
    assert.equal(g.json.values[0].data.value, 'https://trace.example-factory.cn/p/cnc-ck6150-0000001');

    r = await cli(['import', file, ...asUser()]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`0 created, ${m[2]} already registered`));

    const nd = path.join(t.dir, 'rows.ndjson');
    writeFileSync(nd, [
      JSON.stringify({ handle: '88.118.8/ND-1', values: [{ type: 'URL', data: 'https://example.com/nd-1' }] }),
      '{"handle": "88.118.8/ND-2", "values": [{"type": "X", "data": {"format": "hex", "value": "zz"}}]}',
      JSON.stringify({ handle: '77.1/ELSEWHERE', values: [{ type: 'URL', data: 'https://example.com/x' }] }),
    ].join('\n') + '\n');
    r = await cli(['import', nd, ...asUser()]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /3 rows, 1 created, 0 already registered \(kept; --update replaces them\), 1 bad, 1 refused/);
    assert.match(r.stderr, /line 2 \(88\.118\.8\/ND-2\).*hex/);
    assert.match(r.stderr, /line 3 \(77\.1\/ELSEWHERE\).*SERVER_NOT_RESP/);
  });
});
