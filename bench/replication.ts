// Replication (docs/benchmarks.md, Replication; docs/replication.md): a primary and a mirror as two
// `idres serve` processes on loopback, set up with the CLI, measured from a third process (this one) that
// reads both registries read-only. Four scenarios:
//
//   1. first copy: a fresh mirror of a primary holding N identifiers, from the moment it may pull (the end of
//      `idres mirror allow`; later runs: its start, with its registry deleted) until its committed position
//      is the primary's last transaction id and it holds as many handles;
//   2. an import reaching the mirror: `idres import` of N new rows at the primary while the mirror follows;
//      T_import is the import command from start to exit, T_mirror from the same start until the mirror
//      holds them all; the target is T_mirror ≤ 2 × T_import;
//   3. throughput: single writes (one transaction each, logged as any write is) made while both nodes are
//      stopped, then the primary and the mirror started: transactions applied per second by the mirror;
//   4. lag: a writer at a steady rate (over the wire, or HTTP) for D seconds; each write's lag is the time from its
//      acknowledgement to the moment the mirror had committed its transaction (the mirror's position
//      polled every 3 ms); p50, p99 (target under 1 s at 1,000 writes/s) and max.
//
//   npm run bench:replication -- [--rows N] [--runs R] [--txns T] [--lag-seconds D] [--rate W]
//                                [--poll-ms 200,20] [--writer wire|http] [--primary-sync full|normal] [--quick] [--keep]
//
// --poll-ms: the mirror's replication.pollMs for the lag runs (default 200, the configuration's default;
// 20 is added when the default misses the target). --writer: how the lag writer reaches the primary (the
// wire, a TCP connection per write; or HTTP PUT on kept-alive connections). --primary-sync: the primary's
// durability.synchronous (full, the default, syncs the WAL at every commit: on a slow or busy disk that
// bounds the primary's single writes a second below the asked rate, and the lag then measures its queue).
// --quick: tiny sizes, a smoke run (test/bench.test.ts).
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { productNdjson } from '../src/demo/product-import-rows.js';
import { productRecords } from '../src/demo/products.js';
import { makeValue } from '../src/model/value.js';
import { prefixAdminData } from '../src/admin/defaults.js';
import { Registry } from '../src/store/registry.js';
import { PREFIX, arg, fillNumbered, flag, machine, median, patchConfig, removeDir, tempDir } from './common.js';
import { Pair, runCli } from './replication-pair.js';
import { type WriterKind, pacedWrites } from './paced-writer.js';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

