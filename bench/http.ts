// Scenario "http": (1) what the metrics' counting wrapper adds to a cached UDP answer, measured in process on
// the handler itself (through the counting wrapper and through the plain forwarding wrapper it replaced,
// alternating, same request); (2) GET /api/handles/… answered from the HTTP read cache by an idres node
// (`idres serve` in a child process) beside a bare node:http responder (http-baseline.ts) sending the same
// bodies from a Map, alternating runs with the same load generator: wrk when it is on PATH (Debian: apt-get
// install -y wrk), else undici in this process; every figure says which made it.
//
//   npm run bench:http -- [--iterations 2000000] [--runs 5] [--duration 5] [--count 10000]
//                         [--concurrency 64] [--threads 1] [--generator wrk|node] [--api-only]
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Agent, request } from 'undici';
import { IdresNode } from '../src/node/node.js';
import { encodeResolutionRequest } from '../src/protocol/bodies.js';
import { OpCode } from '../src/protocol/constants.js';
import { encodeRequest } from '../src/client/request.js';
import { WireCounters } from '../src/wire/counters.js';
import { makeValue } from '../src/model/value.js';
import { initNode } from '../src/node/init.js';
import { Child, arg, cliPath, distBench, flag, freePort, machine, makeNodeDir, median, nodeDirHandles, patchConfig, removeDir, tempDir, uniformPicker } from './common.js';

const iterations = arg('iterations', 2_000_000);
const runs = arg('runs', 5);
const durationMs = arg('duration', 5) * 1000;
const concurrency = arg('concurrency', 64);
const count = arg('count', 10_000);
const threads = arg('threads', 1);
const generatorChoice = (() => {
  const i = process.argv.indexOf('--generator');
  return i >= 0 ? process.argv[i + 1] : undefined;
})();

/** (1) The counting wrapper on the hot path, in process on the handler. */
async function wrapperCost(): Promise<void> {
  const root = tempDir('http');
  const dir = path.join(root, 'node');
  initNode({ dir, prefixes: ['88.118.8'], port: 0, description: 'benchmark node (http)' });
  const node = await IdresNode.start(dir, { log: () => undefined });
  try {
    node.registry!.create('88.118.8/BENCH-1', [makeValue(1, 'URL', 'https://example.com/bench-1'), makeValue(2, 'productName', 'bench')]);
    node.noticeWrites();

    // (1) The counting wrapper on the hot path.
    const packet = encodeRequest({ opCode: OpCode.RESOLUTION, body: encodeResolutionRequest('88.118.8/BENCH-1'), requestId: 7 });
    const meta = { transport: 'udp' as const, maxResponseBytes: 65536 };
    // Before the metrics, the transports already called the handler through a forwarding wrapper (the handler
    // is made after the port is bound); the counting wrapper replaced it, so that is the fair baseline.
    const handler = node.handler;
    const plain = { handle: (b: Buffer, m: typeof meta) => handler.handle(b, m) };
    const wrapped = new WireCounters().wrap(() => handler);
    const first = handler.handle(packet, meta);
    if (!(first instanceof Buffer) || first.readUInt32BE(24) !== 1) throw new Error('the request did not resolve from the cache');
    const time = (h: { handle: (b: Buffer, m: typeof meta) => unknown }) => {
      const t = process.hrtime.bigint();
      for (let i = 0; i < iterations; i++) h.handle(packet, meta);
      return Number(process.hrtime.bigint() - t) / iterations;
    };
    time(plain);
    time(wrapped);
    const ns: Record<'plain' | 'wrapped', number[]> = { plain: [], wrapped: [] };
    for (let r = 0; r < runs; r++) {
      ns.plain.push(time(plain));
      ns.wrapped.push(time(wrapped));
    }
    const p = median(ns.plain);
    const w = median(ns.wrapped);
    console.log(`cached UDP answer in the handler: ${p.toFixed(0)} ns through a forwarding wrapper (as before), ${w.toFixed(0)} ns through the counting wrapper (+${(w - p).toFixed(0)} ns, ${((100 * (w - p)) / p).toFixed(1)} %), median of ${runs} × ${iterations}`);
  } finally {
    await node.stop();
    removeDir(root);
  }
}

