// Cache poisoning of the resolver (docs/security.md): a forger that sees every query (it sits in front of the
// root, or of a business node, and relays to it) answers first with forgeries, each built to pass every check
// but one — from another port, from another loopback address, for another handle, with a wrong or missing
// digest, another opcode or RequestId, bytes that do not decode — then lets the real answer through. The
// resolver must believe only the real one and cache only it, and count each forgery. Queries go out from
// the resolver's listen address (127.0.0.3 here) on a new random port each, with RD; with
// recursion.requireCertified, answers that are unsigned or signed with another key are refused.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ClientError, HandleClient } from '../src/client/handle-client.js';
import { REFUSAL_REASONS, type RefusalReason } from '../src/client/answer-check.js';
import { OpCode, OpFlag, ResponseCode } from '../src/protocol/constants.js';
import { encodeHandleValues, encodeResolutionRequest, readDigest } from '../src/protocol/bodies.js';
import { decodePacket, encodePacket } from '../src/protocol/message.js';
import { Reader } from '../src/protocol/reader.js';
import { encodeSite } from '../src/protocol/site.js';
import { delegatePrefix, siteOf } from '../src/admin/delegation.js';
import { type HandleValue, makeValue } from '../src/model/value.js';
import type { Recursor } from '../src/resolve/recursor.js';
import type { Forwarder } from '../src/resolve/forwarder.js';
import type { IdresNode } from '../src/node/node.js';
import { Nodes } from './helpers/tiers.js';
import { FORGERIES, SpoofingProxy } from './helpers/spoof.js';

const REAL = 'https://example.cn/p/real';
const EVIL = 'https://evil.example/poisoned';

function register(n: IdresNode, handle: string, url: string): void {
  n.registry!.create(handle, [makeValue(1, 'URL', url)], { overwrite: true });
  n.noticeWrites();
}

/** What each forgery of FORGERIES should be counted as. */
const EXPECTED: Record<RefusalReason, number> = {
  address: 2, // other_port, other_address
  request_id: 1,
  handle: 1,
  digest: 2, // wrong_digest, no_digest
  opcode: 1,
  malformed: 2, // truncated_bytes, bad_body
  signature: 0,
};

