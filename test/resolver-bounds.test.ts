// Bounded work for a resolver (docs/security.md): a flood of random prefixes costs at most one walk per
// prefix and never more than recursion.maxConcurrentQueries exchanges (and sockets) at once, the rest queued
// and then refused with RC 2; a prefix that does not exist answers 100 for every handle under it without a
// walk (1,000 suffixes: one walk); 301s and failed walks are remembered briefly; an upstream that never
// answers holds no more descriptors than the cap.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { existsSync, readdirSync } from 'node:fs';
import { type ChildProcess, spawn } from 'node:child_process';
import { HandleClient } from '../src/client/handle-client.js';
import { encodeRequest } from '../src/client/request.js';
import { OpCode, OpFlag, ResponseCode } from '../src/protocol/constants.js';
import { decodeErrorBody, encodeResolutionRequest } from '../src/protocol/bodies.js';
import { decodePacket } from '../src/protocol/message.js';
import type { Recursor } from '../src/resolve/recursor.js';
import { ResolverBusy, UpstreamLimiter, UpstreamWork } from '../src/resolve/limiter.js';
import { ConfigError, validateConfig } from '../src/node/config.js';
import type { IdresNode } from '../src/node/node.js';
import { Nodes, at, server } from './helpers/tiers.js';
import { TestClock } from './helpers/clock.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Outcome {
  rc: number;
  message: string;
}

/**
 * Resolutions of many handles over UDP from one socket, as a flood would send them (paced only so that the
 * kernel's receive buffers hold them); what is not answered within a while is sent again, as clients do.
 */
async function flood(port: number, handles: string[], opts: { every?: number; retryMs?: number } = {}): Promise<Map<string, Outcome>> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const out = new Map<string, Outcome>();
  const byId = new Map<number, string>();
  s.on('message', (m) => {
    const p = decodePacket(m);
    const h = byId.get(p.envelope.requestId);
    if (h === undefined || out.has(h)) return;
    const hasDigest = (p.header.opFlags & OpFlag.RD) !== 0;
    out.set(h, { rc: p.header.responseCode, message: p.header.responseCode === ResponseCode.SUCCESS ? '' : decodeErrorBody(p.body, hasDigest).message });
  });
  const send = async (list: string[]) => {
    for (let i = 0; i < list.length; i++) {
      const h = list[i]!;
      const id = byId.size + 1;
      byId.set(id, h);
      s.send(encodeRequest({ opCode: OpCode.RESOLUTION, body: encodeResolutionRequest(h), flags: OpFlag.CA | OpFlag.PO, requestId: id }), port, '127.0.0.1');
      if (i % (opts.every ?? 100) === 0) await sleep(1);
    }
  };
  try {
    await send(handles);
    for (let round = 0; round < 8 && out.size < handles.length; round++) {
      const deadline = Date.now() + (opts.retryMs ?? 1500);
      while (out.size < handles.length && Date.now() < deadline) await sleep(20);
      if (out.size < handles.length) await send(handles.filter((h) => !out.has(h)));
    }
    return out;
  } finally {
    s.close();
  }
}

/** Open descriptors of this process (Linux), or open sockets and handles as Node counts them elsewhere. */
function descriptors(): number {
  if (existsSync('/proc/self/fd')) return readdirSync('/proc/self/fd').length;
  return process.getActiveResourcesInfo().filter((r) => /UDP|TCP|Pipe/.test(r)).length;
}

/** The most descriptors open at once while `run` runs, sampled every 2 ms, over those open before. */
async function peakDescriptors<T>(run: () => Promise<T>): Promise<{ result: T; baseline: number; peak: number }> {
  const baseline = descriptors();
  let peak = baseline;
  const t = setInterval(() => (peak = Math.max(peak, descriptors())), 2);
  try {
    const result = await run();
    return { result, baseline, peak: Math.max(peak, descriptors()) };
  } finally {
    clearInterval(t);
  }
}

function tally(answers: Map<string, Outcome>): Map<string, number> {
  const t = new Map<string, number>();
  for (const a of answers.values()) {
    const k = a.rc === ResponseCode.ERROR ? (/resolver busy/.test(a.message) ? 'busy' : 'error') : String(a.rc);
    t.set(k, (t.get(k) ?? 0) + 1);
  }
  return t;
}

