// The three tiers and a resolver on loopback: delegation written by the CLI, referrals, recursion through
// the tiers, the hot cache (hits without upstream queries, TTL expiry, serve-stale, local writes),
// failover inside a two-server site, and the bounds that end loops.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import path from 'node:path';
import { HandleClient } from '../src/client/handle-client.js';
import { OpCode, OpFlag, ResponseCode } from '../src/protocol/constants.js';
import { decodeSite } from '../src/protocol/site.js';
import { decodePacket } from '../src/protocol/message.js';
import { encodeResolutionRequest } from '../src/protocol/bodies.js';
import type { Forwarder } from '../src/resolve/forwarder.js';
import { encodeRequest } from '../src/client/request.js';
import { selectServerIndex } from '../src/model/site.js';
import { delegatePrefix, siteOf } from '../src/admin/delegation.js';
import { Recursor, type UpstreamAnswer } from '../src/resolve/recursor.js';
import { ResolutionFailure } from '../src/resolve/answer.js';
import type { IdresNode } from '../src/node/node.js';
import { cli } from './helpers/node.js';
import { udpExchange } from './helpers/raw.js';
import { Nodes, at, server } from './helpers/tiers.js';
import { TestClock } from './helpers/clock.js';

/** A UDP port with nothing behind it (bound, then closed). */
async function deadPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('the hierarchy: top-level 88 → secondary 88.118 → business 88.118.8, and a resolver', () => {
  const nodes = new Nodes();
  const client = new HandleClient({ udpTimeoutsMs: [400, 800], tcpTimeoutMs: 5000 });
  let top: IdresNode, secondary: IdresNode, business: IdresNode, resolver: IdresNode;
  const businessUpstreamQueries = () => business.handler.stats.requests;
  const resolverUpstream = () => (resolver.upstream as Recursor).stats;
  // The resolver's clock: TTLs, the negative TTL and the stale window pass when a test moves it.
  const clock = new TestClock();

  before(async () => {
    top = await nodes.start('top', { roles: ['top'], prefixes: ['88'] });
    secondary = await nodes.start('secondary', { roles: ['secondary'], prefixes: ['88.118'] });
    business = await nodes.start('business', { prefixes: ['88.118.8'] });
    // Delegations, as an operator makes them: with the CLI on each parent (the node is running).
    let r = await cli(['prefix', 'delegate', '88.118.8', '--dir', path.join(nodes.root, 'secondary'), '--site', at(business)]);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(['prefix', 'delegate', '88.118', '--dir', path.join(nodes.root, 'top'), '--site', at(secondary)]);
    assert.equal(r.code, 0, r.stderr);
    resolver = await nodes.start('resolver', { roles: ['resolver'], roots: [at(top)] }, (c) => {
      c.cache = { staleWindowSeconds: 2, negativeTtlSeconds: 1 };
    }, 0, { clock: clock.now });
    for (const [h, v] of [
      ['88.118.8/PUMP-1', 'URL=https://example.cn/p/pump-1'],
      ['88.118.8/PUMP-2', 'URL=https://example.cn/p/pump-2'],
      ['88.118.8/SHORT', 'URL=https://example.cn/p/short'],
      ['88.118.8/WRITE', 'URL=https://example.cn/p/v1'],
    ]) {
      const ttl = h.endsWith('SHORT') ? ['--ttl', '1'] : [];
      r = await cli(['register', h, '--dir', path.join(nodes.root, 'business'), '--value', v, ...ttl]);
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(async () => {
    client.close();
    await nodes.stopAll();
  });

  test('the delegation written by the CLI carries the child site, its port and its public key', async () => {
    const r = await client.resolve(server(secondary), '0.NA/88.118.8');
    assert.equal(r.responseCode, ResponseCode.SUCCESS);
    assert.deepEqual(r.values.map((v) => v.type), ['HS_SITE', 'HS_SITE.PREFIX', 'HS_ADMIN']);
    const site = decodeSite(r.values[0]!.data);
    assert.equal(site.servers[0]!.interfaces[0]!.port, business.port);
    assert.deepEqual(site.servers[0]!.publicKey, business.site.servers[0]!.publicKey);
    const list = await cli(['prefix', 'list', '--dir', path.join(nodes.root, 'secondary')]);
    assert.match(list.stdout, new RegExp(`0\\.NA/88\\.118\\.8: HS_SITE 127\\.0\\.0\\.1:${business.port}`));
  });

  test('prefix handles are answered as the reference: values, 303 from an ancestor, 100 under a homed prefix, 301', async () => {
    // The reference client's own prefix query, as captured, asked of the top-level node.
    const req = encodeRequest({
      opCode: OpCode.RESOLUTION,
      body: encodeResolutionRequest('0.NA/88.118.8', [], ['HS_SITE', 'HS_SITE.6', 'HS_SERV', 'HS_NAMESPACE']),
      flags: OpFlag.REC | OpFlag.CA | OpFlag.PO,
      requestId: 0x1234,
    });
    const [d] = await udpExchange(top.port, [req], 300);
    const p = decodePacket(d!);
    assert.equal(p.header.responseCode, ResponseCode.PREFIX_REFERRAL);
    const ref = await client.resolve(server(top), '0.NA/88.118.8', { types: ['HS_SITE'] });
    assert.equal(ref.handle, '', 'the referral carries an empty handle');
    assert.deepEqual(ref.values.map((v) => v.type), ['HS_SITE.PREFIX']);
    assert.equal(decodeSite(ref.values[0]!.data).servers[0]!.interfaces[0]!.port, secondary.port);
    assert.equal((await client.resolve(server(top), '0.NA/88.118')).responseCode, ResponseCode.SUCCESS);
    assert.equal((await client.resolve(server(top), '0.NA/88.5')).responseCode, ResponseCode.HANDLE_NOT_FOUND);
    assert.equal((await client.resolve(server(top), '0.NA/99.1')).responseCode, ResponseCode.SERVER_NOT_RESP);
    // Without REC, a node that is not a resolver does not resolve what it does not home.
    assert.equal((await client.resolve(server(top), '88.118.8/PUMP-1')).responseCode, ResponseCode.SERVER_NOT_RESP);
  });

  test('a resolver walks the tiers for a scanner’s single query; the second is answered from cache', async () => {
    const b0 = businessUpstreamQueries();
    const u0 = resolverUpstream().upstreamQueries;
    const r1 = await client.resolve(server(resolver), '88.118.8/PUMP-1');
    assert.equal(r1.responseCode, ResponseCode.SUCCESS);
    assert.equal(r1.values[0]!.data.toString(), 'https://example.cn/p/pump-1');
    const walkQueries = resolverUpstream().upstreamQueries - u0;
    assert.equal(walkQueries, 3, 'top (303), secondary (site), business (the handle)');
    assert.equal(businessUpstreamQueries() - b0, 1);

    const r2 = await client.resolve(server(resolver), '88.118.8/PUMP-1', { transport: 'tcp' });
    assert.deepEqual(r2.values, r1.values);
    assert.equal(resolverUpstream().upstreamQueries - u0, walkQueries, 'no upstream query for the second');
    assert.equal(businessUpstreamQueries() - b0, 1);

    // Another handle of the same prefix costs one query: the prefix's site is cached.
    await client.resolve(server(resolver), '88.118.8/PUMP-2');
    assert.equal(resolverUpstream().upstreamQueries - u0, walkQueries + 1);
  });

  test('concurrent misses for one handle share one upstream query', async () => {
    const b0 = businessUpstreamQueries();
    const rs = await Promise.all(Array.from({ length: 20 }, () => client.resolve(server(resolver), '88.118.8/WRITE')));
    assert.ok(rs.every((r) => r.responseCode === ResponseCode.SUCCESS));
    assert.equal(businessUpstreamQueries() - b0, 1);
  });

  test('the CLI walks the same hierarchy from the root', async () => {
    const r = await cli(['resolve', '88.118.8/PUMP-2', '--root', at(top), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { values: Array<{ data: { value: string } }> };
    assert.equal(j.values[0]!.data.value, 'https://example.cn/p/pump-2');
    const missing = await cli(['resolve', '88.77/X', '--root', at(top)]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /HANDLE_NOT_FOUND/);
  });

  test('negative answers are cached briefly and then asked again', async () => {
    const b0 = businessUpstreamQueries();
    assert.equal((await client.resolve(server(resolver), '88.118.8/NOT-YET')).responseCode, ResponseCode.HANDLE_NOT_FOUND);
    assert.equal((await client.resolve(server(resolver), '88.118.8/NOT-YET')).responseCode, ResponseCode.HANDLE_NOT_FOUND);
    assert.equal(businessUpstreamQueries() - b0, 1);
    const r = await cli(['register', '88.118.8/NOT-YET', '--dir', path.join(nodes.root, 'business'), '--value', 'URL=x']);
    assert.equal(r.code, 0, r.stderr);
    clock.advance(1100); // past the negative TTL (1 s)
    assert.equal((await client.resolve(server(resolver), '88.118.8/NOT-YET')).responseCode, ResponseCode.SUCCESS);
  });

  test('local writes are seen at once on the authoritative node, whose cache held the old answer', async () => {
    const before = await client.resolve(server(business), '88.118.8/WRITE');
    await client.resolve(server(business), '88.118.8/WRITE');
    assert.ok(business.pipeline.cache.stats.hits > 0, 'the business node caches its hot answers');
    const r = await cli(['register', '88.118.8/WRITE', '--overwrite', '--dir', path.join(nodes.root, 'business'), '--value', 'URL=https://example.cn/p/v2']);
    assert.equal(r.code, 0, r.stderr);
    const afterWrite = await client.resolve(server(business), '88.118.8/WRITE');
    assert.equal(before.values[0]!.data.toString(), 'https://example.cn/p/v1');
    assert.equal(afterWrite.values[0]!.data.toString(), 'https://example.cn/p/v2');
  });

  test('an answer is fetched again once its TTL has passed', async () => {
    const b0 = businessUpstreamQueries();
    await client.resolve(server(resolver), '88.118.8/SHORT');
    await client.resolve(server(resolver), '88.118.8/SHORT');
    assert.equal(businessUpstreamQueries() - b0, 1);
    clock.advance(1200); // past the values' TTL (1 s)
    const r = await client.resolve(server(resolver), '88.118.8/SHORT');
    assert.equal(r.responseCode, ResponseCode.SUCCESS);
    assert.equal(businessUpstreamQueries() - b0, 2);
  });

  test('RC 6 when a request has been through too many servers', async () => {
    const req = encodeRequest({ opCode: OpCode.RESOLUTION, body: encodeResolutionRequest('88.118.8/UNCACHED'), flags: OpFlag.REC | OpFlag.CA, requestId: 6 });
    req[20 + 14] = 8; // RecursionCount at the configured limit
    const [d] = await udpExchange(resolver.port, [req], 300);
    assert.equal(decodePacket(d!).header.responseCode, ResponseCode.RECURSION_COUNT_TOO_HIGH);
  });

  test('stale answers while the business node is down, then a clear error after the stale window', async () => {
    await client.resolve(server(resolver), '88.118.8/SHORT'); // fresh for 1 s, stale for 2 s more
    await nodes.stop(business);
    clock.advance(1100); // past the TTL, inside the stale window
    const stale = await client.resolve(server(resolver), '88.118.8/SHORT');
    assert.equal(stale.responseCode, ResponseCode.SUCCESS);
    assert.equal(stale.values[0]!.data.toString(), 'https://example.cn/p/short');
    assert.ok(resolver.pipeline.cache.stats.staleServed >= 1);
    clock.advance(2100); // past the stale window too
    const gone = await client.resolve(server(resolver), '88.118.8/SHORT');
    assert.equal(gone.responseCode, ResponseCode.ERROR, 'an error, not a stale answer (nor a hang: the client would time out)');
    assert.match(gone.message, /no server answered for 88\.118\.8\/SHORT/);
    assert.ok(resolverUpstream().upstreamFailures.get(at(business))! >= 1);
  });
});

describe('failover and the bounds of a walk', () => {
  const nodes = new Nodes();
  const client = new HandleClient({ udpTimeoutsMs: [400, 800], tcpTimeoutMs: 5000 });
  after(async () => {
    client.close();
    await nodes.stopAll();
  });

  test('a two-server site whose first-chosen server is down fails over to the second', async () => {
    const top = await nodes.start('top2', { roles: ['top'], prefixes: ['88'] });
    const live = await nodes.start('live', { prefixes: ['88.200'] });
    const dead = await deadPort();
    const site = siteOf([
      { address: '127.0.0.1', port: dead },
      { address: '127.0.0.1', port: live.port },
    ]);
    delegatePrefix(top.registry!, { prefix: '88.200', sites: [site] });
    top.noticeWrites();
    // A handle the site's hash sends to the dead server first.
    let handle = '';
    for (let i = 0; ; i++) {
      handle = `88.200/ITEM-${i}`;
      if (selectServerIndex(site, handle) === 0) break;
    }
    const r = await cli(['register', handle, '--dir', path.join(nodes.root, 'live'), '--value', 'URL=https://example.cn/failover']);
    assert.equal(r.code, 0, r.stderr);
    const resolver = await nodes.start('res2', { roles: ['resolver'], roots: [at(top)] });
    const got = await client.resolve(server(resolver), handle);
    assert.equal(got.responseCode, ResponseCode.SUCCESS);
    assert.equal(got.values[0]!.data.toString(), 'https://example.cn/failover');
    assert.ok(((resolver.upstream as Recursor).stats.upstreamFailures.get(`127.0.0.1:${dead}`) ?? 0) >= 1, 'the dead server was tried first');
  });

  test('a referral loop ends in a clear error', async () => {
    const a = await nodes.start('loop-a', {});
    const b = await nodes.start('loop-b', {});
    delegatePrefix(a.registry!, { prefix: '77', sites: [b.site] });
    delegatePrefix(b.registry!, { prefix: '77', sites: [a.site] });
    a.noticeWrites();
    b.noticeWrites();
    const recursor = new Recursor(client, { roots: [{ host: '127.0.0.1', udpPort: a.port, tcpPort: a.port }], maxReferrals: 40 });
    await assert.rejects(recursor.resolve('77.1/X', encodeResolutionRequest('77.1/X'), 0), (e: unknown) => e instanceof ResolutionFailure && /referral loop/.test(e.message));
    const resolver = await nodes.start('loop-res', { roles: ['resolver'], roots: [at(a)] });
    const r = await client.resolve(server(resolver), '77.1/X');
    assert.equal(r.responseCode, ResponseCode.ERROR);
    assert.match(r.message, /referral loop/);
    const viaCli = await cli(['resolve', '77.1/X', '--root', at(a)]);
    assert.match(viaCli.stderr, /referral loop/);
  });

  test('a referral chain longer than the bound ends in a clear error; within the bound it resolves', async () => {
    // n0 → n1 → n2 → n3: each refers 0.NA/66.x to the next (HS_SITE.PREFIX of 66); n3 homes 66.1.
    const chain: IdresNode[] = [];
    for (let i = 0; i < 4; i++) chain.push(await nodes.start(`chain-${i}`, i === 3 ? { prefixes: ['66.1'] } : {}));
    for (let i = 0; i < 3; i++) {
      delegatePrefix(chain[i]!.registry!, { prefix: '66', sites: [chain[i + 1]!.site] });
      chain[i]!.noticeWrites();
    }
    assert.equal((await cli(['register', '66.1/Y', '--dir', path.join(nodes.root, 'chain-3'), '--value', 'URL=https://example.cn/deep'])).code, 0);
    const roots = [{ host: '127.0.0.1', udpPort: chain[0]!.port, tcpPort: chain[0]!.port }];
    const short = new Recursor(client, { roots, maxReferrals: 2 });
    await assert.rejects(short.resolve('66.1/Y', encodeResolutionRequest('66.1/Y'), 0), (e: unknown) => e instanceof ResolutionFailure && /more than 2 referrals/.test(e.message));
    const enough = new Recursor(client, { roots, maxReferrals: 40 });
    const a: UpstreamAnswer = await enough.resolve('66.1/Y', encodeResolutionRequest('66.1/Y'), 0);
    assert.equal(a.responseCode, ResponseCode.SUCCESS);
    assert.equal(enough.stats.referralsFollowed, 3);
  });

  test('a node forwarding to itself stops at the recursion count limit (RC 6), not a hang', async () => {
    // The node must forward to its own port, so the port is chosen before it binds; another test process can
    // take it in between, so a taken port means another try on a fresh one.
    let self: IdresNode | undefined;
    let port = 0;
    for (let attempt = 0; !self; attempt++) {
      port = await deadPort();
      try {
        self = await nodes.start(`fwd-self-${attempt}`, { allowRecursion: true, upstream: `127.0.0.1:${port}` }, undefined, port);
      } catch (e) {
        if (attempt >= 4 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
      }
    }
    assert.equal(self.port, port);
    const r = await client.resolve(server(self), '55.1/X', { flags: OpFlag.REC | OpFlag.CA | OpFlag.PO });
    assert.equal(r.responseCode, ResponseCode.RECURSION_COUNT_TOO_HIGH);
    assert.equal((self.upstream as Forwarder).stats.upstreamQueries, 8, 'one forward per hop up to the limit');
  });
});