describe('a resolver believes only the answers to the queries it sent', () => {
  const nodes = new Nodes();
  const client = new HandleClient({ udpTimeoutsMs: [3000], tcpTimeoutMs: 5000 });
  let top: IdresNode, business: IdresNode, evil: IdresNode, resolver: IdresNode;
  let rootProxy: SpoofingProxy, businessProxy: SpoofingProxy;
  const recursor = () => resolver.upstream as Recursor;
  const refused = () => ({ ...recursor().clientStats.refused });
  const at = () => ({ host: '127.0.0.3', port: resolver.port });

  before(async () => {
    top = await nodes.start('top', { roles: ['top'], prefixes: ['88'] });
    business = await nodes.start('business', { prefixes: ['88.118.8', '88.118.9'] });
    // What a poisoned resolver would end up asking: a node that answers the same handles with other values.
    evil = await nodes.start('evil', { prefixes: ['88.118.8', '88.118.9'] });
    for (const h of ['88.118.8/PUMP-1', '88.118.8/PUMP-2', '88.118.9/PUMP-9']) {
      register(business, h, REAL);
      register(evil, h, EVIL);
    }
    // The forgers' values: the evil node as the prefix's site, or the evil URL as the handle's value (each
    // forgery one datagram: the site without its key, so that the counts below are one per forgery).
    const evilSite = { ...evil.site, servers: evil.site.servers.map((s) => ({ ...s, publicKey: Buffer.alloc(0) })) };
    const evilValues = (handle: string): HandleValue[] =>
      handle.startsWith('0.NA/') ? [makeValue(1, 'HS_SITE', encodeSite(evilSite))] : [makeValue(1, 'URL', EVIL)];
    rootProxy = await SpoofingProxy.start(top.port, evilValues);
    businessProxy = await SpoofingProxy.start(business.port, evilValues);
    delegatePrefix(top.registry!, { prefix: '88.118.8', sites: [business.site] });
    // 88.118.9 is served (as far as the root says) through the second forger, in front of the business node.
    delegatePrefix(top.registry!, { prefix: '88.118.9', sites: [siteOf([{ address: '127.0.0.1', port: businessProxy.port }])] });
    top.noticeWrites();
    resolver = await nodes.start('resolver', { roles: ['resolver'], roots: [`127.0.0.1:${rootProxy.port}`] }, (c) => {
      c.listen = { host: '127.0.0.3', port: 0 };
      c.publicAddress = '127.0.0.3';
      // Long enough for every forgery and then the real answer to arrive within the first try.
      c.recursion = { ...(c.recursion as object), udpTimeoutsMs: [2000], tcpTimeoutMs: 1000 };
    });
  });
  after(async () => {
    client.close();
    rootProxy.close();
    businessProxy.close();
    await nodes.stopAll();
  });

  test('forgeries ahead of the root’s answer are dropped and counted; the real site is the one cached', async () => {
    rootProxy.mode = { forgeries: [...FORGERIES] };
    const before = refused();
    const r = await client.resolve(at(), '88.118.8/PUMP-1');
    assert.equal(r.responseCode, ResponseCode.SUCCESS);
    assert.equal(r.values[0]!.data.toString(), REAL);
    assert.equal(evil.handler.stats.requests, 0, 'no forged site was ever asked');
    const after = refused();
    for (const reason of REFUSAL_REASONS) assert.equal(after[reason] - before[reason], EXPECTED[reason], `refused for ${reason}`);
    assert.equal(rootProxy.seen.length, 1, 'one query to the root: the forgeries did not end the wait');

    // The site learnt is the real one: another handle of the prefix goes to the business node.
    rootProxy.mode = { forgeries: [] };
    const b0 = business.handler.stats.requests;
    const r2 = await client.resolve(at(), '88.118.8/PUMP-2');
    assert.equal(r2.values[0]!.data.toString(), REAL);
    assert.equal(business.handler.stats.requests - b0, 1);
    assert.equal(rootProxy.seen.length, 1, 'the site came from the cache');
    assert.equal(evil.handler.stats.requests, 0);

    // /metrics shows the drops by reason.
    const text = await resolver.http!.metrics.text();
    assert.match(text, /idres_upstream_answers_refused_total\{reason="digest"\} [1-9]/);
    assert.match(text, /idres_upstream_answers_refused_total\{reason="address"\} [1-9]/);
  });

  test('forgeries ahead of the business node’s answer are dropped; the cache holds the real values', async () => {
    rootProxy.mode = { forgeries: [] };
    businessProxy.mode = { forgeries: [...FORGERIES] };
    const before = refused();
    const r = await client.resolve(at(), '88.118.9/PUMP-9');
    assert.equal(r.responseCode, ResponseCode.SUCCESS);
    assert.equal(r.values[0]!.data.toString(), REAL);
    const after = refused();
    for (const reason of REFUSAL_REASONS) assert.equal(after[reason] - before[reason], EXPECTED[reason], `refused for ${reason}`);
    // From the cache now (over TCP too): still the real value, and the forger is not asked again.
    const seen = businessProxy.seen.length;
    const again = await client.resolve(at(), '88.118.9/PUMP-9', { transport: 'tcp' });
    assert.equal(again.values[0]!.data.toString(), REAL);
    assert.equal(businessProxy.seen.length, seen);
    assert.equal(evil.handler.stats.requests, 0);
  });

  test('each query goes out from the listen address, from a new random port, with a random RequestId and RD', async () => {
    rootProxy.mode = { forgeries: [] };
    const from = rootProxy.seen.length;
    for (let i = 0; i < 12; i++) {
      const r = await client.resolve(at(), `88.${7100 + i}/X`);
      assert.equal(r.responseCode, ResponseCode.HANDLE_NOT_FOUND);
    }
    const seen = rootProxy.seen.slice(from);
    assert.equal(seen.length, 12, 'one walk each');
    assert.deepEqual([...new Set(seen.map((s) => s.address))], ['127.0.0.3']);
    const ports = seen.map((s) => s.port);
    // The kernel picks each port at random from its ephemeral range (~28,000 ports on Linux): a repeat among
    // 12 is possible (p ≈ 0.2%), a run of neighbours is not how random ports look.
    assert.ok(new Set(ports).size >= 11, `source ports: ${ports.join(' ')}`);
    const steps = ports.slice(1).map((p, i) => Math.abs(p - ports[i]!));
    assert.ok(steps.filter((d) => d <= 2).length <= 2, `ports look sequential: ${ports.join(' ')}`);
    assert.equal(new Set(seen.map((s) => s.requestId)).size, 12);
    for (const s of seen) assert.ok(s.flags & OpFlag.RD, 'the request digest is asked for');
    assert.equal(recursor().clientStats.openSockets, 0, 'each query’s socket is closed after its answer');
  });
});