function count(name: string, fallback: number): number {
  const n = arg(name, fallback);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a whole number of at least 1, not ${option(name, '')}`);
  return n;
}

const quick = flag('quick');
const rows = count('rows', quick ? 3000 : 1_000_000);
const runs = count('runs', quick ? 1 : 3);
const txns = count('txns', quick ? 2000 : 100_000);
const lagSeconds = count('lag-seconds', quick ? 2 : 30);
const rate = count('rate', quick ? 200 : 1000);
const keep = flag('keep');
const writer = option('writer', 'wire') as WriterKind;
if (writer !== 'wire' && writer !== 'http') throw new Error('--writer must be wire or http');
const primarySync = option('primary-sync', 'full');
if (primarySync !== 'full' && primarySync !== 'normal') throw new Error('--primary-sync must be full or normal');
const pollGiven = process.argv.includes('--poll-ms');
const pollList = option('poll-ms', '200').split(',').map(Number);
// The configuration's own bounds for replication.pollMs (src/node/config-schema.ts).
if (pollList.some((p) => !Number.isSafeInteger(p) || p < 10 || p > 3_600_000)) throw new Error('--poll-ms takes milliseconds from 10 to 3,600,000, comma-separated');
const LAG_TARGET_MS = 1000;
/** What any wait for the mirror may take before the run fails: generous, but bounded. */
const catchUpMs = (work: number) => 60_000 + work / 2;

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

interface Summary {
  rows: number;
  firstCopy: Array<{ seconds: number; rowsPerSecond: number; mirrorRssMiB: number; handles: number }>;
  importToMirror: Array<{ importSeconds: number; mirrorSeconds: number; ratio: number }>;
  throughput: Array<{ txns: number; fromStartPerSecond: number; applyingPerSecond: number }>;
  lag: Array<{
    pollMs: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    writes: number;
    failed: number;
    achievedRate: number;
    beforeAck: number;
    primaryUsPerWrite: number;
    mirrorPercent: number;
    writerUsPerWrite: number;
  }>;
}

async function firstCopy(pair: Pair, run: number, s: Summary): Promise<void> {
  let t0: number;
  if (run === 1) t0 = await pair.setUp();
  else {
    await pair.forgetMirror();
    t0 = performance.now();
    await pair.mirror.start();
  }
  const t1 = await pair.caughtUp(catchUpMs(rows));
  const handles = pair.mirror.reader.count();
  const seconds = (t1 - t0) / 1000;
  const r = { seconds, rowsPerSecond: handles / seconds, mirrorRssMiB: pair.mirror.rssBytes() / 2 ** 20, handles };
  s.firstCopy.push(r);
  console.log(`first copy, run ${run}: ${fmt(handles)} handles in ${seconds.toFixed(2)} s = ${fmt(r.rowsPerSecond)} rows/s; mirror resident ${r.mirrorRssMiB.toFixed(0)} MiB`);
}

/** N demo product records under a stem of this run's own, so each run's import adds N new identifiers. */
function writeImportFile(file: string, run: number): void {
  const fd = openSync(file, 'w');
  let lines: string[] = [];
  for (const p of productRecords(PREFIX, rows, 20261206 + run)) {
    lines.push(productNdjson({ ...p, handle: p.handle.replace(`${PREFIX}/`, `${PREFIX}/IMP${run}-`) }));
    if (lines.length >= 10_000) {
      writeSync(fd, lines.join('\n') + '\n');
      lines = [];
    }
  }
  if (lines.length) writeSync(fd, lines.join('\n') + '\n');
  closeSync(fd);
}

async function importToMirror(pair: Pair, root: string, run: number, s: Summary): Promise<void> {
  const file = path.join(root, `import-${run}.ndjson`);
  writeImportFile(file, run);
  const before = pair.primary.reader.count();
  let imported = false;
  const t0 = performance.now();
  const importing = runCli(['import', file, '--dir', pair.primary.dir]).finally(() => (imported = true));
  const caught = pair.caughtUp(catchUpMs(rows) + 1_800_000, { done: () => imported });
  const [imp, t1] = await Promise.all([importing, caught]);
  rmSync(file, { force: true });
  if (imp.code !== 0) throw new Error(`idres import exited with ${imp.code}:\n${imp.stdout}${imp.stderr}`);
  const added = pair.primary.reader.count() - before;
  if (added !== rows) throw new Error(`the import added ${added} identifiers, not ${rows}:\n${imp.stdout}`);
  const mirrorSeconds = (t1 - t0) / 1000;
  const r = { importSeconds: imp.seconds, mirrorSeconds, ratio: mirrorSeconds / imp.seconds };
  s.importToMirror.push(r);
  console.log(
    `import to mirror, run ${run}: ${fmt(rows)} rows imported in ${imp.seconds.toFixed(2)} s (${fmt(rows / imp.seconds)} rows/s), ` +
      `on the mirror ${mirrorSeconds.toFixed(2)} s after the import began: ratio ${r.ratio.toFixed(2)} (target ≤ 2)`,
  );
}

/** `txns` single writes into the stopped primary's registry, each its own transaction (Registry.create). */
function singleWrites(primaryDir: string, run: number): number {
  const registry = new Registry(path.join(primaryDir, 'registry.db'), { synchronous: 'normal' });
  const admin = makeValue(100, 'HS_ADMIN', prefixAdminData(PREFIX), { permissions: 14 });
  const t0 = performance.now();
  try {
    for (let i = 0; i < txns; i++) {
      registry.create(`${PREFIX}/TXN${run}-${i}`, [makeValue(1, 'URL', `https://example.cn/txn/${run}/${i}`), admin]);
    }
  } finally {
    registry.close();
  }
  return txns / ((performance.now() - t0) / 1000);
}

async function throughput(pair: Pair, run: number, s: Summary): Promise<void> {
  await pair.stopAll();
  const writeRate = singleWrites(pair.primary.dir, run);
  await pair.primary.start();
  const t0 = performance.now();
  await pair.mirror.start();
  let base = -1;
  let firstMove: { at: number; position: number } | undefined;
  let lastPosition = 0;
  const t1 = await pair.caughtUp(catchUpMs(txns), {
    moved: (at, position) => {
      if (base < 0) base = position;
      else if (!firstMove) firstMove = { at, position };
      lastPosition = position;
    },
  });
  const fromStartPerSecond = txns / ((t1 - t0) / 1000);
  // From the first committed chunk to the last: the mirror's applying alone, without its start and first ask.
  const applyingPerSecond = firstMove && t1 > firstMove.at ? (lastPosition - firstMove.position) / ((t1 - firstMove.at) / 1000) : fromStartPerSecond;
  s.throughput.push({ txns, fromStartPerSecond, applyingPerSecond });
  console.log(
    `throughput, run ${run}: ${fmt(txns)} single writes (written at ${fmt(writeRate)}/s) applied by the mirror in ${((t1 - t0) / 1000).toFixed(2)} s ` +
      `from its start = ${fmt(fromStartPerSecond)} txns/s; ${fmt(applyingPerSecond)} txns/s from its first commit`,
  );
}

