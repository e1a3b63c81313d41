// The operator's CLI against real nodes: `idres admin grant|revoke|list` changes what an identity may do over
// the wire (AdminClient) and over HTTP (HttpApiClient); a handle created without an HS_ADMIN is its creator's;
// a prefix handle registered at its parent's node is the parent prefix administrator's; the readable value
// forms and the JSON forms round-trip through the real command; `idres status` in text and JSON.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AdminClient } from '../src/client/admin-client.js';
import { rcOf } from './helpers/admin.js';
import { HandleClient } from '../src/client/handle-client.js';
import { HttpApiClient } from '../src/client/http-api-client.js';
import { ALL_ADMIN_PERMISSIONS, AdminPerm } from '../src/model/admin.js';
import { type HandleValue, makeValue } from '../src/model/value.js';
import { decodeAdmin, encodeAdmin } from '../src/protocol/admin-data.js';
import { ResponseCode } from '../src/protocol/constants.js';
import { readPrivateKey } from '../src/protocol/keyfile.js';
import { cli, startTestNode, type TestNode } from './helpers/node.js';
import { baseOf } from './helpers/http.js';

const PREFIX = '88.118.8';


/** Write a node folder's configured HTTP port (a node started on a free port reads its file only at start). */
function withHttpPort(dir: string, port: number): { restore: () => void } {
  const file = path.join(dir, 'idres.json');
  const before = readFileSync(file, 'utf8');
  const c = JSON.parse(before) as { http?: Record<string, unknown> };
  c.http = { ...(c.http ?? {}), port };
  writeFileSync(file, JSON.stringify(c));
  return { restore: () => writeFileSync(file, before) };
}

function adminsOf(values: readonly HandleValue[] | undefined): Array<{ index: number; who: string; permissions: number }> {
  return (values ?? [])
    .filter((v) => v.type === 'HS_ADMIN')
    .map((v) => {
      const a = decodeAdmin(v.data);
      return { index: v.index, who: `${a.index}:${a.handle}`, permissions: a.permissions };
    });
}

