// Mirrors (docs/replication.md): a primary and two mirrors on loopback. The mirrors take a first copy, follow
// single writes, deletes and a bulk import, converge to the primary's exact contents, refuse writes with RC
// 301 naming the primary, re-copy by themselves when the primary no longer holds their place in the log,
// and resume from their position after a restart. A replication request from anyone else learns nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HandleClient } from '../src/client/handle-client.js';
import { ReplicationClient, ReplicationRefused } from '../src/client/replication-client.js';
import { OpCode, OpFlag, ResponseCode } from '../src/protocol/constants.js';
import { encodeHandleWithValues } from '../src/protocol/admin-bodies.js';
import { encodeRequest } from '../src/client/request.js';
import { encodeRetrieveTxnRequest } from '../src/protocol/replication.js';
import type { IdresNode } from '../src/node/node.js';
import { cli } from './helpers/node.js';
import { converged } from './helpers/mirror.js';
import { Nodes, server } from './helpers/tiers.js';

const PREFIX = '88.118.8';
const MIRROR_A = `301:0.NA/${PREFIX}`;
const MIRROR_B = `302:0.NA/${PREFIX}`;

/** Every handle of a node with its values (timestamps and all), in key order. */
function contents(n: IdresNode): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const h of n.registry!.eachUnder(PREFIX)) out.push([h, JSON.stringify(n.registry!.getValues(h)!.map((v) => [v.index, v.type, v.data.toString('hex'), v.timestamp, v.ttl, v.permissions]))]);
  return out;
}


