// A prefix served by a primary site and a mirror site: the delegation's primary flag, failover of a resolver
// and of `idres resolve --root` when either site is down, and mirror sites in the primary's own prefix handle
// (`prefix mirror add|remove`), which a restart of the primary keeps.
//
// Replication does not exist yet: the "mirror" is a second business node homing the same prefix, with the
// same identifiers written into both with the CLI.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { HandleClient } from '../src/client/handle-client.js';
import { ResponseCode } from '../src/protocol/constants.js';
import { decodeSite } from '../src/protocol/site.js';
import type { SiteInfo } from '../src/model/site.js';
import type { HandleValue } from '../src/model/value.js';
import type { Recursor } from '../src/resolve/recursor.js';
import type { IdresNode } from '../src/node/node.js';
import { cli } from './helpers/node.js';
import { Nodes, at, server } from './helpers/tiers.js';
import { TestClock } from './helpers/clock.js';

const PREFIX = '88.118.8';
const IDS: Array<[string, string]> = [
  ['88.118.8/PUMP-1', 'https://example.cn/p/pump-1'],
  ['88.118.8/PUMP-2', 'https://example.cn/p/pump-2'],
  ['88.118.8/PUMP-3', 'https://example.cn/p/pump-3'],
];

const sitesOf = (values: HandleValue[], type: string): Array<{ index: number; site: SiteInfo }> =>
  values.filter((v) => v.type === type).map((v) => ({ index: v.index, site: decodeSite(v.data) }));
const portOf = (s: SiteInfo) => s.servers[0]!.interfaces[0]!.port;

/** A top-level node delegating 88.118.8 to a primary and a mirror (both holding IDS), and a resolver rooted at the top. */
async function twoSiteHierarchy(nodes: Nodes, clock: TestClock) {
  const top = await nodes.start('top', { roles: ['top'], prefixes: ['88'] });
  const primary = await nodes.start('primary', { prefixes: [PREFIX] });
  const mirror = await nodes.start('mirror', { prefixes: [PREFIX] });
  const d = await cli(['prefix', 'delegate', PREFIX, '--dir', path.join(nodes.root, 'top'), '--site', at(primary), '--site', at(mirror)]);
  assert.equal(d.code, 0, d.stderr);
  for (const name of ['primary', 'mirror']) {
    for (const [h, url] of IDS) {
      const r = await cli(['register', h, '--dir', path.join(nodes.root, name), '--value', `URL=${url}`]);
      assert.equal(r.code, 0, r.stderr);
    }
  }
  const resolver = await nodes.start('resolver', { roles: ['resolver'], roots: [at(top)] }, undefined, 0, { clock: clock.now });
  return { top, primary, mirror, resolver };
}

/** `idres resolve --root` as a user runs it, with how long it took. */
async function walkWithCli(top: IdresNode, handle: string): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  const r = await cli(['resolve', handle, '--root', at(top), '--json'], { timeoutMs: 20000 });
  return { ...r, ms: Date.now() - t0 };
}

