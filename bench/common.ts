// Shared by the benchmark scenarios: data sets, child processes, CPU accounting, medians, reports.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, freemem, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initNode } from '../src/node/init.js';
import { freeUdpTcpPort } from '../src/server/workers.js';
import { Registry } from '../src/store/registry.js';
import { BulkWriter } from '../src/store/bulk-writer.js';
import { encodeValues } from '../src/store/value-blob.js';
import { makeValue } from '../src/model/value.js';
import { type ProductRecord, generateProducts, seededRandom } from '../src/demo/products.js';
import { type LoadOptions, type LoadReport, runLoad } from '../src/bench/loadgen.js';
import { generatorFor, runHdlperf } from './hdlperf.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const cliPath = path.join(repoRoot, 'bin/idres.js');
export const distBench = path.join(repoRoot, 'dist/bench');

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB (${(freemem() / 2 ** 30).toFixed(0)} free), Node ${process.version}`;
}

export function tempDir(label: string): string {
  return mkdtempSync(path.join(tmpdir(), `idres-bench-${label}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A loopback port free right now (bound and released). */
export function freePort(): Promise<number> {
  return freeUdpTcpPort('127.0.0.1');
}

export const PREFIX = '88.118.8';

/** Handles of the benchmark data set: the seeded compact product records (one UDP datagram each). */
export function benchHandles(count: number, seed = 7): string[] {
  return generateProducts(PREFIX, count, seed, { compact: true }).map((p) => p.handle);
}

/**
 * A business node folder holding `count` compact product records, written in large transactions
 * (the bulk path an import takes).
 */
export function makeNodeDir(dir: string, count: number, seed = 7, config: { cacheBytes?: number } = {}): void {
  initNode({ dir, prefixes: [PREFIX], port: 0, description: 'benchmark node' });
  const registry = new Registry(path.join(dir, 'registry.db'));
  try {
    const now = Math.floor(Date.now() / 1000);
    let pending: ProductRecord[] = [];
    const flush = () => {
      registry.db.transaction(() => {
        for (const r of pending) registry.createInTxn(r.handle, r.values, false, now, { quiet: true });
        registry.logBulk(pending.length, now, pending.map((r) => registry.key(r.handle)));
      })();
      pending = [];
    };
    for (const r of nodeDirRecords(count, seed)) {
      pending.push(r);
      if (pending.length === 50000) flush();
    }
    if (pending.length) flush();
  } finally {
    registry.close();
  }
  if (config.cacheBytes !== undefined) patchConfig(dir, (c) => ((c.cache as Record<string, unknown>).maxBytes = config.cacheBytes));
}

/** The records makeNodeDir registers, batch by batch (so a million never sit in memory at once). */
export function* nodeDirRecords(count: number, seed = 7): Generator<ProductRecord> {
  const batch = 50000;
  for (let start = 0; start < count; start += batch) {
    const records = generateProducts(PREFIX, Math.min(batch, count - start), seed + start, { compact: true });
    for (let i = 0; i < records.length; i++) yield { handle: renumber(records[i]!.handle, start + i + 1), values: records[i]!.values };
  }
}

/** The handles makeNodeDir registered, in order. */
export function nodeDirHandles(count: number, seed = 7): string[] {
  const out: string[] = [];
  for (const r of nodeDirRecords(count, seed)) out.push(r.handle);
  return out;
}

/** Suffixes restart at 1 in each generated batch; number them across the whole set instead. */
function renumber(handle: string, n: number): string {
  return handle.replace(/-\d{7}$/, `-${String(n).padStart(8, '0')}`);
}

export function patchConfig(dir: string, edit: (c: Record<string, unknown>) => void): void {
  const file = path.join(dir, 'idres.json');
  const c = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(c);
  writeFileSync(file, JSON.stringify(c, null, 2));
}

