// The load generator itself: it must count what it claims (answers matched by RequestId, response codes,
// fragments), over UDP and both TCP modes, and the CLI refuses targets off this machine. And the replication
// benchmark, run small, so that the script does not rot.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './helpers/paths.js';
import { runLoad } from '../src/bench/loadgen.js';
import { LatencyHistogram } from '../src/bench/histogram.js';
import { cli, startTestNode, type TestNode } from './helpers/node.js';

describe('the load generator against a node', () => {
  let t: TestNode;
  before(async () => {
    t = await startTestNode();
    assert.equal((await cli(['register', '88.118.8/L1', '--dir', t.dir, '--value', 'URL=https://example.cn/l1'])).code, 0);
    const big = Array.from({ length: 4 }, (_, i) => ['--value', `DESC=${'x'.repeat(300)}${i}`]).flat();
    assert.equal((await cli(['register', '88.118.8/BIG', '--dir', t.dir, ...big])).code, 0);
  });
  after(() => t.stop());

  for (const transport of ['udp', 'tcp', 'tcp-kc'] as const) {
    test(`${transport}: every request answered and counted by response code`, async () => {
      const r = await runLoad({
        host: '127.0.0.1',
        port: t.node.port,
        transport,
        handles: ['88.118.8/L1', '88.118.8/NOPE', '88.118.8/BIG'],
        rate: transport === 'udp' ? 600 : 0,
        concurrency: 4,
        durationMs: 600,
      });
      assert.ok(r.sent > 20, `sent ${r.sent}`);
      assert.equal(r.lost, 0);
      assert.equal(r.answered, r.sent);
      const codes = r.responseCodes;
      assert.equal((codes['1'] ?? 0) + (codes['100'] ?? 0), r.answered);
      assert.ok(Math.abs((codes['1'] ?? 0) - 2 * (codes['100'] ?? 0)) <= 3, JSON.stringify(codes));
      assert.ok(r.latencyUs.p50 > 0 && r.latencyUs.p50 <= r.latencyUs.p99 && r.latencyUs.p99 <= r.latencyUs.max);
    });
  }

  test('the CLI reports, and will not aim at other machines', async () => {
    const ok = await cli(['bench', '--server', `127.0.0.1:${t.node.port}`, '--handle', '88.118.8/L1', '--duration', '1', '--rate', '200', '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    const j = JSON.parse(ok.stdout) as { answered: number; lost: number };
    assert.ok(j.answered > 100 && j.lost === 0);
    const far = await cli(['bench', '--server', '192.0.2.1:2641', '--handle', 'x']);
    assert.equal(far.code, 2);
    assert.match(far.stderr, /only targets loopback/);
  });
});

test('latency histogram quantiles stay within a bucket of the truth', () => {
  const h = new LatencyHistogram();
  for (let i = 1; i <= 10000; i++) h.record(i);
  for (const q of [0.5, 0.99, 0.999]) {
    const truth = q * 10000;
    assert.ok(Math.abs(h.quantile(q) - truth) / truth < 0.07, `q${q}: ${h.quantile(q)} vs ${truth}`);
  }
  assert.equal(h.max, 10000);
});

test('the replication benchmark runs end to end in --quick mode and reports sane figures', async () => {
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [path.join(repoRoot, 'dist/bench/replication.js'), '--quick', '--poll-ms', '200'], { timeout: 60_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stdout}${stderr}`)) : resolve(stdout),
    );
  });
  const line = out.split('\n').find((l) => l.startsWith('replication bench summary '));
  assert.ok(line, out);
  const s = JSON.parse(line.slice('replication bench summary '.length)) as {
    rows: number;
    firstCopy: Array<{ seconds: number; rowsPerSecond: number; handles: number }>;
    importToMirror: Array<{ importSeconds: number; mirrorSeconds: number; ratio: number }>;
    throughput: Array<{ txns: number; fromStartPerSecond: number; applyingPerSecond: number }>;
    lag: Array<{ p50Ms: number; p99Ms: number; maxMs: number; writes: number; failed: number; achievedRate: number }>;
  };
  // The mirror caught up with every identifier of the primary (its data set and the prefix handle).
  assert.equal(s.firstCopy.length, 1);
  assert.ok(s.firstCopy[0]!.handles > s.rows, JSON.stringify(s.firstCopy));
  assert.ok(s.firstCopy[0]!.rowsPerSecond > 0);
  const imp = s.importToMirror[0]!;
  assert.ok(imp.importSeconds > 0 && imp.mirrorSeconds > 0 && imp.ratio === imp.mirrorSeconds / imp.importSeconds, JSON.stringify(imp));
  assert.ok(s.throughput[0]!.txns > 0 && s.throughput[0]!.fromStartPerSecond > 0 && s.throughput[0]!.applyingPerSecond > 0);
  const lag = s.lag[0]!;
  assert.equal(lag.failed, 0);
  assert.equal(lag.writes, 400, 'two seconds at 200 writes a second, every one acknowledged and found on the mirror');
  assert.ok(lag.achievedRate > 100 && lag.achievedRate < 250, `achieved ${lag.achievedRate}/s`);
  assert.ok(lag.p50Ms >= 0 && lag.p50Ms <= lag.p99Ms && lag.p99Ms <= lag.maxMs && lag.maxMs < 30_000, JSON.stringify(lag));
  assert.match(out, /\| first copy of 3,000 identifiers \|/);
});