describe('a prefix with a primary and a mirror site: the primary is down', () => {
  const nodes = new Nodes();
  const clock = new TestClock();
  const client = new HandleClient({ udpTimeoutsMs: [400, 800], tcpTimeoutMs: 5000 });
  let h: Awaited<ReturnType<typeof twoSiteHierarchy>>;

  before(async () => {
    h = await twoSiteHierarchy(nodes, clock);
  });
  after(async () => {
    client.close();
    await nodes.stopAll();
  });

  test('the delegation lists both sites, the primary flag on the first only (HS_SITE and HS_SITE.PREFIX)', async () => {
    const r = await client.resolve(server(h.top), `0.NA/${PREFIX}`);
    assert.equal(r.responseCode, ResponseCode.SUCCESS);
    for (const type of ['HS_SITE', 'HS_SITE.PREFIX']) {
      const sites = sitesOf(r.values, type).map((x) => x.site);
      assert.deepEqual(sites.map(portOf), [h.primary.port, h.mirror.port], type);
      assert.deepEqual(sites.map((s) => s.primary), [true, false], type);
      // Each site's record carries its own server's key, fetched from it.
      assert.deepEqual(sites[1]!.servers[0]!.publicKey, h.mirror.site.servers[0]!.publicKey);
    }
    const list = await cli(['prefix', 'list', '--dir', path.join(nodes.root, 'top')]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`HS_SITE 127\\.0\\.0\\.1:${h.primary.port} \\(primary\\); HS_SITE 127\\.0\\.0\\.1:${h.mirror.port} \\(mirror\\)`));
  });

  test('with the primary stopped, a resolver answers through the mirror, and then asks the mirror first', async (t) => {
    await nodes.stop(h.primary);
    const recursor = h.resolver.upstream as Recursor;
    const primaryLabel = `127.0.0.1:${h.primary.port}`;
    const t0 = Date.now();
    const r1 = await client.resolve(server(h.resolver), IDS[0]![0]);
    t.diagnostic(`first resolution with the primary down: ${Date.now() - t0} ms`);
    assert.equal(r1.responseCode, ResponseCode.SUCCESS);
    assert.equal(r1.values[0]!.data.toString(), IDS[0]![1]);
    const failed = recursor.stats.upstreamFailures.get(primaryLabel) ?? 0;
    assert.ok(failed >= 1, 'the primary was tried and failed');

    // The next identifier of the prefix goes to the mirror without trying the dead primary again.
    const t1 = Date.now();
    const r2 = await client.resolve(server(h.resolver), IDS[1]![0]);
    t.diagnostic(`second resolution: ${Date.now() - t1} ms`);
    assert.equal(r2.responseCode, ResponseCode.SUCCESS);
    assert.equal(r2.values[0]!.data.toString(), IDS[1]![1]);
    assert.equal(recursor.stats.upstreamFailures.get(primaryLabel) ?? 0, failed, 'the primary was not asked again');

    // Once the primary has been down for longer than the resolver remembers, it is tried first again (and fails over again).
    clock.advance(31_000);
    const r3 = await client.resolve(server(h.resolver), IDS[2]![0]);
    assert.equal(r3.responseCode, ResponseCode.SUCCESS);
    assert.equal(recursor.stats.upstreamFailures.get(primaryLabel), failed + 1);
  });

  test('with the primary stopped, `idres resolve --root` walks to the mirror', async (t) => {
    const r = await walkWithCli(h.top, IDS[0]![0]);
    t.diagnostic(`idres resolve --root with the primary down: ${r.ms} ms`);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { responseCode: number; values: Array<{ type: string; data: { value: string } }> };
    assert.equal(out.responseCode, ResponseCode.SUCCESS);
    assert.equal(out.values[0]!.data.value, IDS[0]![1]);
  });
});

describe('a prefix with a primary and a mirror site: the mirror is down', () => {
  const nodes = new Nodes();
  const clock = new TestClock();
  const client = new HandleClient({ udpTimeoutsMs: [400, 800], tcpTimeoutMs: 5000 });
  let h: Awaited<ReturnType<typeof twoSiteHierarchy>>;

  before(async () => {
    h = await twoSiteHierarchy(nodes, clock);
    await nodes.stop(h.mirror);
  });
  after(async () => {
    client.close();
    await nodes.stopAll();
  });

  test('a resolver answers through the primary without asking the mirror', async (t) => {
    const t0 = Date.now();
    const r = await client.resolve(server(h.resolver), IDS[0]![0]);
    t.diagnostic(`resolution with the mirror down: ${Date.now() - t0} ms`);
    assert.equal(r.responseCode, ResponseCode.SUCCESS);
    assert.equal(r.values[0]!.data.toString(), IDS[0]![1]);
    assert.equal((h.resolver.upstream as Recursor).stats.upstreamFailures.size, 0, 'no server failed: the primary is asked first');
  });

  test('`idres resolve --root` answers through the primary', async (t) => {
    const r = await walkWithCli(h.top, IDS[1]![0]);
    t.diagnostic(`idres resolve --root with the mirror down: ${r.ms} ms`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { responseCode: number }).responseCode, ResponseCode.SUCCESS);
  });
});