/** A Zipf-like popularity over n items (exponent s): a precomputed sequence of picks, cycled. */
export function zipfPicker(n: number, s = 1.0, length = 1 << 21, seed = 11): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += 1 / Math.pow(i + 1, s);
    cdf[i] = sum;
  }
  const rnd = seededRandom(seed);
  // Shuffle which handle holds which rank, so popularity is not the registry's key order.
  const rankToItem = new Uint32Array(n);
  for (let i = 0; i < n; i++) rankToItem[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    const t = rankToItem[i]!;
    rankToItem[i] = rankToItem[j]!;
    rankToItem[j] = t;
  }
  const seq = new Uint32Array(length);
  for (let k = 0; k < length; k++) {
    const u = rnd() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    seq[k] = rankToItem[lo]!;
  }
  let i = 0;
  return () => seq[(i = (i + 1) & (length - 1))]!;
}

export function uniformPicker(n: number, seed = 13): () => number {
  const rnd = seededRandom(seed);
  return () => Math.floor(rnd() * n);
}

/** The fields of /proc/PID/stat after the command name (state first, then ppid, …), or undefined when gone. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds of one process: stat fields 14 and 15 (11 and 12 after the name), in 1/100 s. */
function procCpuSeconds(pid: number): number | undefined {
  const f = procStat(pid);
  return f ? (Number(f[11]) + Number(f[12])) / 100 : undefined;
}

/** A child process with the CPU time it has used so far (from /proc), for server CPU per answer. */
export class Child {
  private constructor(
    readonly proc: ChildProcess,
    readonly output: string[],
  ) {}

  static start(args: string[], readyPattern: RegExp, env: NodeJS.ProcessEnv = {}): Promise<Child> {
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    const output: string[] = [];
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not ready: ${args.join(' ')}\n${output.join('')}`)), 120000);
      let ready = false;
      proc.stdout!.on('data', (d: Buffer) => {
        output.push(d.toString());
        if (!ready && readyPattern.test(output.join(''))) {
          ready = true;
          clearTimeout(timer);
          resolve(new Child(proc, output));
        }
      });
      proc.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
      proc.once('exit', (code) => reject(new Error(`exited with ${code}: ${args.join(' ')}\n${output.join('')}`)));
    });
  }

  /**
   * User + system CPU seconds of the process so far, and of its live child processes (the workers of a
   * `--workers N` node, whose primary answers nothing).
   */
  cpuSeconds(): number {
    const pid = this.proc.pid!;
    let total = procCpuSeconds(pid) ?? 0;
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry) || Number(entry) === pid) continue;
      const stat = procStat(Number(entry));
      if (stat && Number(stat[1]) === pid) total += (Number(stat[11]) + Number(stat[12])) / 100;
    }
    return total;
  }

  /** The node's counters (idres serve prints them on SIGUSR2). */
  async stats(): Promise<Record<string, any>> {
    const before = this.output.length;
    this.proc.kill('SIGUSR2');
    for (let i = 0; i < 200; i++) {
      const line = this.output.slice(before).join('').split('\n').find((l) => l.startsWith('idres stats '));
      if (line) return JSON.parse(line.slice('idres stats '.length)) as Record<string, any>;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('no stats from the node');
  }

  /** Resident set size in bytes. */
  rssBytes(): number {
    const status = readFileSync(`/proc/${this.proc.pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) * 1024 : 0;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.proc.exitCode !== null) return resolve();
      this.proc.once('exit', () => resolve());
      this.proc.kill('SIGTERM');
      setTimeout(() => this.proc.kill('SIGKILL'), 5000).unref();
    });
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

export function flag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}

/** The numbered handles fillNumbered writes: 88.118.8/P000000001 … */
export const NUMBERED = { stem: `${PREFIX}/P`, width: 9 } as const;

export function numberedHandle(n: number): string {
  return `${NUMBERED.stem}${String(n).padStart(NUMBERED.width, '0')}`;
}