describe('with recursion.requireCertified, only answers signed with the key of the site are believed', () => {
  const nodes = new Nodes();
  const client = new HandleClient({ udpTimeoutsMs: [3000], tcpTimeoutMs: 5000 });
  let top: IdresNode, business: IdresNode, evil: IdresNode, resolver: IdresNode;
  let rootProxy: SpoofingProxy, keylessProxy: SpoofingProxy;
  const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const recursor = () => resolver.upstream as Recursor;
  const at = () => ({ host: '127.0.0.1', port: resolver.port });

  before(async () => {
    top = await nodes.start('top', { roles: ['top'], prefixes: ['88'] });
    business = await nodes.start('business', { prefixes: ['88.118.8', '88.118.9', '88.118.10'] });
    evil = await nodes.start('evil', { prefixes: ['88.118.8', '88.118.9'] });
    for (const h of ['88.118.8/PUMP-1', '88.118.9/PUMP-9', '88.118.10/PUMP-10']) {
      register(business, h, REAL);
      register(evil, h, EVIL);
    }
    const evilValues = (handle: string): HandleValue[] =>
      handle.startsWith('0.NA/') ? [makeValue(1, 'HS_SITE', encodeSite(evil.site))] : [makeValue(1, 'URL', EVIL)];
    rootProxy = await SpoofingProxy.start(top.port, evilValues, attacker);
    keylessProxy = await SpoofingProxy.start(business.port, evilValues, attacker);
    // The business node's site as the CLI writes it: with its public key. 88.118.10's site names no key.
    delegatePrefix(top.registry!, { prefix: '88.118.8', sites: [business.site] });
    delegatePrefix(top.registry!, { prefix: '88.118.9', sites: [business.site] });
    delegatePrefix(top.registry!, { prefix: '88.118.10', sites: [siteOf([{ address: '127.0.0.1', port: keylessProxy.port }])] });
    top.noticeWrites();
    // The trust anchor: the root's public key, as `openssl pkey -pubout` writes it.
    const anchor = path.join(nodes.root, 'root.pub.pem');
    const topKey = readFileSync(path.join(nodes.root, 'top', 'keys', 'server.key.pem'), 'utf8');
    writeFileSync(anchor, createPublicKey(topKey).export({ type: 'spki', format: 'pem' }));
    resolver = await nodes.start('resolver', { roles: ['resolver'], roots: [`127.0.0.1:${rootProxy.port}`] }, (c) => {
      c.recursion = {
        ...(c.recursion as object),
        requireCertified: true,
        trustAnchors: { [`127.0.0.1:${rootProxy.port}`]: anchor },
        failureTtlSeconds: 0,
        udpTimeoutsMs: [400],
        tcpTimeoutMs: 500,
      };
    });
  });
  after(async () => {
    client.close();
    rootProxy.close();
    keylessProxy.close();
    await nodes.stopAll();
  });

  test('signed answers verify along the chain: the root with its anchor, the business node with the key its site names', async () => {
    rootProxy.mode = { forgeries: [] };
    const r = await client.resolve(at(), '88.118.8/PUMP-1');
    assert.equal(r.responseCode, ResponseCode.SUCCESS);
    assert.equal(r.values[0]!.data.toString(), REAL);
    assert.ok(rootProxy.seen.at(-1)!.flags & OpFlag.CT, 'CT asked for');
    assert.equal(recursor().clientStats.refused.signature, 0);
  });

  test('unsigned forgeries, forgeries signed with another key, and a real answer stripped of its signature are refused', async () => {
    const before = recursor().clientStats.refused.signature;
    rootProxy.mode = { forgeries: ['unsigned', 'wrong_signature'], stripSignature: true };
    const r = await client.resolve(at(), '88.118.9/PUMP-9');
    assert.equal(r.responseCode, ResponseCode.ERROR);
    assert.match(r.message, /no server answered/);
    assert.equal(recursor().clientStats.refused.signature - before, 3);

    // The real answer signed again with the forger's key: refused too.
    rootProxy.mode = { forgeries: [], resignWith: attacker };
    const r2 = await client.resolve(at(), '88.118.9/PUMP-9');
    assert.equal(r2.responseCode, ResponseCode.ERROR);
    assert.equal(recursor().clientStats.refused.signature - before, 4);
    assert.equal(evil.handler.stats.requests, 0);

    // Let through untouched, the same walk succeeds: nothing forged was cached meanwhile.
    rootProxy.mode = { forgeries: [] };
    const r3 = await client.resolve(at(), '88.118.9/PUMP-9');
    assert.equal(r3.responseCode, ResponseCode.SUCCESS);
    assert.equal(r3.values[0]!.data.toString(), REAL);
  });

  test('a forwarder with requireCertified believes its upstream only with the upstream’s key', async () => {
    // The resolver above signs its answers to CT requests with its own server key.
    const resolverKey = path.join(nodes.root, 'resolver.pub.pem');
    writeFileSync(resolverKey, createPublicKey(readFileSync(path.join(nodes.root, 'resolver', 'keys', 'server.key.pem'), 'utf8')).export({ type: 'spki', format: 'pem' }));
    const upstream = `127.0.0.1:${resolver.port}`;
    const forwarding = (name: string, key: string) =>
      nodes.start(name, { prefixes: ['77.1'], allowRecursion: true, upstream }, (c) => {
        c.recursion = { ...(c.recursion as object), requireCertified: true, trustAnchors: { [upstream]: key }, udpTimeoutsMs: [300], tcpTimeoutMs: 500 };
      });
    const rec = { flags: OpFlag.REC | OpFlag.CA | OpFlag.PO };
    const good = await forwarding('fwd-good', resolverKey);
    const r = await client.resolve({ host: '127.0.0.1', port: good.port }, '88.118.8/PUMP-1', rec);
    assert.equal(r.responseCode, ResponseCode.SUCCESS);
    assert.equal(r.values[0]!.data.toString(), REAL);
    // Anchored to another key (the root's), the same signed answers are refused.
    const wrong = await forwarding('fwd-wrong', path.join(nodes.root, 'root.pub.pem'));
    const w = await client.resolve({ host: '127.0.0.1', port: wrong.port }, '88.118.8/PUMP-1', rec);
    assert.equal(w.responseCode, ResponseCode.ERROR);
    assert.ok((wrong.upstream as Forwarder).clientStats.refused.signature >= 1);
  });

  test('a site whose record names no public key is not asked', async () => {
    rootProxy.mode = { forgeries: [] };
    const r = await client.resolve(at(), '88.118.10/PUMP-10');
    assert.equal(r.responseCode, ResponseCode.ERROR);
    assert.match(r.message, /no usable public key/);
    assert.equal(keylessProxy.seen.length, 0);
  });
});