/** The first time (of the polled transitions, in order) the mirror's position reached `txn`. */
function appliedAt(transitions: ReadonlyArray<readonly [number, number]>, txn: number): number | undefined {
  let lo = 0;
  let hi = transitions.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (transitions[mid]![1] < txn) lo = mid + 1;
    else hi = mid;
  }
  return transitions[lo]?.[0];
}

const quantile = (sorted: readonly number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function lag(pair: Pair, pollMs: number, run: number, s: Summary): Promise<void> {
  const startTxn = pair.primary.reader.lastTxnId();
  // The mirror's position as polled while the writer runs and until the mirror has the last write.
  const transitions: Array<[number, number]> = [];
  let written = false;
  const following = pair.caughtUp(catchUpMs(rate * lagSeconds) + lagSeconds * 1000, {
    done: () => written,
    moved: (at, position) => void transitions.push([at, position]),
  });
  const cpu0 = { primary: pair.primary.child!.cpuSeconds(), mirror: pair.mirror.child!.cpuSeconds(), writer: process.cpuUsage() };
  const t0 = performance.now();
  let w;
  try {
    w = await pacedWrites({ primaryDir: pair.primary.dir, port: pair.primary.port, httpUrl: pair.primary.httpUrl(), writer, rate, seconds: lagSeconds, stem: `${PREFIX}/LAG-${pollMs}-${run}` });
  } finally {
    written = true;
    await following;
  }
  const elapsed = (performance.now() - t0) / 1000;
  const writerCpu = process.cpuUsage(cpu0.writer);
  const cpu = {
    primaryUsPerWrite: ((pair.primary.child!.cpuSeconds() - cpu0.primary) * 1e6) / Math.max(1, w.acked.size),
    mirrorPercent: ((pair.mirror.child!.cpuSeconds() - cpu0.mirror) / elapsed) * 100,
    writerUsPerWrite: (writerCpu.user + writerCpu.system) / Math.max(1, w.acked.size),
  };
  const txnOf = pair.primary.reader.createdSince(startTxn);
  const lags: number[] = [];
  let beforeAck = 0;
  for (const [handle, ackedAt] of w.acked) {
    const txn = txnOf.get(handle);
    if (txn === undefined) throw new Error(`${handle} was acknowledged but is not in the primary's log`);
    const applied = appliedAt(transitions, txn);
    if (applied === undefined) throw new Error(`the mirror's position never reached ${handle}'s transaction ${txn}`);
    // The mirror may commit a write before its acknowledgement reaches the writer: no lag, not a negative one.
    if (applied < ackedAt) beforeAck++;
    lags.push(Math.max(0, applied - ackedAt));
  }
  lags.sort((a, b) => a - b);
  const r = { pollMs, p50Ms: quantile(lags, 0.5), p99Ms: quantile(lags, 0.99), maxMs: lags[lags.length - 1]!, writes: lags.length, failed: w.failed, achievedRate: w.achievedRate, beforeAck, ...cpu };
  s.lag.push(r);
  console.log(
    `lag, pollMs ${pollMs}, run ${run}: ${fmt(r.writes)} writes at ${fmt(r.achievedRate)}/s (asked ${rate}/s, ${r.failed} failed); ` +
      `lag p50 ${r.p50Ms.toFixed(0)} ms, p99 ${r.p99Ms.toFixed(0)} ms, max ${r.maxMs.toFixed(0)} ms (${r.beforeAck} applied before their acknowledgement); ` +
      `CPU: primary ${r.primaryUsPerWrite.toFixed(0)} µs per write (serving the mirror included), mirror ${r.mirrorPercent.toFixed(0)} % of a core, writer and poller ${r.writerUsPerWrite.toFixed(0)} µs per write`,
  );
}

async function lagAt(pair: Pair, pollMs: number, s: Summary): Promise<void> {
  await pair.mirror.stop();
  pair.setPollMs(pollMs);
  await pair.mirror.start();
  await pair.caughtUp(catchUpMs(0));
  for (let run = 1; run <= runs; run++) await lag(pair, pollMs, run, s);
}

/** What the benchmark writes and how, for the header and the table's caption. */
function generators(): string {
  return (
    `a primary of ${fmt(rows)} numbered identifiers (URL, product name, HS_ADMIN; bench/common.ts fillNumbered, bulk-written); ` +
    `imports of ${fmt(rows)} seeded demo product records (src/demo/products.ts, NDJSON, idres import); ${fmt(txns)} single writes ` +
    `(Registry.create, one transaction each); a lag writer at ${fmt(rate)}/s for ${lagSeconds} s ` +
    `(${writer === 'wire' ? 'wire CREATE_HANDLE in an HS_MAC session' : 'HTTP PUT in a Handle session'}, deadline-paced); ` +
    `the primary's durability.synchronous ${primarySync}; ${runs} run${runs === 1 ? '' : 's'} each; primary and mirror are separate idres serve processes`
  );
}

function report(s: Summary): void {
  const m = <T>(xs: T[], f: (x: T) => number) => median(xs.map(f));
  const each = <T>(xs: T[], f: (x: T) => string) => xs.map(f).join(', ');
  console.log(`\n**Machine:** ${machine()}. **Generators:** ${generators()}.\n`);
  console.log(`| scenario (median of ${runs}) | figure | runs |\n|---|---|---|`);
  console.log(
    `| first copy of ${fmt(s.rows)} identifiers | ${m(s.firstCopy, (r) => r.seconds).toFixed(2)} s, ${fmt(m(s.firstCopy, (r) => r.rowsPerSecond))} rows/s, ` +
      `mirror resident ${m(s.firstCopy, (r) => r.mirrorRssMiB).toFixed(0)} MiB | ${each(s.firstCopy, (r) => `${r.seconds.toFixed(2)} s`)} |`,
  );
  console.log(
    `| import of ${fmt(s.rows)} rows reaching the mirror | T_import ${m(s.importToMirror, (r) => r.importSeconds).toFixed(2)} s, ` +
      `T_mirror ${m(s.importToMirror, (r) => r.mirrorSeconds).toFixed(2)} s, ratio **${m(s.importToMirror, (r) => r.ratio).toFixed(2)}** (target ≤ 2) | ` +
      `${each(s.importToMirror, (r) => r.ratio.toFixed(2))} |`,
  );
  console.log(
    `| mirror applying ${fmt(txns)} single writes | **${fmt(m(s.throughput, (r) => r.applyingPerSecond))} txns/s** from its first commit; ` +
      `${fmt(m(s.throughput, (r) => r.fromStartPerSecond))} txns/s from its start | ${each(s.throughput, (r) => fmt(r.applyingPerSecond))} |`,
  );
  for (const p of [...new Set(s.lag.map((r) => r.pollMs))]) {
    const l = s.lag.filter((r) => r.pollMs === p);
    console.log(
      `| lag at ${fmt(rate)} writes/s for ${lagSeconds} s, pollMs ${p} | p50 ${m(l, (r) => r.p50Ms).toFixed(0)} ms, **p99 ${m(l, (r) => r.p99Ms).toFixed(0)} ms** ` +
        `(target < 1,000), max ${m(l, (r) => r.maxMs).toFixed(0)} ms; achieved ${fmt(m(l, (r) => r.achievedRate))} writes/s, ` +
        `primary CPU ${m(l, (r) => r.primaryUsPerWrite).toFixed(0)} µs per write | ` +
        `${each(l, (r) => `p99 ${r.p99Ms.toFixed(0)} ms`)} |`,
    );
  }
  // One line for test/bench.test.ts (and anyone scripting this) to read back.
  console.log(`\nreplication bench summary ${JSON.stringify(s)}`);
}

async function main(): Promise<void> {
  console.log(`replication benchmark: machine ${machine()}`);
  console.log(`data: ${generators()}`);
  const root = tempDir('replication');
  const pair = await Pair.create(root);
  const s: Summary = { rows, firstCopy: [], importToMirror: [], throughput: [], lag: [] };
  // Stopped from outside (Ctrl-C, a test's timeout): stop the two nodes too, or they would outlive it.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`${signal}: stopping the primary and the mirror`);
      void pair.stopAll().finally(() => {
        if (!keep) removeDir(root);
        process.exit(130);
      });
    });
  }
  try {
    const b = performance.now();
    fillNumbered(pair.primary.dir, rows);
    patchConfig(pair.primary.dir, (c) => {
      c.durability = { ...(c.durability as Record<string, unknown>), synchronous: primarySync };
    });
    console.log(`primary's registry built in ${((performance.now() - b) / 1000).toFixed(1)} s (not counted)`);
    for (let run = 1; run <= runs; run++) await firstCopy(pair, run, s);
    for (let run = 1; run <= runs; run++) await importToMirror(pair, root, run, s);
    for (let run = 1; run <= runs; run++) await throughput(pair, run, s);
    for (const p of pollList) await lagAt(pair, p, s);
    const atDefault = s.lag.filter((r) => r.pollMs === pollList[0]);
    if (!pollGiven && median(atDefault.map((r) => r.p99Ms)) >= LAG_TARGET_MS) {
      console.log(`p99 lag at pollMs ${pollList[0]} misses the target: again at pollMs 20`);
      await lagAt(pair, 20, s);
    }
    report(s);
  } finally {
    await pair.stopAll();
    if (keep) console.log(`kept ${root}`);
    else removeDir(root);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