/** One load run: requests answered per second, latency percentiles (ms), and which generator made them. */
interface LoadResult {
  rate: number;
  p50: number;
  p99: number;
  errors: number;
}

/** wrk on PATH and not turned off with --generator node: it drives HTTP with far less CPU than undici. */
function wrkAvailable(): boolean {
  if (generatorChoice === 'node') return false;
  const r = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  const ok = r.error === undefined && /wrk/.test(`${r.stdout}${r.stderr}`);
  if (!ok && generatorChoice === 'wrk') throw new Error('--generator wrk, but wrk is not on PATH (apt-get install -y wrk)');
  return ok;
}

/** wrk with a script that asks for a random target of the list each request. */
async function wrkLoad(base: string, targetsFile: string, script: string, ms: number): Promise<LoadResult> {
  const args = ['-t', String(threads), '-c', String(concurrency), '-d', `${Math.max(1, Math.round(ms / 1000))}s`, '--latency', '-s', script, base];
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TARGETS: targetsFile } });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited with ${code}: ${text}`))));
  });
  const num = (re: RegExp) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : NaN;
  };
  const latencyMs = (pct: string) => {
    const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
    if (!m) return NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const rate = num(/Requests\/sec:\s+([\d.]+)/);
  if (!Number.isFinite(rate)) throw new Error(`wrk printed no rate: ${out}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = socket ? socket.slice(1).reduce((n, x) => n + Number(x), 0) : 0;
  return { rate, p50: latencyMs('50'), p99: latencyMs('99'), errors: (num(/Non-2xx or 3xx responses:\s+(\d+)/) || 0) + socketErrors };
}

/** undici in this process, `concurrency` requests in flight on kept-alive connections, random targets. */
async function nodeLoad(base: string, targets: string[], ms: number): Promise<LoadResult> {
  const agent = new Agent({ connections: concurrency, pipelining: 1 });
  const lat: number[] = [];
  let done = 0;
  let errors = 0;
  const until = performance.now() + ms;
  const pick = uniformPicker(targets.length);
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const t = performance.now();
        const r = await request(base + targets[pick()]!, { dispatcher: agent });
        await r.body.dump();
        if (r.statusCode !== 200) errors++;
        lat.push(performance.now() - t);
        done++;
      }
    }),
  );
  await agent.close();
  lat.sort((a, b) => a - b);
  return { rate: done / (ms / 1000), p50: lat[Math.floor(lat.length * 0.5)]!, p99: lat[Math.floor(lat.length * 0.99)]!, errors };
}

/**
 * (2) GET /api/handles/… answered from the read cache by an idres node (a child process, as served), and the
 * same targets with the same bodies by the bare node:http responder (http-baseline.ts), alternating runs,
 * the same generator for both; rate, latency and server CPU per answer, and the ratio.
 */