describe('a resolver under a flood of unknown prefixes, its root a real top-level node', () => {
  const CAP = 16;
  const nodes = new Nodes();
  const client = new HandleClient({ udpTimeoutsMs: [1000], tcpTimeoutMs: 3000 });
  let top: IdresNode, resolver: IdresNode;
  const rec = () => resolver.upstream as Recursor;
  const clock = new TestClock();

  before(async () => {
    top = await nodes.start('top', { roles: ['top'], prefixes: ['88'] });
    resolver = await nodes.start('resolver', { roles: ['resolver'], roots: [at(top)] }, (c) => {
      c.recursion = { ...(c.recursion as object), maxConcurrentQueries: CAP, maxQueuedQueries: 64, failureTtlSeconds: 1, udpTimeoutsMs: [500], tcpTimeoutMs: 1000 };
    }, 0, { clock: clock.now });
  });
  after(async () => {
    client.close();
    await nodes.stopAll();
  });

  test('2,000 random prefixes: one walk at most each, never more than the cap in flight, a fixed number of sockets', async (tc) => {
    const handles = Array.from({ length: 2000 }, (_, i) => `88.${100000 + i}/X`);
    const w0 = rec().stats.walks;
    const q0 = rec().stats.upstreamQueries;
    const { result: answers, baseline, peak } = await peakDescriptors(() => flood(resolver.port, handles));
    assert.equal(answers.size, handles.length, 'every query answered');
    const t = tally(answers);
    assert.deepEqual([...t.keys()].filter((k) => k !== '100' && k !== 'busy'), [], `only 100 or busy: ${JSON.stringify([...t])}`);
    const found = t.get('100') ?? 0;
    const busy = t.get('busy') ?? 0;
    tc.diagnostic(`${found} answered 100 after a walk, ${busy} refused busy; descriptors ${baseline} → peak ${peak}`);
    assert.ok(found >= CAP, `walks done (${found} answered 100, ${busy} refused)`);
    // One query answers each walk here (the root homes 88): queries made = walks admitted ≤ prefixes.
    const queries = rec().stats.upstreamQueries - q0;
    assert.equal(queries, found, 'one upstream query per prefix answered, none for those refused');
    assert.ok(rec().stats.walks - w0 <= handles.length);
    assert.ok(rec().limiter.stats.maxInFlight <= CAP, `in flight at most ${rec().limiter.stats.maxInFlight}`);
    assert.ok(rec().clientStats.maxOpenSockets <= CAP, `sockets at most ${rec().clientStats.maxOpenSockets}`);
    assert.equal(rec().limiter.stats.refused, busy);
    // The process's descriptors: the resolver's upstream sockets come and go within the cap.
    assert.ok(peak - baseline <= CAP + 4, `descriptors ${baseline} → peak ${peak}`);

    // Again: those answered are answered from the caches, with no walk; only the refused ones walk now.
    const w1 = rec().stats.walks;
    const again = await flood(resolver.port, handles);
    assert.equal(again.size, handles.length);
    for (const [h, a] of answers) if (a.rc === ResponseCode.HANDLE_NOT_FOUND) assert.equal(again.get(h)!.rc, ResponseCode.HANDLE_NOT_FOUND, h);
    assert.ok(rec().stats.walks - w1 <= busy, `walks the second time: ${rec().stats.walks - w1}, refused the first: ${busy}`);

    const text = await resolver.http!.metrics.text();
    assert.match(text, new RegExp(`idres_upstream_refused_total ${rec().limiter.stats.refused}\\b`));
    assert.match(text, /idres_upstream_queries_in_flight 0\b/);
  });

  test('1,000 suffixes under one missing prefix cost one walk; later ones answer 100 without one', async () => {
    const w0 = rec().stats.walks;
    const n0 = rec().stats.negativeHits;
    const answers = await flood(resolver.port, Array.from({ length: 1000 }, (_, i) => `88.424242/S-${i}`));
    assert.equal(answers.size, 1000);
    assert.deepEqual([...tally(answers)], [['100', 1000]]);
    assert.equal(rec().stats.walks - w0, 1);
    // Those that came after the walk found the prefix missing in the negative cache (the rest shared the walk).
    assert.ok(rec().stats.negativeHits - n0 >= 900, `negative hits ${rec().stats.negativeHits - n0}`);
    // Asked for the prefix handle itself, the answer is 100 too, without a walk.
    const r = await client.resolve(server(resolver), '0.NA/88.424242');
    assert.equal(r.responseCode, ResponseCode.HANDLE_NOT_FOUND);
    assert.equal(rec().stats.walks - w0, 1);
    const text = await resolver.http!.metrics.text();
    assert.match(text, /idres_recursor_negative_cache_hits_total\{kind="prefix_not_found"\} [1-9]/);
  });

  test('1,000 suffixes under a prefix the root is not responsible for cost one walk; after the failure TTL, one more', async () => {
    const w0 = rec().stats.walks;
    const answers = await flood(resolver.port, Array.from({ length: 1000 }, (_, i) => `99.77/S-${i}`));
    assert.deepEqual([...tally(answers)], [['301', 1000]]);
    assert.equal(rec().stats.walks - w0, 1);
    assert.ok(rec().stats.failureHits >= 900);
    // The 301 is remembered for recursion.failureTtlSeconds (1 s here, by the resolver's clock), then the prefix is walked again.
    clock.advance(1100);
    const r = await client.resolve(server(resolver), '99.77/LATER');
    assert.equal(r.responseCode, ResponseCode.SERVER_NOT_RESP);
    assert.equal(rec().stats.walks - w0, 2);
  });
});