/** The numbered identifiers of the cold scenario (URL, product name, HS_ADMIN each), one at a time. */
export function* numberedRecords(count: number): Generator<ProductRecord> {
  const admin = generateProducts(PREFIX, 1, 1, { compact: true })[0]!.values.find((v) => v.index === 100)!;
  const name = makeValue(2, 'productName', 'Smart water pump XB200', { permissions: 14 });
  for (let n = 1; n <= count; n++) {
    const url = makeValue(1, 'URL', `https://trace.example-factory.cn/p/${n}`, { permissions: 14 });
    yield { handle: numberedHandle(n), values: [url, name, admin] };
  }
}

/**
 * A node folder with `count` numbered identifiers (numberedRecords), written through the bulk import's
 * writer (one row per identifier) in large transactions: ten million in a few minutes, for the cold scenario.
 */
export function fillNumbered(dir: string, count: number): void {
  initNode({ dir, prefixes: [PREFIX], port: 0, description: 'benchmark node (numbered)' });
  const registry = new Registry(path.join(dir, 'registry.db'));
  const writer = new BulkWriter(registry);
  try {
    writer.tuneForBulk();
    registry.db.pragma('synchronous = OFF');
    const now = Math.floor(Date.now() / 1000);
    const batch = 100000;
    let inBatch = 0;
    writer.begin();
    for (const r of numberedRecords(count)) {
      writer.insertNew(registry.key(r.handle), r.handle, encodeValues(r.values, now), now);
      if (++inBatch === batch) {
        writer.logBatch([], inBatch, now);
        writer.commit();
        writer.begin();
        inBatch = 0;
      }
    }
    writer.logBatch([], inBatch, now);
    writer.commit();
    registry.db.pragma('synchronous = NORMAL');
    registry.db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    registry.close();
  }
}

export interface Measured {
  report: LoadReport;
  /** Which load generator made the figures (bench/hdlperf.ts). */
  generator: 'hdlperf' | 'node';
  serverCpuUsPerAnswer: number;
  rssMiB: number;
}

/** One load run against a server child, with the server's CPU per answer from /proc. */
export async function measure(server: Child, load: LoadOptions): Promise<Measured> {
  const generator = generatorFor(load);
  const cpu0 = server.cpuSeconds();
  const report = generator === 'hdlperf' ? await runHdlperf(load) : await runLoad(load);
  const cpu = server.cpuSeconds() - cpu0;
  return { report, generator, serverCpuUsPerAnswer: report.answered ? (cpu * 1e6) / report.answered : 0, rssMiB: server.rssBytes() / 2 ** 20 };
}

export function describe(label: string, m: Measured): string {
  const r = m.report;
  return (
    `${label} ${String(r.qps).padStart(7)} q/s [${m.generator}]  sent ${r.sent} lost ${r.lost}  p50 ${r.latencyUs.p50} µs  p99 ${r.latencyUs.p99} µs  p99.9 ${r.latencyUs.p999} µs  ` +
    `server CPU ${m.serverCpuUsPerAnswer.toFixed(1)} µs/answer  generator CPU ${r.generatorCpuUsPerRequest} µs/request  RSS ${m.rssMiB.toFixed(0)} MiB  rc ${JSON.stringify(r.responseCodes)}`
  );
}

/** A data folder kept between runs (bench/data, not committed): building ten million identifiers takes minutes. */
export function dataDir(name: string): string {
  return path.join(repoRoot, 'bench', 'data', name);
}

/** The baseline responder (baseline-responder.ts) on a free port, with its arguments. */
export async function startBaseline(args: string[]): Promise<{ server: Child; port: number }> {
  const port = await freePort();
  return { server: await Child.start([path.join(distBench, 'baseline-responder.js'), '--port', String(port), ...args], /baseline ready/), port };
}

export async function startIdres(dir: string, port?: number): Promise<{ server: Child; port: number }> {
  const p = port ?? (await freePort());
  return { server: await Child.start([cliPath, 'serve', '--dir', dir, '--port', String(p)], /serving/), port: p };
}
