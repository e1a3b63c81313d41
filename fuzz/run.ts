// npm run fuzz -- --packets 10000000 [--seed N]: the long fuzzing campaign, run by hand; prints a report and
// exits non-zero if the node died, answered a canary wrongly, grew past its bound or lost stored data.
import { repoRoot } from '../bench/common.js';
import { runCampaign } from './campaign.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const n = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} takes a whole number`);
  return n;
}

const packets = arg('packets', 200000);
const seed = arg('seed', Date.now() % 1e9);
// Resident memory rises and falls with garbage collection (V8 grows its heap before it collects): the bound is
// on the rise after the warm-up, generous enough for that sawtooth and far below what a leak reaches.
const maxGrowth = arg('max-growth-mib', 192) * 2 ** 20;
console.log(`fuzz: ${packets} packets, seed ${seed}`);
const report = await runCampaign({ packets, seed, repoRoot, log: (l) => console.log(l) });
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
console.log(JSON.stringify({ ...report, rssWarm: mib(report.rssWarmBytes), rssPeak: mib(report.rssPeakBytes), rssEnd: mib(report.rssEndBytes) }, null, 2));
const grew = report.rssEndBytes - report.rssWarmBytes;
const ok = report.alive && report.wrongAnswers.length === 0 && report.registryUnchanged && grew <= maxGrowth;
console.log(ok ? `fuzz: passed (memory ${grew >= 0 ? '+' : ''}${mib(grew)} after warm-up, seed ${seed})` : `fuzz: FAILED (seed ${seed})`);
process.exitCode = ok ? 0 : 1;