describe('idres admin grant/revoke/list and the creation defaults, on a running node', () => {
  let t: TestNode;
  let api: string;
  let client: HandleClient;
  let wire: string[];
  let http: string[];

  /** An identity: 88.118.8/NAME with an RSA key (made by `idres keys generate`) at 300, registered locally. */
  async function identity(name: string): Promise<{ handle: string; keyFile: string; wire: AdminClient; http: HttpApiClient; close: () => Promise<void> }> {
    const keyFile = path.join(path.dirname(t.dir), `${name}.key.pem`);
    let r = await cli(['keys', 'generate', '--pem', '--out', keyFile]);
    assert.equal(r.code, 0, r.stderr);
    const handle = `${PREFIX}/${name}`;
    r = await cli(['register', handle, '--dir', t.dir, '--value', `300:HS_PUBKEY=@${keyFile}.pub.bin`]);
    assert.equal(r.code, 0, r.stderr);
    const key = readPrivateKey(readFileSync(keyFile));
    const h = new HttpApiClient(api, { handle, index: 300, key });
    return { handle, keyFile, wire: new AdminClient(client, t.server, { handle, index: 300, key }), http: h, close: () => h.close() };
  }

  before(async () => {
    t = await startTestNode({ prefixes: [PREFIX] });
    api = baseOf(t.node);
    client = new HandleClient({ udpTimeoutsMs: [300], tcpTimeoutMs: 5000 });
    const key = path.join(t.dir, 'keys', `admin-${PREFIX}.key.pem`);
    wire = ['--server', `127.0.0.1:${t.server.port}`, '--auth', `300:0.NA/${PREFIX}`, '--key', key];
    http = ['--api', api, '--auth', `300:0.NA/${PREFIX}`, '--key', key];
  });
  after(async () => {
    client.close();
    await t.stop();
  });

  test('over the wire: a grant lets the identity create and list under the prefix, what it creates is its own, a revoke takes it back', async () => {
    const op = await identity('WIRE-OP');
    try {
      assert.equal(await rcOf(op.wire.create(`${PREFIX}/W-1`, [makeValue(1, 'URL', 'https://example.cn/w1')])), ResponseCode.INVALID_ADMIN);
      assert.equal(await rcOf(op.wire.list(PREFIX)), ResponseCode.INVALID_ADMIN);
      // Nobody may make themselves an administrator: the node checks ADD_ADMIN of whoever asks.
      let r = await cli(['admin', 'grant', PREFIX, '--to', `300:${op.handle}`, '--perms', 'all', '--server', `127.0.0.1:${t.server.port}`, '--auth', `300:${op.handle}`, '--key', op.keyFile]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /400 INVALID_ADMIN/);

      r = await cli(['admin', 'grant', PREFIX, '--to', `300:${op.handle}`, '--perms', 'add-handle,list-handles', ...wire]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /granted 300:88\.118\.8\/WIRE-OP on 0\.NA\/88\.118\.8 on 127\.0\.0\.1:\d+: add-handle,list-handles \(HS_ADMIN at index 101\)/);
      assert.deepEqual(adminsOf(t.node.registry!.getValues(`0.NA/${PREFIX}`)).find((a) => a.index === 101), {
        index: 101,
        who: `300:${op.handle}`,
        permissions: AdminPerm.ADD_HANDLE | AdminPerm.LIST_HANDLES,
      });

      assert.equal(await op.wire.create(`${PREFIX}/W-1`, [makeValue(1, 'URL', 'https://example.cn/w1')]), `${PREFIX}/W-1`);
      assert.ok((await op.wire.list(PREFIX)).includes(`${PREFIX}/W-1`));
      // Created without an HS_ADMIN: the creator administers it, with every permission, and so may change it.
      assert.deepEqual(adminsOf(t.node.registry!.getValues(`${PREFIX}/W-1`)), [{ index: 100, who: `300:${op.handle}`, permissions: ALL_ADMIN_PERMISSIONS }]);
      await op.wire.add(`${PREFIX}/W-1`, [makeValue(2, 'EMAIL', 'op@example.cn')]);
      await op.wire.modify(`${PREFIX}/W-1`, [makeValue(1, 'URL', 'https://example.cn/w1b')]);
      // A create that brings its own HS_ADMIN keeps it.
      const own = makeValue(100, 'HS_ADMIN', encodeAdmin({ handle: `0.NA/${PREFIX}`, index: 300, permissions: ALL_ADMIN_PERMISSIONS }));
      await op.wire.create(`${PREFIX}/W-2`, [makeValue(1, 'URL', 'https://example.cn/w2'), own]);
      assert.deepEqual(adminsOf(t.node.registry!.getValues(`${PREFIX}/W-2`)).map((a) => a.who), [`300:0.NA/${PREFIX}`]);
      assert.equal(await rcOf(op.wire.add(`${PREFIX}/W-2`, [makeValue(2, 'EMAIL', 'x@example.cn')])), ResponseCode.INVALID_ADMIN);

      // Granting again changes the permissions of the same HS_ADMIN value.
      r = await cli(['admin', 'grant', PREFIX, '--to', `300:${op.handle}`, '--perms', 'add-handle', ...wire]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /changed .* add-handle \(was add-handle,list-handles\) \(HS_ADMIN at index 101\)/);
      assert.equal(await rcOf(op.wire.list(PREFIX)), ResponseCode.INVALID_ADMIN);

      r = await cli(['admin', 'revoke', PREFIX, '--from', `300:${op.handle}`, ...wire]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /revoked 300:88\.118\.8\/WIRE-OP on 0\.NA\/88\.118\.8 on 127\.0\.0\.1:\d+ \(HS_ADMIN at index 101\)/);
      assert.equal(await rcOf(op.wire.create(`${PREFIX}/W-3`, [makeValue(1, 'URL', 'https://example.cn/w3')])), ResponseCode.INVALID_ADMIN);
      assert.equal(t.node.registry!.exists(`${PREFIX}/W-3`), false);
      // What it created stays its own.
      await op.wire.add(`${PREFIX}/W-1`, [makeValue(3, 'NOTE', 'still mine')]);
    } finally {
      await op.close();
    }
  });

  test('over HTTP: the same grant and revoke through --api change what the identity may do through the JSON API', async () => {
    const op = await identity('HTTP-OP');
    try {
      assert.equal(await rcOf(op.http.create(`${PREFIX}/H-1`, [makeValue(1, 'URL', 'https://example.cn/h1')])), ResponseCode.INVALID_ADMIN);
      let r = await cli(['admin', 'grant', PREFIX, '--to', `300:${op.handle}`, '--perms', 'add-handle,list-handles', ...http]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`granted 300:88\\.118\\.8/HTTP-OP on 0\\.NA/88\\.118\\.8 on ${api.replace(/\./g, '\\.')}`));
      assert.equal(await op.http.create(`${PREFIX}/H-1`, [makeValue(1, 'URL', 'https://example.cn/h1')]), `${PREFIX}/H-1`);
      assert.ok((await op.http.list(PREFIX)).includes(`${PREFIX}/H-1`));
      assert.deepEqual(adminsOf(t.node.registry!.getValues(`${PREFIX}/H-1`)), [{ index: 100, who: `300:${op.handle}`, permissions: ALL_ADMIN_PERMISSIONS }]);
      await op.http.add(`${PREFIX}/H-1`, [makeValue(2, 'EMAIL', 'op@example.cn')]);
      await op.http.remove(`${PREFIX}/H-1`, [2]);

      // A grant on one handle, not the prefix: modify-value there and nothing else.
      assert.equal((await cli(['register', `${PREFIX}/PRODUCT-H`, '--dir', t.dir, '--value', '1:URL=https://example.cn/p'])).code, 0);
      assert.equal(await rcOf(op.http.add(`${PREFIX}/PRODUCT-H`, [makeValue(1, 'URL', 'https://example.cn/p2')], { overwrite: true })), ResponseCode.INVALID_ADMIN);
      r = await cli(['admin', 'grant', `${PREFIX}/PRODUCT-H`, '--to', `300:${op.handle}`, '--perms', 'modify-value', ...http]);
      assert.equal(r.code, 0, r.stderr);
      await op.http.add(`${PREFIX}/PRODUCT-H`, [makeValue(1, 'URL', 'https://example.cn/p2')], { overwrite: true });
      assert.equal(t.node.registry!.getValues(`${PREFIX}/PRODUCT-H`)!.find((v) => v.index === 1)!.data.toString(), 'https://example.cn/p2');
      assert.equal(await rcOf(op.http.add(`${PREFIX}/PRODUCT-H`, [makeValue(5, 'NOTE', 'new')])), ResponseCode.INVALID_ADMIN, 'add-value was not granted');

      r = await cli(['admin', 'revoke', PREFIX, '--from', `300:${op.handle}`, ...http]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await rcOf(op.http.create(`${PREFIX}/H-2`, [makeValue(1, 'URL', 'https://example.cn/h2')])), ResponseCode.INVALID_ADMIN);
      assert.equal(await rcOf(op.http.list(PREFIX)), ResponseCode.INVALID_ADMIN);
    } finally {
      await op.close();
    }
  });

  test('a local grant (--dir) takes effect on the running node at once; admin list in text and JSON, locally and remotely', async () => {
    const op = await identity('LOCAL-OP');
    try {
      let r = await cli(['admin', 'grant', PREFIX, '--to', `300:${op.handle}`, '--perms', 'add-handle', '--dir', t.dir]);
      assert.equal(r.code, 0, r.stderr);
      await op.wire.create(`${PREFIX}/L-1`, [makeValue(1, 'URL', 'https://example.cn/l1')]);

      r = await cli(['admin', 'list', PREFIX, '--dir', t.dir]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^0\.NA\/88\.118\.8: \d+ administrators$/m);
      assert.match(r.stdout, /^\s*100\s+300:0\.NA\/88\.118\.8\s+all\s+public key RSA SHA256:/m);
      assert.match(r.stdout, new RegExp(`^\\s*\\d+\\s+300:88\\.118\\.8/LOCAL-OP\\s+add-handle\\s+public key RSA SHA256:`, 'm'));
      assert.match(r.stdout, /server administrators of this node \(they pass every check\): 300:0\.NA\/88\.118\.8/);

      r = await cli(['admin', 'list', PREFIX, '--dir', t.dir, '--json']);
      assert.equal(r.code, 0, r.stderr);
      const local = JSON.parse(r.stdout);
      assert.equal(local.handle, `0.NA/${PREFIX}`);
      assert.deepEqual(local.serverAdministrators, [`300:0.NA/${PREFIX}`]);
      const mine = local.administrators.find((a: { administrator: string }) => a.administrator === `300:${op.handle}`);
      assert.deepEqual({ ...mine, identity: undefined }, {
        index: mine.index,
        administrator: `300:${op.handle}`,
        handle: op.handle,
        keyIndex: 300,
        permissions: ['add-handle'],
        permissionBits: '000000000001',
        identity: undefined,
      });
      assert.equal(local.administrators[0].permissionBits, '111111111111');

      // Remotely (its public HS_ADMIN values), the same administrators.
      for (const remote of [['--server', `127.0.0.1:${t.server.port}`], ['--api', api]]) {
        r = await cli(['admin', 'list', PREFIX, ...remote, '--json']);
        assert.equal(r.code, 0, r.stderr);
        const doc = JSON.parse(r.stdout);
        assert.deepEqual(
          doc.administrators.map((a: { administrator: string; permissions: string[] }) => [a.administrator, a.permissions.length]),
          local.administrators.map((a: { administrator: string; permissions: string[] }) => [a.administrator, a.permissions.length]),
        );
        r = await cli(['admin', 'list', PREFIX, ...remote]);
        assert.match(r.stdout, /300:88\.118\.8\/LOCAL-OP\s+add-handle/);
      }

      r = await cli(['admin', 'revoke', PREFIX, '--from', `300:${op.handle}`, '--dir', t.dir, '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout).revoked.map((a: { administrator: string }) => a.administrator), [`300:${op.handle}`]);
      assert.equal(await rcOf(op.wire.create(`${PREFIX}/L-2`, [makeValue(1, 'URL', 'https://example.cn/l2')])), ResponseCode.INVALID_ADMIN);
    } finally {
      await op.close();
    }
  });

  test('revoke refuses to remove the last administrator unless --force; bad input is one line and exit 2', async () => {
    let r = await cli(['register', `${PREFIX}/LONE`, '--dir', t.dir, '--value', '1:URL=https://example.cn/lone', '--value', '100:HS_ADMIN=300:88.118.8/SOMEONE perms=all']);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(['admin', 'revoke', `${PREFIX}/LONE`, '--from', '300:88.118.8/SOMEONE', '--dir', t.dir]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^idres: 300:88\.118\.8\/SOMEONE is the last administrator of 88\.118\.8\/LONE: .*--force\n$/);
    assert.equal(adminsOf(t.node.registry!.getValues(`${PREFIX}/LONE`)).length, 1);
    r = await cli(['admin', 'revoke', `${PREFIX}/LONE`, '--from', '300:88.118.8/SOMEONE', '--dir', t.dir, '--force']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(adminsOf(t.node.registry!.getValues(`${PREFIX}/LONE`)).length, 0);
    assert.match(r.stdout, /no administrator left/);

    const bad: Array<[string[], RegExp]> = [
      [['admin', 'grant', PREFIX, '--to', 'OPERATOR', '--perms', 'all', '--dir', t.dir], /--to "OPERATOR" is not INDEX:HANDLE/],
      [['admin', 'grant', PREFIX, '--to', '300:88.118.8/X', '--perms', 'add-handle,fly', '--dir', t.dir], /"fly" is not a permission/],
      [['admin', 'grant', `${PREFIX}/NOPE`, '--to', '300:88.118.8/X', '--perms', 'all', '--dir', t.dir], /88\.118\.8\/NOPE is not registered here/],
      [['admin', 'grant', 'not a prefix', '--to', '300:88.118.8/X', '--perms', 'all', '--dir', t.dir], /is neither a prefix/],
      [['admin', 'revoke', PREFIX, '--from', '300:88.118.8/NOBODY-AT-ALL', '--dir', t.dir], /is not an administrator of 0\.NA\/88\.118\.8/],
      [['admin', 'grant', PREFIX, '--to', '300:88.118.8/X', '--perms', 'all', '--index', '100', '--dir', t.dir], /index 100 of 0\.NA\/88\.118\.8 holds another administrator/],
      [['register', `${PREFIX}/BAD`, '--dir', t.dir, '--value', '100:HS_ADMIN=OPERATOR perms=all'], /is not INDEX:HANDLE/],
      [['register', `${PREFIX}/BAD`, '--dir', t.dir, '--json-value', '{"index":1,"type":"URL"}'], /"data" is missing/],
      [['register', `${PREFIX}/BAD`, '--dir', t.dir, '--json-value', 'nope'], /is not JSON/],
      [['status', '--api', 'not a url'], /is not a URL/],
    ];
    // What commander refuses (a required option missing) is bad input too: exit 2.
    r = await cli(['admin', 'grant', PREFIX, '--to', '300:88.118.8/X', '--dir', t.dir]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /required option '--perms <list>' not specified/);
    for (const [args, message] of bad) {
      r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });

  test('readable values: what resolve prints reads back through --value to the same bytes, and resolve --json through --json-value', async () => {
    const site = '10.0.0.1:2641,10.0.0.2:2641 hash=prefix serial=3 desc="site of 88.118.9"';
    let r = await cli([
      'register', `${PREFIX}/FORMS-1`, ...wire,
      '--value', '1:URL=https://example.cn/forms',
      '--value', '2:HS_SITE=' + site,
      '--value', '100:HS_ADMIN=300:88.118.8/OPERATOR perms=add-value,modify-value,read-value',
      '--value', '101:HS_ADMIN=200:88.118.8/FORMS-1 perms=all',
      '--value', '200:HS_VLIST=300:88.118.8/A,301:"88.118.8/B C"',
      '--json-value', '{"index":301,"type":"HS_SECKEY","data":"geheim","permissions":"1110"}',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /geheim/, 'a secret is not printed unless asked');
    r = await cli(['resolve', `${PREFIX}/FORMS-1`, '--server', `127.0.0.1:${t.server.port}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /geheim/);
    assert.match(r.stdout, /HS_SECKEY .*\(secret, 6 bytes; --show-secrets prints it\)/);
    r = await cli(['resolve', `${PREFIX}/FORMS-1`, '--server', `127.0.0.1:${t.server.port}`, '--show-secrets']);
    const rows = r.stdout.split('\n').slice(2).filter((l) => l.trim());
    const specs = rows.map((l) => {
      const m = /^\s*(\d+)  (\S+)\s+\S+  \S{4}  (.*)$/.exec(l);
      assert.ok(m, l);
      return `${m[1]}:${m[2]}=${m[3]}`;
    });
    assert.ok(specs.includes(`2:HS_SITE=${site}`), specs.join('\n'));
    assert.ok(specs.includes('100:HS_ADMIN=300:88.118.8/OPERATOR perms=modify-value,add-value,read-value'), specs.join('\n'));
    r = await cli(['register', `${PREFIX}/FORMS-2`, '--dir', t.dir, ...specs.flatMap((s) => ['--value', s])]);
    assert.equal(r.code, 0, r.stderr);
    const bytes = (h: string) => t.node.registry!.getValues(h)!.map((v) => [v.index, v.type, v.data.toString('hex')]);
    assert.deepEqual(bytes(`${PREFIX}/FORMS-2`), bytes(`${PREFIX}/FORMS-1`));

    r = await cli(['resolve', `${PREFIX}/FORMS-1`, '--server', `127.0.0.1:${t.server.port}`, '--json']);
    const json = JSON.parse(r.stdout);
    assert.equal(JSON.stringify(json).includes('geheim'), false, 'hidden in JSON too');
    r = await cli(['resolve', `${PREFIX}/FORMS-1`, '--server', `127.0.0.1:${t.server.port}`, '--json', '--show-secrets']);
    const values: unknown[] = JSON.parse(r.stdout).values;
    r = await cli(['register', `${PREFIX}/FORMS-3`, '--dir', t.dir, '--no-admin', ...values.flatMap((v) => ['--json-value', JSON.stringify(v)])]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(bytes(`${PREFIX}/FORMS-3`), bytes(`${PREFIX}/FORMS-1`));

    // An HS_PUBKEY from a key file, shown by its fingerprint.
    const keyFile = path.join(path.dirname(t.dir), 'forms.key');
    r = await cli(['keys', 'generate', '--sm2', '--out', keyFile, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const made = JSON.parse(r.stdout);
    r = await cli(['update', `${PREFIX}/FORMS-1`, '--dir', t.dir, '--value', `300:HS_PUBKEY=@${keyFile}`, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).values.find((v: { index: number }) => v.index === 300).data.value, Buffer.from(made.hsPubkey, 'hex').toString('base64'));
    r = await cli(['resolve', `${PREFIX}/FORMS-1`, '--server', `127.0.0.1:${t.server.port}`, '--type', 'HS_PUBKEY']);
    assert.match(r.stdout, new RegExp(`HS_PUBKEY .*SM2 256-bit ${made.fingerprint.replace(/[+/]/g, '\\$&')}`));
  });

  test('--json on register, update, delete, list and prefix list', async () => {
    let r = await cli(['register', `${PREFIX}/J-1`, '--dir', t.dir, '--value', 'URL=https://example.cn/j1', '--json']);
    assert.equal(r.code, 0, r.stderr);
    let doc = JSON.parse(r.stdout);
    assert.equal(doc.handle, `${PREFIX}/J-1`);
    assert.deepEqual(doc.values.map((v: { index: number; type: string }) => [v.index, v.type]), [[1, 'URL'], [100, 'HS_ADMIN']]);
    r = await cli(['update', `${PREFIX}/J-1`, ...http, '--value', '2:EMAIL=j@example.cn', '--json']);
    assert.equal(r.code, 0, r.stderr);
    doc = JSON.parse(r.stdout);
    assert.deepEqual([doc.handle, doc.server, doc.set[0].index, doc.removed], [`${PREFIX}/J-1`, api, 2, []]);
    r = await cli(['list', PREFIX, '--dir', t.dir, '--json']);
    doc = JSON.parse(r.stdout);
    assert.equal(doc.prefix, PREFIX);
    assert.ok(doc.handles.includes(`${PREFIX}/J-1`));
    r = await cli(['list', PREFIX, ...wire, '--json']);
    assert.ok(JSON.parse(r.stdout).handles.includes(`${PREFIX}/J-1`));
    r = await cli(['delete', `${PREFIX}/J-1`, ...wire, '--json']);
    assert.deepEqual(JSON.parse(r.stdout), { handle: `${PREFIX}/J-1`, server: `127.0.0.1:${t.server.port}`, deleted: true });
    r = await cli(['prefix', 'list', '--dir', t.dir, '--json']);
    doc = JSON.parse(r.stdout);
    assert.deepEqual(doc.homed, [PREFIX]);
    assert.deepEqual(doc.prefixHandles.map((p: { handle: string; own: boolean }) => [p.handle, p.own]), [[`0.NA/${PREFIX}`, true]]);
  });

  test('status: the running node over HTTP (text and JSON), its folder, and its site over the wire', async () => {
    // Three resolutions of one identifier: a miss, then hits.
    for (let i = 0; i < 3; i++) await client.resolve(t.server, `${PREFIX}/STATUS-PROBE`);
    let r = await cli(['status', '--api', api, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(doc.roles, ['business']);
    assert.deepEqual(doc.prefixes, [PREFIX]);
    assert.equal(doc.handles, t.node.registry!.count());
    assert.deepEqual(doc.ports.udp, { port: t.node.port, bound: true });
    assert.deepEqual(doc.ports.tcp, { port: t.node.port, bound: true });
    assert.deepEqual(doc.ports.http, { port: t.node.http!.port, bound: true });
    assert.equal(doc.ports.dns, null);
    const stats = t.node.pipeline.cache.stats;
    assert.deepEqual([doc.cache.entries, doc.cache.hits, doc.cache.misses], [t.node.pipeline.cache.size, stats.hits, stats.misses]);
    assert.ok(doc.cache.hits >= 2 && doc.cache.entries >= 1, JSON.stringify(doc.cache));
    assert.equal(doc.cache.hitRatio, stats.hits / (stats.hits + stats.misses));
    assert.equal(doc.upstream, null);
    assert.equal(doc.running, true);
    assert.match(doc.serverKey, /^SHA256:/);

    r = await cli(['status', '--api', api]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^roles\s+business$/m);
    assert.match(r.stdout, /^prefixes\s+88\.118\.8$/m);
    assert.match(r.stdout, new RegExp(`^handles\\s+${t.node.registry!.count().toLocaleString('en-US')}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^ports\\s+UDP ${t.node.port}, TCP ${t.node.port}, HTTP ${t.node.http!.port}, DNS off$`, 'm'));
    assert.match(r.stdout, /^cache\s+[\d,]+ entries, .* of .*; hit ratio \d+\.\d% \([\d,]+ hits, [\d,]+ misses\)$/m);

    // Its folder: configured for free ports, so it cannot be found from there; what the folder says.
    r = await cli(['status', '--dir', t.dir, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const folder = JSON.parse(r.stdout);
    assert.equal(folder.running, false);
    assert.equal(folder.handles, t.node.registry!.count());
    assert.equal(folder.serverKey, doc.serverKey, 'the same node');
    assert.match((await cli(['status', '--dir', t.dir])).stdout, /not answering; from the folder \(it takes a free HTTP port/);

    // Configured with the port it now has, the folder finds the running node and asks it.
    const patched = withHttpPort(t.dir, t.node.http!.port);
    try {
      r = await cli(['status', '--dir', t.dir, '--json']);
      const asked = JSON.parse(r.stdout);
      assert.deepEqual([asked.running, asked.source, asked.cache.entries], [true, `${api}/api/status`, t.node.pipeline.cache.size]);
      assert.match((await cli(['status', '--dir', t.dir])).stdout, new RegExp(`running \\(asked ${api.replace(/\./g, '\\.')}/api/status\\)`));
    } finally {
      patched.restore();
    }

    r = await cli(['status', '--server', `127.0.0.1:${t.server.port}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /answering \(GET_SITE_INFO\)/);
    assert.match(r.stdout, new RegExp(`server 1 127\\.0\\.0\\.1: .*TCP ${t.node.port}.*; key RSA SHA256:`));
  });
});

describe('defaults that fit a hierarchy', () => {
  let secondary: TestNode;
  let resolver: TestNode;

  before(async () => {
    // Only HS_ADMIN values decide here: no server administrators to pass every check.
    secondary = await startTestNode({ prefixes: ['88.118'], patch: (c) => ((c.admin = { serverAdmins: [] })) });
    resolver = await startTestNode({ prefixes: [], initArgs: ['--role', 'resolver', '--root', `127.0.0.1:${secondary.server.port}`] });
  });
  after(async () => {
    await resolver.stop();
    await secondary.stop();
  });

  test("register 0.NA/88.118.9 at the parent's node: the parent prefix's administrator administers it, and may change it over the wire", async () => {
    let r = await cli(['register', '0.NA/88.118.9', '--dir', secondary.dir, '--value', '1:HS_SITE=127.0.0.1:2650 hash=prefix']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(adminsOf(secondary.node.registry!.getValues('0.NA/88.118.9')), [{ index: 100, who: '300:0.NA/88.118', permissions: ALL_ADMIN_PERMISSIONS }]);
    r = await cli(['admin', 'list', '88.118.9', '--dir', secondary.dir]);
    assert.match(r.stdout, /300:0\.NA\/88\.118\s+all\s+public key RSA/, 'an administrator this node holds the key of');
    const parent = ['--server', `127.0.0.1:${secondary.server.port}`, '--auth', '300:0.NA/88.118', '--key', path.join(secondary.dir, 'keys', 'admin-88.118.key.pem')];
    r = await cli(['update', '0.NA/88.118.9', '--value', '1:HS_SITE=127.0.0.1:2651 hash=prefix', ...parent]);
    assert.equal(r.code, 0, r.stderr);
    // A prefix under nothing homed here is refused locally, with the reason.
    r = await cli(['register', '0.NA/99.1', '--dir', secondary.dir, '--value', '1:HS_SITE=127.0.0.1:2650']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /neither 99\.1 nor its parent prefix 99 is homed by this node/);
  });

  test('status of a resolver: its upstream and whether it answers, from the running node and from its folder', async () => {
    let r = await cli(['status', '--api', baseOf(resolver.node), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(doc.roles, ['resolver']);
    assert.equal(doc.handles, null);
    assert.deepEqual({ ...doc.upstream, queries: 0 }, { mode: 'walk', servers: [`127.0.0.1:${secondary.server.port}`], reachable: true, queries: 0, failures: 0 });
    r = await cli(['status', '--dir', resolver.dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^upstream\\s+walks from 127\\.0\\.0\\.1:${secondary.server.port}: reachable$`, 'm'));
    // A folder whose HTTP port another node answers on is not taken for that node.
    const patched = withHttpPort(resolver.dir, secondary.node.http!.port);
    try {
      r = await cli(['status', '--dir', resolver.dir, '--json']);
      const folder = JSON.parse(r.stdout);
      assert.equal(folder.running, false);
      assert.match(folder.source, /answers for another node/);
      assert.deepEqual(folder.roles, ['resolver']);
    } finally {
      patched.restore();
    }
  });
});
