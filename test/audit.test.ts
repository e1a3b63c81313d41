// The audit log (docs/operations.md): every administrative write — over the wire (plain, in a session, in
// the national SDK's login), over HTTP, by the local CLI, by an import — appears once in the registry's
// audit_log with its identity, where it came from, what changed and the result; refusals with their code.
// `idres audit` reads, filters and exports it. A change and its record commit together.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cli, startTestNode, type TestNode } from './helpers/node.js';
import { addIdentities, baseOf, basic, call, JSON_HEADERS, NOBODY, NOBODY_SECRET, USER, USER_ADMIN_JSON, USER_SECRET } from './helpers/http.js';
import { SdkConnection, sdkLogin, sdkRequest } from './helpers/idis-sdk.js';
import { repoRoot } from './helpers/paths.js';
import { HandleClient } from '../src/client/handle-client.js';
import { AdminClient, AdminError } from '../src/client/admin-client.js';
import { makeValue, type HandleValue } from '../src/model/value.js';
import { readPrivateKey } from '../src/protocol/keyfile.js';
import { ResponseCode } from '../src/protocol/constants.js';
import { Writer } from '../src/protocol/writer.js';
import { writeValueList } from '../src/protocol/values.js';
import { AuditStore, type AuditRow } from '../src/store/audit-store.js';
import { AuditTrail, changeBetween, openAuditTrail } from '../src/admin/audit.js';
import { AdminService } from '../src/admin/operations.js';
import { Registry } from '../src/store/registry.js';
import { SCHEMA_VERSION } from '../src/store/schema.js';
import { validateConfig } from '../src/node/config.js';

const PREFIX = '88.118.8';
const ADMIN = `0.NA/${PREFIX}`;
const ADMIN_ID = `300:${ADMIN}`;

function valuesBody(handle: string, values: HandleValue[]): Buffer {
  const w = new Writer(256).utf8(handle);
  writeValueList(w, values);
  return Buffer.from(w.finish());
}