describe('prefix mirror add|remove on the primary’s own prefix handle', () => {
  const nodes = new Nodes();
  const client = new HandleClient({ udpTimeoutsMs: [400, 800], tcpTimeoutMs: 5000 });
  let primary: IdresNode, mirror: IdresNode;
  const primaryDir = () => path.join(nodes.root, 'primary');
  const ownValues = async () => {
    const r = await client.resolve(server(primary), `0.NA/${PREFIX}`);
    assert.equal(r.responseCode, ResponseCode.SUCCESS);
    return r.values;
  };

  before(async () => {
    primary = await nodes.start('primary', { prefixes: [PREFIX] });
    mirror = await nodes.start('mirror', { prefixes: [PREFIX] });
  });
  after(async () => {
    client.close();
    await nodes.stopAll();
  });

  test('add writes a non-primary HS_SITE with the mirror’s key; a restart of the primary refreshes its own site and keeps the mirror', async () => {
    const r = await cli(['prefix', 'mirror', 'add', PREFIX, '--dir', primaryDir(), '--site', at(mirror)]);
    assert.equal(r.code, 0, r.stderr);
    let sites = sitesOf(await ownValues(), 'HS_SITE');
    assert.deepEqual(sites.map((s) => [s.index, portOf(s.site), s.site.primary]), [[1, primary.port, true], [2, mirror.port, false]]);
    assert.deepEqual(sites[1]!.site.servers[0]!.publicKey, mirror.site.servers[0]!.publicKey);
    // The own handle has no HS_SITE.PREFIX, so none is added.
    assert.equal(sitesOf(await ownValues(), 'HS_SITE.PREFIX').length, 0);

    // Listing the same site twice is refused.
    const again = await cli(['prefix', 'mirror', 'add', PREFIX, '--dir', primaryDir(), '--site', at(mirror), '--no-fetch-keys']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already lists/);

    // The primary restarts on another (ephemeral) port: its own site follows it, the mirror's stays.
    const oldPort = primary.port;
    await nodes.stop(primary);
    primary = await nodes.startDir(primaryDir());
    assert.notEqual(primary.port, oldPort);
    sites = sitesOf(await ownValues(), 'HS_SITE');
    assert.deepEqual(sites.map((s) => [s.index, portOf(s.site), s.site.primary]), [[1, primary.port, true], [2, mirror.port, false]]);

    const list = await cli(['prefix', 'list', '--dir', primaryDir()]);
    assert.match(list.stdout, new RegExp(`HS_SITE 127\\.0\\.0\\.1:${primary.port} \\(primary\\); HS_SITE 127\\.0\\.0\\.1:${mirror.port} \\(mirror\\)`));
  });

  test('remove takes the mirror out and refuses the primary', async () => {
    const own = await cli(['prefix', 'mirror', 'remove', PREFIX, '--dir', primaryDir(), '--site', at(primary)]);
    assert.notEqual(own.code, 0);
    assert.match(own.stderr, /primary site/);

    const r = await cli(['prefix', 'mirror', 'remove', PREFIX, '--dir', primaryDir(), '--site', at(mirror)]);
    assert.equal(r.code, 0, r.stderr);
    const sites = sitesOf(await ownValues(), 'HS_SITE');
    assert.deepEqual(sites.map((s) => [s.index, portOf(s.site)]), [[1, primary.port]]);

    const gone = await cli(['prefix', 'mirror', 'remove', PREFIX, '--dir', primaryDir(), '--site', at(mirror)]);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /lists no site/);
  });

  test('on a handle serving derived prefixes, add writes HS_SITE.PREFIX beside HS_SITE, and remove takes both', async () => {
    // A parent's delegation (written by prefix delegate, with HS_SITE.PREFIX): a mirror added to it later.
    const top = await nodes.start('top', { roles: ['top'], prefixes: ['88'] });
    const topDir = path.join(nodes.root, 'top');
    let r = await cli(['prefix', 'delegate', PREFIX, '--dir', topDir, '--site', at(primary), '--no-fetch-keys']);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(['prefix', 'mirror', 'add', PREFIX, '--dir', topDir, '--site', at(mirror)]);
    assert.equal(r.code, 0, r.stderr);
    const values = (await client.resolve(server(top), `0.NA/${PREFIX}`)).values;
    for (const type of ['HS_SITE', 'HS_SITE.PREFIX']) {
      assert.deepEqual(sitesOf(values, type).map((s) => [portOf(s.site), s.site.primary]), [[primary.port, true], [mirror.port, false]], type);
    }
    r = await cli(['prefix', 'mirror', 'remove', PREFIX, '--dir', topDir, '--site', at(mirror)]);
    assert.equal(r.code, 0, r.stderr);
    const after = (await client.resolve(server(top), `0.NA/${PREFIX}`)).values;
    assert.deepEqual(after.filter((v) => v.type.startsWith('HS_SITE')).map((v) => portOf(decodeSite(v.data))), [primary.port, primary.port]);
  });
});