describe('a primary and two mirrors', () => {
  const nodes = new Nodes();
  const client = new HandleClient({ udpTimeoutsMs: [300, 600], tcpTimeoutMs: 3000 });
  let primary: IdresNode, mirrorA: IdresNode, mirrorB: IdresNode;
  const primaryDir = () => path.join(nodes.root, 'primary');

  const startMirror = (name: string, identity: string) =>
    nodes.start(name, { roles: ['mirror'], prefixes: [PREFIX], mirrorOf: { primary: `127.0.0.1:${primary.port}`, primaryKey: primary.site.servers[0]!.publicKey, identity } }, (c) => {
      (c.replication as Record<string, unknown>).pollMs = 30;
    });

  before(async () => {
    primary = await nodes.start('primary', { prefixes: [PREFIX] });
    for (let i = 0; i < 20; i++) {
      const r = await cli(['register', `${PREFIX}/SEED-${i}`, '--dir', primaryDir(), '--value', `URL=https://example.cn/seed/${i}`]);
      assert.equal(r.code, 0, r.stderr);
    }
    mirrorA = await startMirror('mirror-a', MIRROR_A);
    mirrorB = await startMirror('mirror-b', MIRROR_B);
    for (const [m, id] of [[mirrorA, MIRROR_A], [mirrorB, MIRROR_B]] as const) {
      const r = await cli(['mirror', 'allow', '--dir', primaryDir(), '--site', `127.0.0.1:${m.port}`, '--identity', id]);
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(async () => {
    client.close();
    await nodes.stopAll();
  });

  test('each mirror takes a first copy, then answers as the primary does', async () => {
    await converged(primary, mirrorA);
    await converged(primary, mirrorB);
    assert.ok(mirrorA.replication!.mirror!.stats.recopies >= 1, 'a first copy');
    for (const m of [mirrorA, mirrorB]) {
      const r = await client.resolve(server(m), `${PREFIX}/SEED-7`);
      assert.equal(r.responseCode, ResponseCode.SUCCESS);
      assert.equal(r.values[0]!.data.toString(), 'https://example.cn/seed/7');
      assert.deepEqual(contents(m), contents(primary));
    }
  });

  test('single writes, value changes, deletes and a bulk import reach both mirrors; their contents equal the primary\'s', async () => {
    const dir = primaryDir();
    assert.equal((await cli(['register', `${PREFIX}/NEW-1`, '--dir', dir, '--value', 'URL=https://example.cn/new/1'])).code, 0);
    assert.equal((await cli(['update', `${PREFIX}/SEED-1`, '--dir', dir, '--value', '1:URL=https://example.cn/changed'])).code, 0);
    assert.equal((await cli(['delete', `${PREFIX}/SEED-2`, '--dir', dir])).code, 0);
    const csv = path.join(nodes.root, 'bulk.csv');
    const lines = ['handle,URL'];
    for (let i = 0; i < 3000; i++) lines.push(`${PREFIX}/BULK-${i},https://example.cn/bulk/${i}`);
    writeFileSync(csv, lines.join('\n') + '\n');
    const imp = await cli(['import', csv, '--dir', dir]);
    assert.equal(imp.code, 0, imp.stderr);
    primary.noticeWrites();
    await converged(primary, mirrorA);
    await converged(primary, mirrorB);
    const want = contents(primary);
    assert.equal(want.length, 20 - 1 + 1 + 3000);
    assert.deepEqual(contents(mirrorA), want);
    assert.deepEqual(contents(mirrorB), want);
    // And over the wire: the cache of the mirror was told.
    const changed = await client.resolve(server(mirrorA), `${PREFIX}/SEED-1`);
    assert.equal(changed.values[0]!.data.toString(), 'https://example.cn/changed');
    assert.equal((await client.resolve(server(mirrorB), `${PREFIX}/SEED-2`)).responseCode, ResponseCode.HANDLE_NOT_FOUND);
    assert.equal((await client.resolve(server(mirrorB), `${PREFIX}/BULK-2999`)).values[0]!.data.toString(), 'https://example.cn/bulk/2999');
  });

  test('idres init --role mirror asks the primary for its key; --primary without the role is refused', async () => {
    const dir = path.join(nodes.root, 'mirror-cli');
    const r = await cli(['init', '--dir', dir, '--role', 'mirror', '--prefix', PREFIX, '--primary', `127.0.0.1:${primary.port}`, '--port', '0']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`idres mirror allow --dir PRIMARY_DIR --site 127\\.0\\.0\\.1:0 --identity 301:0\\.NA/${PREFIX.replace(/\./g, '\\.')}`));
    assert.deepEqual(readFileSync(path.join(dir, 'keys', 'primary.pub')), primary.site.servers[0]!.publicKey);
    const config = JSON.parse(readFileSync(path.join(dir, 'idres.json'), 'utf8')) as { roles: string[]; replication: { primary: string; identity: string } };
    assert.deepEqual(config.roles, ['mirror']);
    assert.equal(config.replication.primary, `127.0.0.1:${primary.port}`);
    assert.equal(config.replication.identity, `301:0.NA/${PREFIX}`);
    const bad = await cli(['init', '--dir', path.join(nodes.root, 'not-mirror'), '--prefix', PREFIX, '--primary', `127.0.0.1:${primary.port}`]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--primary is for a mirror/);
  });

  test('a write sent to a mirror is refused with RC 301 naming the primary, over the wire and HTTP; nothing changes', async () => {
    const body = encodeHandleWithValues(`${PREFIX}/ON-MIRROR`, []);
    const [p] = await client.tcpSend(server(mirrorA), encodeRequest({ opCode: OpCode.CREATE_HANDLE, body, flags: OpFlag.REC | OpFlag.CA }));
    assert.equal(p!.header.responseCode, ResponseCode.SERVER_NOT_RESP);
    assert.match(p!.body.toString('latin1'), new RegExp(`primary at 127\\.0\\.0\\.1:${primary.port}`));
    const res = await fetch(`http://127.0.0.1:${mirrorA.http!.port}/api/handles/${PREFIX}/ON-MIRROR`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ values: [{ index: 1, type: 'URL', data: { format: 'string', value: 'x' } }] }),
    });
    const json = (await res.json()) as { responseCode: number; message: string };
    assert.equal(json.responseCode, ResponseCode.SERVER_NOT_RESP);
    assert.match(json.message, /not the primary \(a mirror.*127\.0\.0\.1/);
    assert.equal(mirrorA.registry!.exists(`${PREFIX}/ON-MIRROR`), false);
  });

  test('a replication request from an identity that is not a mirror is refused and learns nothing; anonymous and UDP ones too', async () => {
    // The prefix administrator (a server administrator of the primary) is still not a replication administrator.
    const admin = createPrivateKey({ key: (await import('node:fs')).readFileSync(path.join(primaryDir(), 'keys', `admin-${PREFIX}.key.pem`), 'utf8'), format: 'pem' });
    const stranger = new ReplicationClient(server(primary), { handle: `0.NA/${PREFIX}`, index: 300, key: admin }, 3000);
    await assert.rejects(stranger.nextTxnId(), (e: unknown) => e instanceof ReplicationRefused && e.responseCode === ResponseCode.INVALID_ADMIN);
    let streamed = 0;
    await assert.rejects(
      stranger.retrieve({ lastTxnId: 0, lastQueryDate: 0, hashType: 0, numServers: 1, serverNum: 0 }, { data: (c) => ((streamed += c.length), false) }),
      (e: unknown) => e instanceof ReplicationRefused && e.responseCode === ResponseCode.INVALID_ADMIN,
    );
    assert.equal(streamed, 0, 'no byte of the stream');
    // A mirror's identity with the wrong key fails its proof.
    const wrongKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const impostor = new ReplicationClient(server(primary), { handle: `0.NA/${PREFIX}`, index: 301, key: wrongKey }, 3000);
    await assert.rejects(impostor.nextTxnId(), (e: unknown) => e instanceof ReplicationRefused && e.responseCode === ResponseCode.AUTHENTICATION_FAILED);
    // Without any proof, the answer is a challenge; over UDP, a protocol error.
    const [challenge] = await client.tcpSend(server(primary), encodeRequest({ opCode: OpCode.RETRIEVE_TXN_LOG, body: encodeRetrieveTxnRequest({ lastTxnId: 0, lastQueryDate: 0, hashType: 0, numServers: 1, serverNum: 0 }) }));
    assert.equal(challenge!.header.responseCode, ResponseCode.AUTHENTICATION_NEEDED);
  });

  test('a mirror whose place in the log was pruned re-copies by itself and converges; a restarted mirror resumes from its position', async () => {
    await nodes.stop(mirrorB);
    const dir = primaryDir();
    for (let i = 0; i < 5; i++) assert.equal((await cli(['register', `${PREFIX}/WHILE-AWAY-${i}`, '--dir', dir, '--value', 'URL=https://example.cn/away'])).code, 0);
    assert.equal((await cli(['delete', `${PREFIX}/SEED-3`, '--dir', dir])).code, 0);
    // The primary keeps only its newest entry: mirror B's place is gone.
    assert.ok(primary.registry!.pruneTxnLog(1, 0) > 0);
    mirrorB = await nodes.startDir(path.join(nodes.root, 'mirror-b'));
    const before = mirrorB.replication!.mirror!.stats.recopies;
    await converged(primary, mirrorB);
    assert.equal(mirrorB.replication!.mirror!.stats.recopies, before + 1, 're-copied once');
    assert.deepEqual(contents(mirrorB), contents(primary));
    assert.equal(mirrorB.registry!.exists(`${PREFIX}/SEED-3`), false, 'a handle deleted while it was away is gone');

    // Mirror A, restarted, resumes from the position it committed: no copy.
    const position = mirrorA.replication!.mirror!.stats.position;
    await nodes.stop(mirrorA);
    assert.equal((await cli(['register', `${PREFIX}/AFTER-RESTART`, '--dir', dir, '--value', 'URL=https://example.cn/after'])).code, 0);
    mirrorA = await nodes.startDir(path.join(nodes.root, 'mirror-a'));
    assert.equal(mirrorA.replication!.mirror!.stats.position, position);
    await converged(primary, mirrorA);
    assert.equal(mirrorA.replication!.mirror!.stats.recopies, 0, 'no copy after a restart');
    assert.deepEqual(contents(mirrorA), contents(primary));
  });
});