describe('the audit log of a running node', () => {
  let t: TestNode;
  const client = new HandleClient({ udpTimeoutsMs: [300], tcpTimeoutMs: 5000 });
  let admin: AdminClient;
  /** The node's audit rows about one handle, oldest first. */
  const rowsOf = (handle: string): AuditRow[] => new AuditStore(t.node.registry!.db).latest({ handle }, 1000);
  const opsOf = (handle: string) => rowsOf(handle).map((r) => `${r.op} ${r.responseCode}`);

  before(async () => {
    t = await startTestNode({ prefixes: [PREFIX] });
    addIdentities(t.node);
    const key = readPrivateKey(readFileSync(path.join(t.dir, 'keys', `admin-${PREFIX}.key.pem`)));
    admin = new AdminClient(client, t.server, { handle: ADMIN, index: 300, key });
  });
  after(async () => {
    client.close();
    await t.stop();
  });

  test('the registry has the audit table (migration 4), empty on a fresh node', () => {
    assert.ok(SCHEMA_VERSION >= 4, `schema version ${SCHEMA_VERSION}`);
    assert.equal(new AuditStore(t.node.registry!.db).count(), 0, 'setting up a node is not an administrative change');
  });

  test('over the wire: create, add, modify, remove and delete each appear once, with the identity, address, change and result', async () => {
    const h = `${PREFIX}/WIRE-1`;
    await admin.create(h, [makeValue(1, 'URL', 'https://example.cn/w1')]);
    await admin.add(h, [makeValue(2, 'EMAIL', 'qa@example.cn')]);
    await admin.modify(h, [makeValue(1, 'URL', 'https://example.cn/w1b')]);
    await admin.remove(h, [2]);
    await admin.delete(h);
    const rows = rowsOf(h);
    assert.deepEqual(rows.map((r) => r.op), ['create', 'add', 'modify', 'remove', 'delete']);
    for (const r of rows) {
      assert.equal(r.identity, ADMIN_ID);
      assert.equal(r.authenticated, true);
      assert.equal(r.transport, 'wire');
      assert.equal(r.address, '127.0.0.1');
      assert.equal(r.responseCode, ResponseCode.SUCCESS);
      assert.equal(r.message, '');
    }
    // Index and type only: the creator's HS_ADMIN the node added counts as added; no value's data is kept.
    assert.deepEqual(rows[0]!.detail.added, [[1, 'URL'], [100, 'HS_ADMIN']]);
    assert.deepEqual(rows[1]!.detail.added, [[2, 'EMAIL']]);
    assert.deepEqual(rows[2]!.detail.changed, [[1, 'URL']]);
    assert.deepEqual(rows[3]!.detail.removed, [[2, 'EMAIL']]);
    assert.deepEqual(rows[4]!.detail.removed, [[1, 'URL'], [100, 'HS_ADMIN']]);
    assert.ok(!JSON.stringify(rows).includes('example.cn/w1'), 'no value data in the audit log');
  });

  test('in a Diffie-Hellman session and inside the national SDK\'s login: once each, as the identity', async () => {
    const key = readPrivateKey(readFileSync(path.join(t.dir, 'keys', `admin-${PREFIX}.key.pem`)));
    const inSession = new AdminClient(client, t.server, { handle: ADMIN, index: 300, key }, { session: true });
    await inSession.create(`${PREFIX}/SESSION-1`, [makeValue(1, 'URL', 'https://example.cn/s1')]);
    assert.deepEqual(opsOf(`${PREFIX}/SESSION-1`), ['create 1']);
    assert.equal(rowsOf(`${PREFIX}/SESSION-1`)[0]!.identity, ADMIN_ID);

    const c = await SdkConnection.connect(t.node.port);
    try {
      const login = await sdkLogin(c, { handle: ADMIN, index: 300, key }, { sessionId: 20001, firstRequestId: 1 });
      assert.equal(login.result.responseCode, ResponseCode.SUCCESS);
      const h = `${PREFIX}/SDK-1`;
      const r = await c.request(sdkRequest({ opCode: 100, body: valuesBody(h, [makeValue(1, 'URL', 'https://example.cn/sdk')]), requestId: 10, sessionId: 20001 }));
      assert.equal(r.responseCode, ResponseCode.SUCCESS);
      const dup = await c.request(sdkRequest({ opCode: 100, body: valuesBody(h, [makeValue(1, 'URL', 'https://example.cn/sdk')]), requestId: 11, sessionId: 20001 }));
      assert.equal(dup.responseCode, ResponseCode.HANDLE_ALREADY_EXISTS);
      const rows = rowsOf(h);
      assert.deepEqual(rows.map((x) => `${x.op} ${x.responseCode}`), ['create 1', 'create 101'], 'the change, and the refusal with its code');
      assert.ok(rows.every((x) => x.identity === ADMIN_ID && x.authenticated && x.transport === 'wire'));
    } finally {
      c.close();
    }
  });

  test('refused over the wire: an identity that is not an administrator, recorded as claimed (its proof was not looked at)', async () => {
    const h = `${PREFIX}/NOT-YOURS`;
    const nobody = new AdminClient(client, t.server, { handle: NOBODY, index: 300, secret: Buffer.from(NOBODY_SECRET) });
    await assert.rejects(nobody.create(h, [makeValue(1, 'URL', 'https://example.cn/x')]), (e: unknown) => e instanceof AdminError && e.responseCode === ResponseCode.INVALID_ADMIN);
    const rows = rowsOf(h);
    assert.equal(rows.length, 1);
    assert.deepEqual(
      { identity: rows[0]!.identity, authenticated: rows[0]!.authenticated, rc: rows[0]!.responseCode, values: rows[0]!.detail.values },
      { identity: `300:${NOBODY}`, authenticated: false, rc: ResponseCode.INVALID_ADMIN, values: [[1, 'URL']] },
    );
    assert.equal(t.node.registry!.exists(h), false);
  });

  test('over HTTP: PUT and DELETE once each with the proven identity; refusals with their codes, anonymous ones too', async () => {
    const base = baseOf(t.node);
    const h = `${PREFIX}/HTTP-1`;
    const body = JSON.stringify({ values: [{ index: 1, type: 'URL', data: { format: 'string', value: 'https://example.cn/h1' } }, USER_ADMIN_JSON] });
    const put = await call(base, 'PUT', `/api/handles/${h}`, { headers: { ...JSON_HEADERS, ...basic(`300:${USER}`, USER_SECRET) }, body });
    assert.equal(put.status, 201, put.text);
    const del = await call(base, 'DELETE', `/api/handles/${h}`, { headers: basic(`300:${USER}`, USER_SECRET) });
    assert.equal(del.status, 200, del.text);
    const refused = await call(base, 'PUT', `/api/handles/${h}`, { headers: { ...JSON_HEADERS, ...basic(`300:${NOBODY}`, NOBODY_SECRET) }, body });
    assert.equal(refused.json.responseCode, ResponseCode.INVALID_ADMIN);
    const anonymous = await call(base, 'DELETE', `/api/handles/${PREFIX}/WIRE-NONE`);
    assert.equal(anonymous.status, 401);

    const rows = rowsOf(h);
    assert.deepEqual(rows.map((r) => [r.op, r.identity, r.authenticated, r.transport, r.address, r.responseCode]), [
      ['create', `300:${USER}`, true, 'http', '127.0.0.1', ResponseCode.SUCCESS],
      ['delete', `300:${USER}`, true, 'http', '127.0.0.1', ResponseCode.SUCCESS],
      ['create', `300:${NOBODY}`, true, 'http', '127.0.0.1', ResponseCode.INVALID_ADMIN],
    ]);
    assert.deepEqual(rows[0]!.detail.added, [[1, 'URL'], [100, 'HS_ADMIN']]);
    const anon = rowsOf(`${PREFIX}/WIRE-NONE`);
    assert.deepEqual(anon.map((r) => [r.op, r.identity, r.authenticated, r.responseCode]), [['delete', 'anonymous', false, ResponseCode.AUTHENTICATION_NEEDED]]);
  });

  test('by the local CLI: register, update, delete, admin grant/revoke, prefix delegate/home — once each, identity local; a refusal with its code', async () => {
    const d = ['--dir', t.dir];
    const run = async (args: string[], code = 0) => {
      const r = await cli([...args, ...d]);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    };
    const h = `${PREFIX}/CLI-1`;
    await run(['register', h, '--value', 'URL=https://example.cn/c1']);
    await run(['register', h, '--value', 'URL=https://example.cn/c1'], 2); // exists: refused
    await run(['update', h, '--value', '2:EMAIL=a@example.cn', '--remove', '1']);
    await run(['admin', 'grant', h, '--to', `300:${USER}`, '--perms', 'all']);
    await run(['admin', 'revoke', h, '--from', `300:${USER}`]);
    await run(['delete', h]);
    await run(['prefix', 'delegate', '88.118.8.1', '--site', '127.0.0.1:2641', '--no-fetch-keys']);
    await run(['prefix', 'home', '88.118.99']);
    const rows = rowsOf(h);
    assert.deepEqual(rows.map((r) => `${r.op} ${r.responseCode}`), ['create 1', 'create 101', 'update 1', 'grant 1', 'revoke 1', 'delete 1']);
    assert.ok(rows.every((r) => r.identity === 'local' && r.authenticated && r.transport === 'cli' && r.address === null));
    assert.deepEqual(rows[2]!.detail.added, [[2, 'EMAIL']]);
    assert.deepEqual(rows[2]!.detail.removed, [[1, 'URL']]);
    assert.equal(rows[3]!.detail.administrator, `300:${USER}`);
    assert.deepEqual(rows[3]!.detail.added, [[101, 'HS_ADMIN']]);
    assert.match(rows[1]!.message, /already exists/);
    assert.deepEqual(opsOf('0.NA/88.118.8.1'), ['delegate 1']);
    assert.deepEqual(opsOf('88.118.99'), ['home 1']);
  });

  test('an import: one entry per committed batch, in its transaction', async () => {
    const file = path.join(repoRoot, 'fixtures', 'import-example.ndjson');
    const r = await cli(['import', file, '--dir', t.dir, '--batch-size', '10', '--progress', 'none']);
    assert.equal(r.code, 0, r.stderr);
    const rows = new AuditStore(t.node.registry!.db).latest({}, 1000).filter((x) => x.op === 'import');
    assert.equal(rows.length, 4, '40 rows in batches of 10');
    assert.deepEqual(rows.map((x) => x.detail.batch), [1, 2, 3, 4]);
    assert.ok(rows.every((x) => x.transport === 'import' && x.identity === 'local' && x.handle === null && x.detail.file === file));
    assert.equal(rows.reduce((n, x) => n + (x.detail.created as number), 0), 40);
  });

  test('idres audit: --json with filters, --export to NDJSON and CSV; a bad time is a usage error', async () => {
    const j = await cli(['audit', '--dir', t.dir, '--json', '--handle', `${PREFIX}/WIRE-1`, '--since', '1h']);
    assert.equal(j.code, 0, j.stderr);
    const listed = (JSON.parse(j.stdout) as { entries: Array<{ op: string; identity: string; code: string }> }).entries;
    assert.deepEqual(listed.map((e) => e.op), ['create', 'add', 'modify', 'remove', 'delete']);
    assert.equal(listed[0]!.code, 'SUCCESS');
    const byIdentity = JSON.parse((await cli(['audit', '--dir', t.dir, '--json', '--identity', `${USER}:300`, '--limit', '100'])).stdout) as { entries: Array<{ identity: string }> };
    assert.ok(byIdentity.entries.length >= 2 && byIdentity.entries.every((e) => e.identity === `300:${USER}`), 'HANDLE:INDEX as --auth takes it');
    const future = JSON.parse((await cli(['audit', '--dir', t.dir, '--json', '--since', '2999-01-01'])).stdout) as { entries: unknown[] };
    assert.deepEqual(future.entries, []);
    const readable = await cli(['audit', '--dir', t.dir, '--handle', `${PREFIX}/CLI-1`]);
    assert.match(readable.stdout, /local\s+cli\s+create\s+88\.118\.8\/CLI-1\s+ok\s+\+1:URL \+100:HS_ADMIN/);
    assert.match(readable.stdout, /101 HANDLE_ALREADY_EXISTS/);

    const out = mkdtempSync(path.join(tmpdir(), 'idres-audit-'));
    try {
      const total = new AuditStore(t.node.registry!.db).count();
      const nd = path.join(out, 'audit.ndjson');
      const e1 = await cli(['audit', '--dir', t.dir, '--export', nd]);
      assert.equal(e1.code, 0, e1.stderr);
      assert.match(e1.stdout, new RegExp(`exported ${total} audit entries`));
      const lines = readFileSync(nd, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: number; op: string });
      assert.equal(lines.length, total);
      assert.ok(lines.every((l, i) => i === 0 || l.id > lines[i - 1]!.id), 'oldest first');
      const csv = path.join(out, 'audit.csv');
      assert.equal((await cli(['audit', '--dir', t.dir, '--export', csv, '--handle', `${PREFIX}/WIRE-1`])).code, 0);
      const rows = readFileSync(csv, 'utf8').trim().split('\n');
      assert.equal(rows[0], 'id,time,identity,authenticated,transport,address,op,handle,response_code,code,message,detail');
      assert.equal(rows.length, 6);
      assert.match(rows[1]!, /,300:0\.NA\/88\.118\.8,true,wire,127\.0\.0\.1,create,88\.118\.8\/WIRE-1,1,SUCCESS,,"\{""added"":\[\[1,""URL""\]/);
      assert.equal((await cli(['audit', '--dir', t.dir, '--export', path.join(out, 'audit.txt')])).code, 2);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    const bad = await cli(['audit', '--dir', t.dir, '--since', 'yesterday']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /not a time/);
  });

  test('kept in the registry: another connection to it (another process, or the node after a restart) reads the same rows', () => {
    const count = new AuditStore(t.node.registry!.db).count();
    assert.ok(count > 20);
    const other = new Registry(path.join(t.dir, 'registry.db'), { readonly: true });
    try {
      assert.equal(new AuditStore(other.db).count(), count);
    } finally {
      other.close();
    }
  });
});

describe('the audit trail itself', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'idres-audit-unit-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a change and its record commit together: when the record cannot be written, the change does not happen', () => {
    const reg = new Registry(path.join(dir, 'tx.db'));
    try {
      const store = new AuditStore(reg.db);
      const trail = new AuditTrail(store);
      const service = new AdminService(reg, { homes: () => true, serverAdmins: [{ handle: ADMIN, index: 300 }], allowListHandles: true, audit: trail });
      const who = { handle: ADMIN, index: 300 };
      const origin = { transport: 'wire' as const, address: '192.0.2.1' };
      assert.equal(service.perform({ op: 'create', handle: `${PREFIX}/TX-1`, values: [makeValue(1, 'URL', 'u')], overwrite: false, mint: false }, who, 'c', origin).responseCode, ResponseCode.SUCCESS);
      assert.equal(store.count(), 1);
      store.insert = () => {
        throw new Error('disk full');
      };
      assert.throws(() => service.perform({ op: 'create', handle: `${PREFIX}/TX-2`, values: [makeValue(1, 'URL', 'u')], overwrite: false, mint: false }, who, 'c', origin), /disk full/);
      assert.equal(reg.exists(`${PREFIX}/TX-2`), false, 'rolled back with its record');
      // A list is no change: never recorded.
      delete (store as { insert?: unknown }).insert;
      assert.equal(service.perform({ op: 'list', prefix: PREFIX }, who, 'c', origin).responseCode, ResponseCode.SUCCESS);
      assert.equal(store.count(), 1);
    } finally {
      reg.close();
    }
  });

  test('refusals nobody proved an identity for are limited per interval, with a row counting the rest; proven ones never', () => {
    const reg = new Registry(path.join(dir, 'limit.db'));
    try {
      let now = 1_000_000;
      const store = new AuditStore(reg.db);
      const trail = new AuditTrail(store, { now: () => now, anonymousRefusals: { intervalMs: 10_000, linesPerInterval: 5 } });
      const refusal = (authenticated: boolean) =>
        trail.record({ identity: authenticated ? ADMIN_ID : 'anonymous', authenticated, origin: { transport: 'wire', address: '192.0.2.9' }, op: 'create', handle: 'x/y', responseCode: ResponseCode.HANDLE_ALREADY_EXISTS, message: 'exists' });
      for (let i = 0; i < 1000; i++) refusal(false);
      for (let i = 0; i < 20; i++) refusal(true);
      assert.equal(store.count(), 25);
      now += 10_000;
      trail.flush();
      const last = store.latest({}, 1)[0]!;
      assert.deepEqual([last.op, last.detail.refusals, last.transport], ['suppressed', 995, 'wire']);
    } finally {
      reg.close();
    }
  });

  test('rows past the retention are pruned when a node opens the trail (audit.retainDays, default 365)', () => {
    assert.equal(validateConfig({}).audit.retainDays, 365);
    assert.throws(() => validateConfig({ audit: { retainDays: 0 } }), /audit\.retainDays/);
    assert.throws(() => validateConfig({ audit: { keep: 1 } }), /unknown setting "audit\.keep"/);
    const reg = new Registry(path.join(dir, 'prune.db'));
    try {
      const now = Date.UTC(2026, 5, 1);
      const store = new AuditStore(reg.db);
      const row = (at: number) => store.insert({ at, identity: 'local', authenticated: true, transport: 'cli', address: null, op: 'delete', handle: 'a/b', detail: {}, responseCode: 1, message: '' });
      row(now - 400 * 86_400_000);
      row(now - 300 * 86_400_000);
      row(now - 1000);
      openAuditTrail(reg.db, { retainDays: 365, now: () => now });
      assert.equal(store.count(), 2);
      openAuditTrail(reg.db, { retainDays: 30, now: () => now });
      assert.equal(store.count(), 1);
    } finally {
      reg.close();
    }
  });

  test('what changed, by index and type', () => {
    const v = (i: number, type: string, data: string) => makeValue(i, type, data);
    assert.deepEqual(changeBetween([v(1, 'URL', 'a'), v(2, 'EMAIL', 'b'), v(3, 'X', 'c')], [v(1, 'URL', 'a'), v(2, 'EMAIL', 'B'), v(4, 'Y', 'd')]), {
      added: [[4, 'Y']],
      changed: [[2, 'EMAIL']],
      removed: [[3, 'X']],
    });
    assert.deepEqual(changeBetween(undefined, undefined), { added: [], changed: [], removed: [] });
  });
});
