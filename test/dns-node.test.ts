// End to end: `idres init --dns-port` and `idres serve` in a child process, asked over DNS; and a resolver
// node answering DNS for identifiers it resolves recursively from a business node.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { identifierToName } from '../src/dns/mapping.js';
import type { IdresNode } from '../src/node/node.js';
import { cli, tempDir } from './helpers/node.js';
import { cliPath } from './helpers/paths.js';
import { Nodes, at } from './helpers/tiers.js';
import { TestClock } from './helpers/clock.js';
import { rcodeOf, txtTexts, udpQuery } from './helpers/dns.js';

describe('a node with the DNS gateway, end to end through the CLI', () => {
  const root = tempDir('idres-dns-e2e-');
  const dir = path.join(root, 'node');
  let child: ChildProcess;
  let dnsPort = 0;

  before(async () => {
    let r = await cli(['init', '--dir', dir, '--prefix', '88.118.8', '--port', '0', '--dns-port', '0']);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(['register', '88.118.8/PUMP-XB200-0001', '--dir', dir, '--value', 'URL=https://trace.example.cn/p/xb200-0001']);
    assert.equal(r.code, 0, r.stderr);
    child = spawn(process.execPath, [cliPath, 'serve', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    dnsPort = await new Promise<number>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error(`no DNS port announced: ${out}`)), 15000);
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /DNS gateway on \S+ port (\d+)/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(Number(m[1]));
        }
      });
    });
  });
  after(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(root, { recursive: true, force: true });
  });

  test('idres dns-name maps both ways, and the name resolves over DNS', async () => {
    const n = await cli(['dns-name', '88.118.8/PUMP-XB200-0001', '--dir', dir]);
    assert.equal(n.code, 0, n.stderr);
    assert.equal(n.stdout.trim(), 'pump-xb200-0001._.8.118.88.id.internal.');
    const back = await cli(['dns-name', n.stdout.trim()]);
    assert.equal(back.stdout.trim(), '88.118.8/PUMP-XB200-0001');
    const bad = await cli(['dns-name', 'pump.8.118.88.id.internal']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /not an identifier name/);

    const r = await udpQuery(dnsPort, n.stdout.trim(), 'TXT', { edns: 1232 });
    assert.equal(rcodeOf(r), 'NOERROR');
    assert.equal(txtTexts(r)[0], '1:URL=https://trace.example.cn/p/xb200-0001');
  });
});

describe('a resolver answers DNS for identifiers it resolves recursively', () => {
  const nodes = new Nodes();
  let business: IdresNode, resolver: IdresNode;
  const clock = new TestClock();

  before(async () => {
    business = await nodes.start('business', { prefixes: ['88.118.8'] });
    const r = await cli(['register', '88.118.8/REMOTE-1', '--dir', path.join(nodes.root, 'business'), '--value', 'URL=https://example.cn/r/1', '--ttl', '120']);
    assert.equal(r.code, 0, r.stderr);
    business.noticeWrites();
    resolver = await nodes.start('resolver', { roles: ['resolver'], upstream: at(business) }, (c) => {
      c.dns = { enabled: true, port: 0 };
    }, 0, { clock: clock.now });
  });
  after(async () => {
    await nodes.stopAll();
  });

  test('the answer comes from the business node, not authoritative, TTLs counted down, RA set', async () => {
    const n = identifierToName('88.118.8/REMOTE-1', 'id.internal');
    const first = await udpQuery(resolver.dns!.port, n, 'TXT');
    assert.equal(rcodeOf(first), 'NOERROR');
    assert.ok(!first.flag_aa, 'not authoritative: learnt from elsewhere');
    assert.ok(first.flag_ra);
    assert.equal(txtTexts(first)[0], '1:URL=https://example.cn/r/1');
    const upstreamBefore = business.handler.stats.requests;
    clock.advance(1100); // a second later by the resolver's clock
    const second = await udpQuery(resolver.dns!.port, n, 'TXT');
    assert.equal(business.handler.stats.requests, upstreamBefore, 'the second answer comes from the hot cache');
    const ttl = (second.answers![0] as { ttl: number }).ttl;
    assert.ok(ttl < 120 && ttl >= 115, `TTL ${ttl} counts down`);
    const nx = await udpQuery(resolver.dns!.port, identifierToName('88.118.8/NOPE', 'id.internal'), 'TXT');
    assert.equal(rcodeOf(nx), 'NXDOMAIN');
  });
});
