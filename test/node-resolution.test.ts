// A business node end to end: identifiers registered through the CLI, resolved over real UDP and TCP
// sockets on loopback with the project's client.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HandleClient } from '../src/client/handle-client.js';
import { OpFlag, ResponseCode } from '../src/protocol/constants.js';
import { decodeAdmin } from '../src/protocol/admin-data.js';
import { decodePublicKey } from '../src/protocol/pubkey.js';
import { cli, startTestNode, type TestNode } from './helpers/node.js';

describe('a business node homing 88.118.8', () => {
  let t: TestNode;
  const client = new HandleClient({ udpTimeoutsMs: [300, 600], tcpTimeoutMs: 5000 });

  before(async () => {
    t = await startTestNode();
    const reg = async (...args: string[]) => {
      const r = await cli(['register', '--dir', t.dir, ...args]);
      assert.equal(r.code, 0, r.stderr);
    };
    await reg('88.118.8/ABC123', '--value', 'URL=https://example.com/product/ABC123', '--value', 'EMAIL=owner@example.com',
      '--value', 'productName=Widget 中文', '--private', '20:internal.cost=12.50 CNY');
    const big = Array.from({ length: 60 }, (_, i) => ['--value', `${i + 1}:DESC=${String(i + 1).padEnd(1000, 'x')}`]).flat();
    await reg('88.118.8/BIG', ...big);
    await reg('88.118.8/SECRET', '--private', 'note=admins only');
  });
  after(async () => {
    client.close();
    await t.stop();
  });

  for (const transport of ['udp', 'tcp'] as const) {
    test(`resolves every public value over ${transport.toUpperCase()}`, async () => {
      const r = await client.resolve(t.server, '88.118.8/ABC123', { transport });
      assert.equal(r.responseCode, ResponseCode.SUCCESS);
      assert.equal(r.transport, transport);
      assert.equal(r.handle, '88.118.8/ABC123');
      assert.deepEqual(r.values.map((v) => [v.index, v.type, v.data.toString()]).slice(0, 3), [
        [1, 'URL', 'https://example.com/product/ABC123'],
        [2, 'EMAIL', 'owner@example.com'],
        [3, 'productName', 'Widget 中文'],
      ]);
      // The default admin value names the prefix administrator; the private value is never sent.
      assert.deepEqual(r.values.map((v) => v.index), [1, 2, 3, 100]);
      assert.deepEqual(decodeAdmin(r.values[3]!.data), { permissions: 0x0fff, handle: '0.NA/88.118.8', index: 300 });
      assert.ok(r.values.every((v) => v.timestamp > 1_700_000_000 && v.ttl === 86400));
      // As the reference: AT set on the answer, the request's flags echoed, our site serial.
      assert.ok(r.packet.header.opFlags & OpFlag.AT);
      assert.ok(r.packet.header.opFlags & OpFlag.PO);
      assert.equal(r.packet.header.siteSerial, 1);
    });
  }

  test('filters by type and index as a union, types without regard to case, "X." by prefix', async () => {
    const pick = async (types: string[], indexes: number[]) =>
      (await client.resolve(t.server, '88.118.8/ABC123', { types, indexes })).values.map((v) => v.index);
    assert.deepEqual(await pick(['URL'], [2]), [1, 2]);
    assert.deepEqual(await pick(['url', 'Email'], []), [1, 2]);
    assert.deepEqual(await pick(['HS_'], []), [], 'a type without a trailing dot matches exactly');
    assert.deepEqual(await pick([], [3, 100]), [3, 100]);
    const prefixed = await client.resolve(t.server, '0.NA/88.118.8', { types: ['HS_SITE.', 'HS_PUBKEY'] });
    assert.deepEqual(prefixed.values.map((v) => v.type), ['HS_PUBKEY']);
    const site = await client.resolve(t.server, '0.NA/88.118.8', { types: ['HS_SITE'] });
    assert.deepEqual(site.values.map((v) => v.type), ['HS_SITE']);
  });

  test('100 for a handle that does not exist, 200 when nothing matches, 301 for a prefix not homed', async () => {
    const nf = await client.resolve(t.server, '88.118.8/NOPE');
    assert.equal(nf.responseCode, ResponseCode.HANDLE_NOT_FOUND);
    const nv = await client.resolve(t.server, '88.118.8/ABC123', { types: ['NOSUCH'] });
    assert.equal(nv.responseCode, ResponseCode.VALUES_NOT_FOUND);
    const nh = await client.resolve(t.server, '88.999/ABC123');
    assert.equal(nh.responseCode, ResponseCode.SERVER_NOT_RESP);
    assert.equal(nh.message, "That prefix doesn't live here");
    const parent = await client.resolve(t.server, '88.118/ABC123');
    assert.equal(parent.responseCode, ResponseCode.SERVER_NOT_RESP);
  });

  test('values without PUBLIC_READ are never returned to an unauthenticated request: left out with PO, challenged (402) without', async () => {
    for (const flags of [OpFlag.CA | OpFlag.PO, OpFlag.CA, 0]) {
      const publicOnly = (flags & OpFlag.PO) !== 0;
      for (const transport of ['udp', 'tcp'] as const) {
        const all = await client.resolve(t.server, '88.118.8/ABC123', { flags, transport });
        assert.equal(all.responseCode, publicOnly ? ResponseCode.SUCCESS : ResponseCode.AUTHENTICATION_NEEDED);
        assert.ok(!all.values.some((v) => v.index === 20), 'internal.cost is absent');
        assert.ok(!all.packet.body.includes(Buffer.from('12.50 CNY')));
        const asked = await client.resolve(t.server, '88.118.8/ABC123', { flags, transport, indexes: [20] });
        assert.equal(asked.responseCode, publicOnly ? ResponseCode.VALUES_NOT_FOUND : ResponseCode.AUTHENTICATION_NEEDED);
        const secret = await client.resolve(t.server, '88.118.8/SECRET', { flags, transport, types: ['note'] });
        assert.equal(secret.responseCode, publicOnly ? ResponseCode.VALUES_NOT_FOUND : ResponseCode.AUTHENTICATION_NEEDED);
        assert.ok(!secret.packet.body.includes(Buffer.from('admins only')));
        // Asking only for public values needs no authentication, PO or not.
        const open = await client.resolve(t.server, '88.118.8/ABC123', { flags, transport, types: ['URL'] });
        assert.equal(open.responseCode, ResponseCode.SUCCESS);
      }
    }
  });

  test('the suffix is matched without regard to case by default; the prefix always', async () => {
    const r = await client.resolve(t.server, '88.118.8/abc123');
    assert.equal(r.responseCode, ResponseCode.SUCCESS);
    assert.equal(r.handle, '88.118.8/abc123', 'the handle is echoed as asked');
    assert.equal(r.values.length, 4);
  });

  test('a 60 × 1000-byte handle: many UDP fragments reassembled, the same over TCP', async () => {
    const u = await client.resolve(t.server, '88.118.8/BIG', { transport: 'udp' });
    const c = await client.resolve(t.server, '88.118.8/BIG', { transport: 'tcp' });
    assert.equal(u.responseCode, ResponseCode.SUCCESS);
    assert.equal(u.values.length, 61);
    assert.deepEqual(u.values, c.values);
    assert.equal(u.values[59]!.data.toString(), '60'.padEnd(1000, 'x'));
    assert.ok(u.packet.envelope.messageLength > 60000);
  });

  test('GET_SITE_INFO returns the node site: version 2.11, its port over UDP and TCP, its public key', async () => {
    for (const transport of ['udp', 'tcp'] as const) {
      const site = await client.siteInfo(t.server, transport);
      assert.deepEqual([site.protocolMajor, site.protocolMinor, site.primary, site.serial], [2, 11, true, 1]);
      const s = site.servers[0]!;
      assert.equal(s.address, '127.0.0.1');
      assert.deepEqual(s.interfaces, [
        { type: 3, protocol: 1, port: t.node.port },
        { type: 2, protocol: 0, port: t.node.port },
      ]);
      assert.equal(decodePublicKey(s.publicKey).asymmetricKeyDetails?.modulusLength, 2048);
    }
    // The prefix handle's HS_SITE says the same.
    const ph = await client.resolve(t.server, '0.NA/88.118.8', { types: ['HS_SITE'] });
    const { decodeSite } = await import('../src/protocol/site.js');
    assert.equal(decodeSite(ph.values[0]!.data).servers[0]!.interfaces[0]!.port, t.node.port);
  });

  test('the CLI resolves over UDP and TCP, takes hdl: URIs and URLs, prints JSON in the REST shape', async () => {
    const server = `127.0.0.1:${t.node.port}`;
    for (const id of ['88.118.8/ABC123', 'hdl:88.118.8/ABC123', `https://id.example.cn/88.118.8/ABC123?from=qr`]) {
      for (const mode of ['--udp', '--tcp']) {
        const r = await cli(['resolve', id, '--server', server, mode, '--json']);
        assert.equal(r.code, 0, r.stderr);
        const j = JSON.parse(r.stdout) as { responseCode: number; values: Array<{ index: number; type: string; data: { format: string; value: unknown } }> };
        assert.equal(j.responseCode, 1);
        assert.deepEqual(j.values[0]!.data, { format: 'string', value: 'https://example.com/product/ABC123' });
        assert.deepEqual(j.values[3]!.data, { format: 'admin', value: { handle: '0.NA/88.118.8', index: 300, permissions: '111111111111' } });
      }
    }
    const table = await cli(['resolve', '88.118.8/ABC123', '--server', server, '--type', 'EMAIL']);
    assert.match(table.stdout, /2\s+EMAIL\s+86400s\s+rwr-\s+owner@example\.com/);
    const missing = await cli(['resolve', '88.118.8/NOPE', '--server', server]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /HANDLE_NOT_FOUND \(100\)/);
  });

  test('register refuses what it cannot store, and keeps what is stored', async () => {
    const bad = await cli(['register', '88.118.8/ABC123', '--dir', t.dir, '--value', 'URL=https://changed']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /already exists/);
    const unhomed = await cli(['register', '88.7/X', '--dir', t.dir, '--value', 'URL=x']);
    assert.match(unhomed.stderr, /not homed/);
    const syntax = await cli(['register', '88.118.8/X', '--dir', t.dir, '--value', 'no-equals-sign']);
    assert.match(syntax.stderr, /\[INDEX:\]TYPE=DATA/);
    const nosuffix = await cli(['register', '88.118.8/', '--dir', t.dir, '--value', 'URL=x']);
    assert.match(nosuffix.stderr, /empty suffix/);
    const r = await client.resolve(t.server, '88.118.8/ABC123', { types: ['URL'] });
    assert.equal(r.values[0]!.data.toString(), 'https://example.com/product/ABC123');
  });

  test('a damaged registry row gets RC 2 (ERROR) over UDP and TCP, and every other identifier is still answered', async () => {
    const reg = await cli(['register', '--dir', t.dir, '88.118.8/DAMAGED', '--value', 'URL=https://example.com/d']);
    assert.equal(reg.code, 0, reg.stderr);
    t.node.registry!.db.prepare("UPDATE handles SET vals = substr(vals, 1, 12) WHERE handle_key = '88.118.8/DAMAGED'").run();
    for (const transport of ['udp', 'tcp'] as const) {
      const bad = await client.resolve(t.server, '88.118.8/DAMAGED', { transport });
      assert.equal(bad.responseCode, ResponseCode.ERROR);
      const good = await client.resolve(t.server, '88.118.8/ABC123', { transport });
      assert.equal(good.responseCode, ResponseCode.SUCCESS);
    }
  });
});