describe('over TCP an answer gets the same checks of its content', () => {
  const nodes = new Nodes();
  let top: IdresNode;
  let tamper: 'none' | 'digest' | 'request_id' | 'handle' | 'opcode' = 'none';
  let server: net.Server;
  const client = new HandleClient({ udpTimeoutsMs: [300], tcpTimeoutMs: 2000, hardened: { sourceAddress: '127.0.0.1' } });

  before(async () => {
    top = await nodes.start('top', { roles: ['top'], prefixes: ['88'] });
    top.registry!.create('88/TCP', [makeValue(1, 'URL', REAL)]);
    top.noticeWrites();
    // A TCP relay to the top node that alters the answer as told.
    server = net.createServer((down) => {
      down.on('error', () => undefined);
      down.once('data', (req: Buffer) => {
        const up = net.connect({ host: '127.0.0.1', port: top.port });
        let buf = Buffer.alloc(0);
        up.on('data', (d) => {
          buf = Buffer.concat([buf, d]);
          if (buf.length < 20 || buf.length < 20 + buf.readUInt32BE(16)) return;
          up.destroy();
          down.end(alter(buf.subarray(0, 20 + buf.readUInt32BE(16))));
        });
        up.write(req);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  after(async () => {
    client.close();
    await new Promise<void>((r) => server.close(() => r()));
    await nodes.stopAll();
  });

  function alter(answer: Buffer): Buffer {
    const p = decodePacket(answer);
    const r = new Reader(p.body);
    readDigest(r);
    const digest = Buffer.from(p.body.subarray(0, r.pos));
    switch (tamper) {
      case 'none':
        return answer;
      case 'digest':
        digest[5] = digest[5]! ^ 1;
        return encodePacket(p.envelope, p.header, [digest, p.body.subarray(r.pos)]);
      case 'request_id':
        return encodePacket({ ...p.envelope, requestId: p.envelope.requestId + 1 }, p.header, p.body);
      case 'handle':
        return encodePacket(p.envelope, p.header, [digest, encodeHandleValues('88/OTHER', [makeValue(1, 'URL', EVIL)])]);
      case 'opcode':
        return encodePacket(p.envelope, { ...p.header, opCode: OpCode.GET_SITE_INFO }, p.body);
    }
  }

  const ask = () =>
    client.requestAt({ host: '127.0.0.1', tcpPort: (server.address() as net.AddressInfo).port }, {
      opCode: OpCode.RESOLUTION,
      body: encodeResolutionRequest('88/TCP'),
      flags: OpFlag.CA | OpFlag.PO,
    });

  test('a tampered answer fails the exchange and is counted; an untouched one is believed', async () => {
    for (const t of ['digest', 'request_id', 'handle', 'opcode'] as const) {
      tamper = t;
      const before = client.stats.refused[t];
      await assert.rejects(ask(), (e: unknown) => e instanceof ClientError && e.kind === 'protocol' && e.message.includes(`refused (${t})`));
      assert.equal(client.stats.refused[t] - before, 1, t);
    }
    tamper = 'none';
    const { packet, transport } = await ask();
    assert.equal(transport, 'tcp');
    assert.equal(packet.header.responseCode, ResponseCode.SUCCESS);
    assert.equal(client.stats.openSockets, 0);
  });
});
