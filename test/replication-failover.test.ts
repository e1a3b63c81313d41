// Switch-over and fencing (docs/replication.md, "Switch-over and fencing"). A top node delegates 88.118.8 to
// a primary and a mirror; a second mirror follows the primary too. With the primary down, resolution goes on
// through the mirror; `idres mirror promote` on the running mirror switches it in place to primary, with a
// higher site serial, at the parent too; the old primary, restarted, fences itself (refuses writes naming the
// new primary, stops claiming primary); `demote` lists what it took that the new primary never pulled and
// makes it a mirror of the new primary; `follow` re-points the other mirror. A second hierarchy shows a
// running primary fencing itself on its periodic check when its mirror is promoted beside it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createPrivateKey } from 'node:crypto';
import { HandleClient } from '../src/client/handle-client.js';
import { AdminClient } from '../src/client/admin-client.js';
import { OpCode, OpFlag, ResponseCode } from '../src/protocol/constants.js';
import { encodeHandleWithValues } from '../src/protocol/admin-bodies.js';
import { encodeRequest } from '../src/client/request.js';
import { decodeSite } from '../src/protocol/site.js';
import { makeValue } from '../src/model/value.js';
import { POSITION_SETTING } from '../src/store/replication-settings.js';
import type { IdresNode } from '../src/node/node.js';
import { cli } from './helpers/node.js';
import { converged } from './helpers/mirror.js';
import { until } from './helpers/wait.js';
import { Nodes, at, server } from './helpers/tiers.js';
import { rcOf } from './helpers/admin.js';
import { JSON_HEADERS, USER, USER_SECRET, addIdentities, baseOf, basic, call } from './helpers/http.js';

const PREFIX = '88.118.8';
const PH = `0.NA/${PREFIX}`;

function contents(n: IdresNode): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const h of n.registry!.eachUnder(PREFIX)) out.push([h, JSON.stringify(n.registry!.getValues(h)!.map((v) => [v.index, v.type, v.data.toString('hex')]))]);
  return out;
}



const urlValue = (url: string) => ({ values: [{ index: 1, type: 'URL', data: { format: 'string', value: url } }] });

