// What response-rate limiting costs per UDP answer (docs/security.md): ResponseRateLimiter.check as the
// UDP front end calls it once per answer, timed over millions of calls in a few patterns of source
// addresses, with Date.now() as the front end reads it, against the same loop without it (the loop, the
// address strings and the clock read); medians of K runs, in ns a call.
//
//   npm run bench:rrl -- [--calls N] [--runs K]
import { cpus } from 'node:os';
import { ResponseRateLimiter, SEND, type RrlOptions } from '../src/server/udp-rate.js';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const calls = Number(option('calls', '5000000'));
const runs = Number(option('runs', '5'));

const DEFAULTS: RrlOptions = { responsesPerSecond: 200, burst: 200, slip: 2, ipv4PrefixLength: 24, ipv6PrefixLength: 56, tableSize: 65536, exempt: ['127.0.0.0/8', '::1/128'] };
const LARGE = { minBytes: 1232, bytesPerSecond: 1048576 };

function addresses(n: number, make: (i: number) => string): string[] {
  return Array.from({ length: n }, (_, i) => make(i));
}

interface Case {
  name: string;
  opts: RrlOptions;
  sources: string[];
}

const cases: Case[] = [
  // A scanner's steady traffic under its rate (a high rate, so every answer is sent and charged).
  { name: 'one IPv4 source, under its rate', opts: { ...DEFAULTS, responsesPerSecond: 1e9, burst: 1e9 }, sources: ['192.0.2.10'] },
  // A flood from one network: every answer limited (dropped or slipped).
  { name: 'one IPv4 source, over its rate (limited)', opts: DEFAULTS, sources: ['198.51.100.7'] },
  // Many clients: 50,000 networks, round robin, in a table of 65,536 entries.
  { name: '50,000 IPv4 networks, round robin', opts: { ...DEFAULTS, responsesPerSecond: 1e9, burst: 1e9 }, sources: addresses(50000, (i) => `10.${(i >> 8) & 255}.${i & 255}.${(i * 7) & 255}`) },
  // A forged-source flood from 1,000,000 networks: nearly every answer replaces an entry.
  { name: '1,000,000 IPv4 networks (replacing entries)', opts: DEFAULTS, sources: addresses(1000000, (i) => `${11 + ((i >> 16) & 15)}.${(i >> 8) & 255}.${i & 255}.1`) },
  { name: 'one IPv6 source, under its rate', opts: { ...DEFAULTS, responsesPerSecond: 1e9, burst: 1e9 }, sources: ['2001:db8:0:1234:5678:9abc:def0:1'] },
  { name: 'loopback (exempt)', opts: DEFAULTS, sources: ['127.0.0.1'] },
];

function run(c: Case): number {
  const l = new ResponseRateLimiter(c.opts, LARGE);
  const src = c.sources;
  const n = src.length;
  let sent = 0;
  // Warm up (and fill the table), then time.
  for (let i = 0; i < Math.min(calls, 200000); i++) l.check(src[i % n]!, 200, Date.now());
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) if (l.check(src[i % n]!, 200, Date.now()) === SEND) sent++;
  const ns = Number(process.hrtime.bigint() - t0) / calls;
  if (sent < 0) console.log(sent);
  return ns;
}

/** The same loop over the same sources without the limiter: the strings read, Date.now() called. */
function baseline(c: Case): number {
  const src = c.sources;
  const n = src.length;
  let x = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) x += (src[i % n]!.charCodeAt(0) + Date.now()) & 1;
  const ns = Number(process.hrtime.bigint() - t0) / calls;
  if (x < 0) console.log(x);
  return ns;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`rrl micro-benchmark: ${calls.toLocaleString('en-US')} calls × ${runs} runs, node ${process.version}, ${cpus()[0]?.model ?? '?'}`);
console.log(`  ${'case'.padEnd(46)} ${'check()'.padStart(9)} ${'loop+clock'.padStart(11)} ${'limiter'.padStart(9)}   (ns a call, medians; fastest run in brackets)`);
for (const c of cases) {
  const withL = Array.from({ length: runs }, () => run(c));
  const without = Array.from({ length: runs }, () => baseline(c));
  const cost = median(withL) - median(without);
  const best = Math.min(...withL) - Math.min(...without);
  console.log(`  ${c.name.padEnd(46)} ${median(withL).toFixed(1).padStart(9)} ${median(without).toFixed(1).padStart(11)} ${cost.toFixed(1).padStart(9)}   [${best.toFixed(1)}]`);
}