/**
 * A root that never answers, in a process of its own (so that this process's descriptors are the resolver's):
 * UDP datagrams vanish, TCP connections are accepted and never answered.
 */
const BLACKHOLE = `
const dgram = require('node:dgram'), net = require('node:net');
// The TCP port must be the UDP one, which another process may hold for TCP: then try another pair.
const open = (attempt) => {
  const u = dgram.createSocket('udp4');
  u.bind(0, '127.0.0.1', () => {
    const t = net.createServer((s) => s.on('error', () => {}));
    t.once('error', (err) => {
      u.close();
      if (attempt >= 20) throw err;
      open(attempt + 1);
    });
    t.listen(u.address().port, '127.0.0.1', () => console.log(u.address().port));
  });
};
open(1);
`;

describe('a resolver whose root never answers', () => {
  const CAP = 8;
  const nodes = new Nodes();
  let resolver: IdresNode;
  let root: ChildProcess;
  const rec = () => resolver.upstream as Recursor;

  before(async () => {
    root = spawn(process.execPath, ['-e', BLACKHOLE], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<number>((resolve, reject) => {
      root.once('error', reject);
      root.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    });
    resolver = await nodes.start('resolver', { roles: ['resolver'], roots: [`127.0.0.1:${port}`] }, (c) => {
      c.recursion = { ...(c.recursion as object), maxConcurrentQueries: CAP, maxQueuedQueries: 16, failureTtlSeconds: 30, udpTimeoutsMs: [100, 100], tcpTimeoutMs: 300 };
    });
  });
  after(async () => {
    root.kill();
    await nodes.stopAll();
  });

  test('a flood waits on at most the cap of sockets; the rest is refused at once; failed walks are remembered', async (tc) => {
    const handles = Array.from({ length: 300 }, (_, i) => `88.${500000 + i}/X`);
    const t0 = Date.now();
    const { result: answers, baseline, peak } = await peakDescriptors(() => flood(resolver.port, handles, { retryMs: 4000 }));
    const took = Date.now() - t0;
    assert.equal(answers.size, handles.length);
    const t = tally(answers);
    assert.deepEqual([...t.keys()].sort(), ['busy', 'error'], JSON.stringify([...t]));
    const admitted = t.get('error')!;
    tc.diagnostic(`${admitted} walked and failed, ${t.get('busy')} refused busy, in ${took} ms; descriptors ${baseline} → peak ${peak}`);
    assert.ok(admitted <= CAP + 16 + CAP, `admitted ${admitted}`);
    assert.ok(rec().limiter.stats.maxInFlight <= CAP);
    assert.ok(rec().clientStats.maxOpenSockets <= CAP, `upstream sockets at most ${rec().clientStats.maxOpenSockets}`);
    assert.ok(peak - baseline <= CAP + 4, `descriptors ${baseline} → peak ${peak}`);
    assert.equal(rec().clientStats.openSockets, 0);

    // A prefix whose walk failed answers again at once, without a walk, while its failure is remembered.
    const failed = [...answers].find(([, a]) => a.rc === ResponseCode.ERROR && !/busy/.test(a.message))![0];
    const w0 = rec().stats.walks;
    const again = await flood(resolver.port, [failed]);
    assert.equal(again.get(failed)!.rc, ResponseCode.ERROR);
    assert.match(again.get(failed)!.message, /no server answered/);
    assert.equal(rec().stats.walks, w0, 'answered without a walk');
    assert.ok(rec().stats.failureHits >= 1);
  });
});

describe('the limiter', () => {
  test('work under way goes ahead of new work; new work past the queue is refused, not queued', async () => {
    const limiter = new UpstreamLimiter(1, 1);
    const order: string[] = [];
    const gates = new Map<string, () => void>();
    const exchange = (name: string) => () =>
      new Promise<string>((resolve) => {
        order.push(name);
        gates.set(name, () => resolve(name));
      });
    const a = new UpstreamWork();
    const first = limiter.run(a, exchange('a1'));
    const fresh = limiter.run(new UpstreamWork(), exchange('b1'));
    await assert.rejects(limiter.run(new UpstreamWork(), exchange('c1')), (e: unknown) => e instanceof ResolverBusy && /resolver busy/.test(e.message));
    assert.equal(limiter.stats.refused, 1);
    // a's second exchange (its walk goes on) is queued behind b1 but taken first.
    const next = limiter.run(a, exchange('a2'));
    assert.equal(limiter.waiting, 2);
    gates.get('a1')!();
    await first;
    await sleep(0);
    assert.deepEqual(order, ['a1', 'a2']);
    gates.get('a2')!();
    await next;
    await sleep(0);
    gates.get('b1')!();
    assert.equal(await fresh, 'b1');
    assert.deepEqual(order, ['a1', 'a2', 'b1']);
    assert.equal(limiter.stats.maxInFlight, 1);
    assert.equal(limiter.inFlight, 0);
  });
});

describe('the recursion settings', () => {
  test('are validated, and certified answers need a trust anchor for each root', () => {
    const c = validateConfig({
      roles: ['resolver'],
      recursion: { roots: ['127.0.0.1:2642'], maxConcurrentQueries: 32, maxQueuedQueries: 0, failureTtlSeconds: 2, sourceAddress: '127.0.0.1', requireCertified: true, trustAnchors: { '127.0.0.1:2642': 'keys/root.pub.pem' } },
    });
    assert.equal(c.recursion.maxConcurrentQueries, 32);
    assert.equal(c.recursion.maxQueuedQueries, 0);
    assert.equal(c.recursion.sourceAddress, '127.0.0.1');
    assert.throws(
      () =>
        validateConfig({
          roles: ['resolver'],
          recursion: { roots: ['127.0.0.1:2642'], maxConcurrentQueries: 0, maxQueuedQueries: -1, failureTtlSeconds: 'soon', sourceAddress: 'localhost', requireCertified: 'yes', trustAnchors: { root: 'x' } },
        }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        for (const k of ['maxConcurrentQueries', 'maxQueuedQueries', 'failureTtlSeconds', 'sourceAddress', 'requireCertified', 'trustAnchors']) assert.match(e.message, new RegExp(`recursion\\.${k}`));
        return true;
      },
    );
    assert.throws(
      () => validateConfig({ roles: ['resolver'], recursion: { roots: ['127.0.0.1:2642', '[::1]:2642'], requireCertified: true, trustAnchors: { '127.0.0.1:2642': 'a.pem' } } }),
      /requireCertified needs the public key of \[::1\]:2642/,
    );
  });
});