describe('switch-over: the primary dies, its mirror is promoted, the old primary comes back fenced and is demoted', () => {
  const nodes = new Nodes();
  const client = new HandleClient({ udpTimeoutsMs: [300, 600], tcpTimeoutMs: 3000 });
  let top: IdresNode, primary: IdresNode, mirrorA: IdresNode, mirrorB: IdresNode, resolver: IdresNode;
  const dir = (name: string) => path.join(nodes.root, name);
  const prefixAdmin = () => ({ handle: PH, index: 300, key: createPrivateKey({ key: readFileSync(path.join(dir('primary'), 'keys', `admin-${PREFIX}.key.pem`), 'utf8'), format: 'pem' }) });

  const startMirror = (name: string, identity: string) =>
    nodes.start(name, { roles: ['mirror'], prefixes: [PREFIX], mirrorOf: { primary: at(primary), primaryKey: primary.site.servers[0]!.publicKey, identity } }, (c) => {
      (c.replication as Record<string, unknown>).pollMs = 30;
    });

  before(async () => {
    // The parent homes 88.118, the prefix 88.118.8 derives from: it keeps (and administers) 0.NA/88.118.8.
    top = await nodes.start('top', { roles: ['top'], prefixes: ['88.118'] });
    primary = await nodes.start('primary', { prefixes: [PREFIX] });
    addIdentities(primary);
    for (let i = 0; i < 5; i++) assert.equal((await cli(['register', `${PREFIX}/SEED-${i}`, '--dir', dir('primary'), '--value', `URL=https://example.cn/seed/${i}`])).code, 0);
    mirrorA = await startMirror('mirror-a', `301:${PH}`);
    mirrorB = await startMirror('mirror-b', `302:${PH}`);
    for (const [m, id] of [[mirrorA, `301:${PH}`], [mirrorB, `302:${PH}`]] as const) {
      const r = await cli(['mirror', 'allow', '--dir', dir('primary'), '--site', at(m), '--identity', id]);
      assert.equal(r.code, 0, r.stderr);
    }
    const d = await cli(['prefix', 'delegate', PREFIX, '--dir', dir('top'), '--site', at(primary), '--site', at(mirrorA)]);
    assert.equal(d.code, 0, d.stderr);
    resolver = await nodes.start('resolver', { roles: ['resolver'], roots: [at(top)] });
    await converged(primary, mirrorA);
    await converged(primary, mirrorB);
  });
  after(async () => {
    client.close();
    await nodes.stopAll();
  });

  test('a mirror does not claim primary; with the primary down, the resolver and `idres resolve --root` answer through the mirror', async () => {
    assert.equal((await client.siteInfo(server(primary))).primary, true);
    assert.equal((await client.siteInfo(server(mirrorA))).primary, false, "a mirror's own site is not primary");
    // Mirror A has not pulled the primary's last write when the primary dies (its loop is held for that).
    await mirrorA.replication!.mirror!.stop();
    assert.equal((await cli(['register', `${PREFIX}/LATE-1`, '--dir', dir('primary'), '--value', 'URL=https://example.cn/late'])).code, 0);
    await converged(primary, mirrorB);
    await nodes.stop(primary);
    const r = await client.resolve(server(resolver), `${PREFIX}/SEED-1`);
    assert.equal(r.responseCode, ResponseCode.SUCCESS);
    assert.equal(r.values[0]!.data.toString(), 'https://example.cn/seed/1');
    const walk = await cli(['resolve', `${PREFIX}/SEED-2`, '--root', at(top), '--json'], { timeoutMs: 20000 });
    assert.equal(walk.code, 0, walk.stderr);
    assert.equal((JSON.parse(walk.stdout) as { values: Array<{ data: { value: string } }> }).values[0]!.data.value, 'https://example.cn/seed/2');
  });

  test('`idres mirror promote` on the running mirror: refused without --force while the primary is down; then it switches in place and the parent marks it primary with a higher serial', async () => {
    const refused = await cli(['mirror', 'promote', '--dir', dir('mirror-a')]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /does not answer: give --force/);
    assert.equal(mirrorA.replication!.mode, 'mirror');

    const r = await cli(['mirror', 'promote', '--dir', dir('mirror-a'), '--force', '--parent', at(top), '--auth', '0.NA/88.118:300', '--key', path.join(dir('top'), 'keys', 'admin-88.118.key.pem')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /site serial 2/);
    assert.match(r.stdout, /the parent \S+: 0\.NA\/88\.118\.8 lists this node first/, r.stdout);
    assert.match(r.stdout, /switched in place/);
    assert.equal(mirrorA.replication!.mode, 'primary');
    assert.equal(mirrorA.replication!.mirror, undefined, 'it stopped pulling');
    const own = await client.siteInfo(server(mirrorA));
    assert.deepEqual([own.primary, own.serial], [true, 2]);

    // The parent now lists the promoted mirror first, primary with serial 2, and the old primary as a non-primary site.
    const parent = await client.resolve(server(top), PH);
    for (const type of ['HS_SITE', 'HS_SITE.PREFIX']) {
      const sites = parent.values.filter((v) => v.type === type).sort((a, b) => a.index - b.index).map((v) => decodeSite(v.data));
      assert.deepEqual(sites.map((s) => [s.servers[0]!.interfaces[0]!.port, s.primary, s.serial]), [[mirrorA.port, true, 2], [primary.port, false, 1]], type);
    }
    // So does its own prefix handle, which its mirrors will copy.
    const mine = mirrorA.registry!.getValues(PH)!.filter((v) => v.type === 'HS_SITE').sort((a, b) => a.index - b.index).map((v) => decodeSite(v.data));
    assert.deepEqual(mine.map((s) => [s.servers[0]!.interfaces[0]!.port, s.primary]), [[mirrorA.port, true], [primary.port, false], [mirrorB.port, false]]);
    // Run again on the promoted node, promote only rewrites the parent's records (here: already right).
    const again = await cli(['mirror', 'promote', '--dir', dir('mirror-a'), '--parent', at(top), '--auth', '0.NA/88.118:300', '--key', path.join(dir('top'), 'keys', 'admin-88.118.key.pem')]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /lists this node first, primary with serial 2/);
    const config = JSON.parse(readFileSync(path.join(dir('mirror-a'), 'idres.json'), 'utf8')) as { roles: string[]; replication: { primary?: string } };
    assert.deepEqual(config.roles, ['business']);
    assert.equal(config.replication.primary, undefined);
  });

  test('administration works at the new primary, over the wire and HTTP, and the writes resolve through the resolver', async () => {
    const admin = new AdminClient(client, server(mirrorA), prefixAdmin());
    assert.equal(await rcOf(admin.create(`${PREFIX}/AFTER-PROMOTE`, [makeValue(1, 'URL', 'https://example.cn/after')])), ResponseCode.SUCCESS);
    const put = await call(baseOf(mirrorA), 'PUT', `/api/handles/${PREFIX}/HTTP-AFTER`, { headers: { ...JSON_HEADERS, ...basic(`300:${USER}`, USER_SECRET) }, body: JSON.stringify(urlValue('https://example.cn/http-after')) });
    assert.ok(put.status === 200 || put.status === 201, put.text);
    for (const [h, url] of [[`${PREFIX}/AFTER-PROMOTE`, 'https://example.cn/after'], [`${PREFIX}/HTTP-AFTER`, 'https://example.cn/http-after']]) {
      const r = await client.resolve(server(resolver), h!);
      assert.equal(r.responseCode, ResponseCode.SUCCESS, h);
      assert.equal(r.values[0]!.data.toString(), url);
    }
  });

  test('the old primary, restarted, fences itself: writes refused with RC 301 naming the new primary (wire and HTTP), GET_SITE_INFO not primary, reads still served', async () => {
    primary = await nodes.startDir(dir('primary'));
    assert.equal(primary.replication!.mode, 'fenced');
    const body = encodeHandleWithValues(`${PREFIX}/ON-OLD`, []);
    const [p] = await client.tcpSend(server(primary), encodeRequest({ opCode: OpCode.CREATE_HANDLE, body, flags: OpFlag.REC | OpFlag.CA }));
    assert.equal(p!.header.responseCode, ResponseCode.SERVER_NOT_RESP);
    assert.match(p!.body.toString('latin1'), new RegExp(`primary at 127\\.0\\.0\\.1:${mirrorA.port}`));
    const admin = new AdminClient(client, server(primary), prefixAdmin());
    assert.equal(await rcOf(admin.create(`${PREFIX}/ON-OLD`, [makeValue(1, 'URL', 'https://example.cn/x')])), ResponseCode.SERVER_NOT_RESP);
    const put = await call(baseOf(primary), 'PUT', `/api/handles/${PREFIX}/ON-OLD`, { headers: { ...JSON_HEADERS, ...basic(`300:${USER}`, USER_SECRET) }, body: JSON.stringify(urlValue('x')) });
    assert.equal((put.json as { responseCode: number }).responseCode, ResponseCode.SERVER_NOT_RESP);
    assert.match((put.json as { message: string }).message, new RegExp(`127\\.0\\.0\\.1:${mirrorA.port}`));
    assert.equal(primary.registry!.exists(`${PREFIX}/ON-OLD`), false);
    const site = await client.siteInfo(server(primary));
    assert.equal(site.primary, false, 'a fenced node does not claim primary');
    assert.equal((await client.resolve(server(primary), `${PREFIX}/SEED-3`)).responseCode, ResponseCode.SUCCESS);
  });

  test('`idres mirror demote` writes out what the new primary never pulled and makes the old primary a mirror of it that converges', async () => {
    const r = await cli(['mirror', 'demote', '--dir', dir('primary'), '--primary', at(mirrorA)]);
    assert.equal(r.code, 0, r.stderr);
    const file = r.stdout.match(/are in (\S+unpulled-after-txn-\d+\.ndjson)/)?.[1];
    assert.ok(file && existsSync(file), r.stdout);
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { handle: string });
    assert.ok(lines.some((l) => l.handle === `${PREFIX}/LATE-1`), 'the write mirror A never pulled is listed with its values');
    assert.ok(!lines.some((l) => l.handle === `${PREFIX}/SEED-1`), 'what mirror A had is not');

    await nodes.stop(primary);
    primary = await nodes.startDir(dir('primary'));
    assert.equal(primary.replication!.mode, 'mirror');
    const allow = await cli(['mirror', 'allow', '--dir', dir('mirror-a'), '--site', at(primary), '--identity', `303:${PH}`]);
    assert.equal(allow.code, 0, allow.stderr);
    await converged(mirrorA, primary);
    assert.deepEqual(contents(primary), contents(mirrorA));
    assert.equal(primary.registry!.exists(`${PREFIX}/LATE-1`), false, 'the old primary now holds what the new one holds');
    assert.equal(primary.registry!.exists(`${PREFIX}/AFTER-PROMOTE`), true);
  });

  test('another mirror re-pointed with `idres mirror follow` copies the new primary and converges', async () => {
    const position = mirrorB.replication!.mirror!.stats.position;
    const r = await cli(['mirror', 'follow', '--dir', dir('mirror-b'), '--primary', at(mirrorA)]);
    assert.equal(r.code, 0, r.stderr);
    // Its running loop may still commit a position of the old primary's log after follow reset it: the
    // restarted mirror knows the position is another primary's by the key it was taken with, and copies.
    mirrorB.registry!.setSetting(POSITION_SETTING, String(position));
    await nodes.stop(mirrorB);
    mirrorB = await nodes.startDir(dir('mirror-b'));
    assert.equal(mirrorB.replication!.mirror!.stats.position, 0, 'the old position is dropped');
    assert.equal((await cli(['mirror', 'allow', '--dir', dir('mirror-a'), '--site', at(mirrorB), '--identity', `302:${PH}`])).code, 0);
    await converged(mirrorA, mirrorB);
    assert.deepEqual(contents(mirrorB), contents(mirrorA));
    assert.equal(mirrorB.registry!.exists(`${PREFIX}/HTTP-AFTER`), true);
    assert.equal(mirrorB.registry!.exists(`${PREFIX}/LATE-1`), false);
  });
});