async function apiAgainstBaseline(): Promise<void> {
  const root = tempDir('http-api');
  const dir = path.join(root, 'node');
  let idres: Child | undefined;
  let baseline: Child | undefined;
  try {
    let t = performance.now();
    makeNodeDir(dir, count);
    patchConfig(dir, (c) => {
      (c.cache as Record<string, unknown>).maxBytes = Math.max(64 * 2 ** 20, count * 2048);
      (c.http as Record<string, unknown>).readCacheMaxBytes = Math.max(16 * 2 ** 20, count * 2048);
    });
    console.log(`registry of ${count} identifiers written in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const httpPort = await freePort();
    idres = await Child.start([cliPath, 'serve', '--dir', dir, '--port', String(await freePort()), '--http-port', String(httpPort)], /serving/);
    const idresBase = `http://127.0.0.1:${httpPort}`;

    // Every target asked twice before measuring (the hot cache, then the read cache), and idres's bodies kept
    // for the baseline to send.
    t = performance.now();
    const targets = nodeDirHandles(count).map((h) => `/api/handles/${h}`);
    const bodies: Array<[string, string]> = [];
    const warm = new Agent({ connections: 16 });
    for (let i = 0; i < targets.length; i += 16) {
      await Promise.all(
        targets.slice(i, i + 16).map(async (target) => {
          let body = '';
          for (let k = 0; k < 2; k++) {
            const r = await request(idresBase + target, { dispatcher: warm });
            body = await r.body.text();
            if (r.statusCode !== 200) throw new Error(`HTTP ${r.statusCode} for ${target}: ${body}`);
          }
          bodies.push([target, body]);
        }),
      );
    }
    await warm.close();
    const bodiesFile = path.join(root, 'bodies.json');
    writeFileSync(bodiesFile, JSON.stringify(bodies));
    const targetsFile = path.join(root, 'targets.txt');
    writeFileSync(targetsFile, targets.join('\n') + '\n');
    const script = path.join(root, 'targets.lua');
    writeFileSync(script, WRK_SCRIPT);
    console.log(`${targets.length} targets fetched twice from idres in ${((performance.now() - t) / 1000).toFixed(1)} s (mean body ${Math.round(bodies.reduce((n, [, b]) => n + Buffer.byteLength(b), 0) / bodies.length)} bytes)`);

    const basePort = await freePort();
    baseline = await Child.start([path.join(distBench, 'http-baseline.js'), '--port', String(basePort), '--bodies', bodiesFile], /http baseline ready/);
    const baselineBase = `http://127.0.0.1:${basePort}`;

    const useWrk = wrkAvailable();
    const generator = useWrk ? `wrk (${threads} thread${threads > 1 ? 's' : ''}, ${concurrency} connections)` : `undici in the bench process (${concurrency} in flight)`;
    const load = (base: string, ms: number) => (useWrk ? wrkLoad(base, targetsFile, script, ms) : nodeLoad(base, targets, ms));
    console.log(`generator: ${generator}; uniform random targets over ${count}, every answer from the read cache`);
    await load(idresBase, 1000);
    await load(baselineBase, 1000);

    type Row = LoadResult & { cpuUs: number };
    const results: Record<'baseline' | 'idres', Row[]> = { baseline: [], idres: [] };
    for (let r = 0; r < runs; r++) {
      for (const who of ['baseline', 'idres'] as const) {
        const server = who === 'idres' ? idres : baseline;
        const cpu0 = server.cpuSeconds();
        const res = await load(who === 'idres' ? idresBase : baselineBase, durationMs);
        const cpu = server.cpuSeconds() - cpu0;
        const row = { ...res, cpuUs: (cpu * 1e6) / Math.max(1, res.rate * (durationMs / 1000)) };
        results[who].push(row);
        console.log(
          `run ${r + 1} ${who.padEnd(8)} ${row.rate.toFixed(0).padStart(7)} req/s  p50 ${row.p50.toFixed(2)} ms  p99 ${row.p99.toFixed(2)} ms  ` +
            `server CPU ${row.cpuUs.toFixed(1)} µs/answer  errors ${row.errors}`,
        );
      }
    }
    const mr = (w: 'baseline' | 'idres') => median(results[w].map((x) => x.rate));
    const mc = (w: 'baseline' | 'idres') => median(results[w].map((x) => x.cpuUs));
    console.log(
      `GET /api/handles (read cache), median of ${runs} × ${durationMs / 1000} s, generator ${useWrk ? 'wrk' : 'undici'}: ` +
        `baseline ${mr('baseline').toFixed(0)} req/s (${mc('baseline').toFixed(1)} µs CPU/answer); idres ${mr('idres').toFixed(0)} req/s (${mc('idres').toFixed(1)} µs CPU/answer); ` +
        `ratio idres/baseline ${(mr('idres') / mr('baseline')).toFixed(2)} (target ≥ 0.7)`,
    );
  } finally {
    await baseline?.stop();
    await idres?.stop();
    removeDir(root);
  }
}

/** wrk's request function: a random line of $TARGETS each time (each thread reads the list once). */
const WRK_SCRIPT = `local targets = {}
for line in io.lines(os.getenv("TARGETS")) do
  if #line > 0 then targets[#targets + 1] = line end
end
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
request = function()
  return wrk.format("GET", targets[math.random(#targets)])
end
`;

async function main(): Promise<void> {
  console.log(`machine: ${machine()}`);
  if (!flag('api-only')) await wrapperCost();
  await apiAgainstBaseline();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