describe('a running primary fences itself when its mirror is promoted beside it', () => {
  const nodes = new Nodes();
  const client = new HandleClient({ udpTimeoutsMs: [300, 600], tcpTimeoutMs: 3000 });
  after(async () => {
    client.close();
    await nodes.stopAll();
  });

  test('promote refuses without --force while the primary takes writes; with --force it catches up first, and the primary, told of it by the parent only, fences itself on its next check', async () => {
    const top = await nodes.start('top', { roles: ['top'], prefixes: ['88.118'] });
    const primary = await nodes.start('primary', { prefixes: [PREFIX] }, (c) => {
      (c.replication as Record<string, unknown>).fenceCheckSeconds = 1;
      (c.replication as Record<string, unknown>).parent = at(top);
    });
    const mirror = await nodes.start('mirror', { roles: ['mirror'], prefixes: [PREFIX], mirrorOf: { primary: at(primary), primaryKey: primary.site.servers[0]!.publicKey, identity: `301:${PH}` } }, (c) => {
      (c.replication as Record<string, unknown>).pollMs = 30;
    });
    // The primary's own prefix handle does not list the mirror: only the parent does.
    assert.equal((await cli(['mirror', 'allow', '--dir', path.join(nodes.root, 'primary'), '--site', at(mirror), '--identity', `301:${PH}`, '--no-list-site'])).code, 0);
    assert.equal((await cli(['prefix', 'delegate', PREFIX, '--dir', path.join(nodes.root, 'top'), '--site', at(primary), '--site', at(mirror)])).code, 0);
    for (let i = 0; i < 3; i++) assert.equal((await cli(['register', `${PREFIX}/P-${i}`, '--dir', path.join(nodes.root, 'primary'), '--value', 'URL=https://example.cn/p'])).code, 0);
    primary.noticeWrites();

    const refused = await cli(['mirror', 'promote', '--dir', path.join(nodes.root, 'mirror')]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /still takes writes/);
    assert.equal(primary.replication!.mode, 'primary');

    const parentAuth = ['--parent', at(top), '--auth', '0.NA/88.118:300', '--key', path.join(nodes.root, 'top', 'keys', 'admin-88.118.key.pem')];
    const r = await cli(['mirror', 'promote', '--dir', path.join(nodes.root, 'mirror'), '--force', ...parentAuth]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /caught up with the primary's transaction/);
    assert.equal(mirror.registry!.exists(`${PREFIX}/P-2`), true);
    await until('the old primary fences itself', () => primary.replication!.mode === 'fenced', 8000);
    assert.equal((await client.siteInfo(server(primary))).primary, false);
    assert.equal((await client.siteInfo(server(mirror))).primary, true);
    const fence = JSON.parse(primary.registry!.getSetting('replication.fenced_by')!) as { site: string; serial: number };
    assert.deepEqual([fence.site, fence.serial], [at(mirror), 2]);
    // The promoted mirror's own prefix handle did not list itself: it is put first, the old primary after it.
    const own = mirror.registry!.getValues(PH)!.filter((v) => v.type === 'HS_SITE').sort((a, b) => a.index - b.index).map((v) => decodeSite(v.data));
    assert.deepEqual(own.map((s) => [s.servers[0]!.interfaces[0]!.port, s.primary, s.serial]), [[mirror.port, true, 2], [primary.port, false, 1]]);

    // Demoted again while it runs: promoted in place, it still has a mirror's configuration in memory, and
    // must stop taking writes at once all the same.
    const demoted = await cli(['mirror', 'demote', '--dir', path.join(nodes.root, 'mirror'), '--primary', at(primary)]);
    assert.equal(demoted.code, 0, demoted.stderr);
    await until('the promoted node, demoted, stops taking writes', () => mirror.replication!.mode === 'fenced', 5000);
    assert.ok(mirror.replication!.writesGoTo(), 'writes are sent elsewhere');
    assert.equal((await client.siteInfo(server(mirror))).primary, false);
  });
});

describe('a planned switch-over: demote the running primary first, then promote its mirror, which catches up from it', () => {
  const nodes = new Nodes();
  const client = new HandleClient({ udpTimeoutsMs: [300, 600], tcpTimeoutMs: 3000 });
  after(async () => {
    client.close();
    await nodes.stopAll();
  });

  test('demote fences the running primary within a second; promote needs no --force, loses nothing, and the old primary follows', async () => {
    const dir = (name: string) => path.join(nodes.root, name);
    let primary = await nodes.start('primary', { prefixes: [PREFIX] });
    const mirror = await nodes.start('mirror', { roles: ['mirror'], prefixes: [PREFIX], mirrorOf: { primary: at(primary), primaryKey: primary.site.servers[0]!.publicKey, identity: `301:${PH}` } }, (c) => {
      (c.replication as Record<string, unknown>).pollMs = 30;
    });
    assert.equal((await cli(['mirror', 'allow', '--dir', dir('primary'), '--site', at(mirror), '--identity', `301:${PH}`])).code, 0);
    await until('the first copy', () => mirror.replication!.mirror!.stats.position > 0);
    // The last writes just before the switch-over: promote waits until the running mirror has pulled them.
    for (let i = 0; i < 3; i++) assert.equal((await cli(['register', `${PREFIX}/LAST-${i}`, '--dir', dir('primary'), '--value', 'URL=https://example.cn/last'])).code, 0);

    const d = await cli(['mirror', 'demote', '--dir', dir('primary'), '--primary', at(mirror)]);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /is not primary yet: promote it now/);
    await until('the running primary reads the fence', () => primary.replication!.mode === 'fenced', 5000);
    const admin = new AdminClient(client, server(primary), { handle: PH, index: 300, key: createPrivateKey({ key: readFileSync(path.join(dir('primary'), 'keys', `admin-${PREFIX}.key.pem`), 'utf8'), format: 'pem' }) });
    assert.equal(await rcOf(admin.create(`${PREFIX}/TOO-LATE`, [makeValue(1, 'URL', 'https://example.cn/x')])), ResponseCode.SERVER_NOT_RESP);

    const p = await cli(['mirror', 'promote', '--dir', dir('mirror')]);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /caught up with the primary's transaction/);
    assert.equal(mirror.replication!.mode, 'primary');
    for (let i = 0; i < 3; i++) assert.equal(mirror.registry!.exists(`${PREFIX}/LAST-${i}`), true, `LAST-${i} was pulled before the switch`);

    await nodes.stop(primary);
    primary = await nodes.startDir(dir('primary'));
    assert.equal(primary.replication!.mode, 'mirror');
    assert.equal((await cli(['mirror', 'allow', '--dir', dir('mirror'), '--site', at(primary), '--identity', `303:${PH}`])).code, 0);
    const admin2 = new AdminClient(client, server(mirror), { handle: PH, index: 300, key: createPrivateKey({ key: readFileSync(path.join(dir('primary'), 'keys', `admin-${PREFIX}.key.pem`), 'utf8'), format: 'pem' }) });
    assert.equal(await rcOf(admin2.create(`${PREFIX}/ON-NEW`, [makeValue(1, 'URL', 'https://example.cn/new')])), ResponseCode.SUCCESS);
    await until('the old primary copies the new one', () => primary.registry!.exists(`${PREFIX}/ON-NEW`) && !primary.replication!.mirror!.stats.copying, 15000);
    await converged(mirror, primary);
    assert.deepEqual(contents(primary), contents(mirror));
  });
});

describe('promote on a stopped mirror pulls what it lacks by itself', () => {
  const nodes = new Nodes();
  after(() => nodes.stopAll());

  test('no node runs in the folder, so the command takes the writer lock and catches up before it promotes', async () => {
    const dir = (name: string) => path.join(nodes.root, name);
    const primary = await nodes.start('primary', { prefixes: [PREFIX] });
    let mirror = await nodes.start('mirror', { roles: ['mirror'], prefixes: [PREFIX], mirrorOf: { primary: at(primary), primaryKey: primary.site.servers[0]!.publicKey, identity: `301:${PH}` } }, (c) => {
      (c.replication as Record<string, unknown>).pollMs = 30;
    });
    assert.equal((await cli(['mirror', 'allow', '--dir', dir('primary'), '--site', at(mirror), '--identity', `301:${PH}`])).code, 0);
    await converged(primary, mirror);
    await nodes.stop(mirror);
    for (let i = 0; i < 3; i++) assert.equal((await cli(['register', `${PREFIX}/WHILE-STOPPED-${i}`, '--dir', dir('primary'), '--value', 'URL=https://example.cn/s'])).code, 0);

    // The primary still takes writes, so only --force promotes; the command pulls the three writes first.
    const p = await cli(['mirror', 'promote', '--dir', dir('mirror'), '--force']);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /caught up with the primary's transaction/);
    mirror = await nodes.startDir(dir('mirror'));
    assert.equal(mirror.replication!.mode, 'primary');
    for (let i = 0; i < 3; i++) assert.equal(mirror.registry!.exists(`${PREFIX}/WHILE-STOPPED-${i}`), true, `WHILE-STOPPED-${i} was pulled by the command`);
  });
});
