import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { type LoadTransport, runLoad } from '../bench/loadgen.js';
import { parseServer } from '../client/handle-client.js';
import { UsageError } from './values.js';
import { collect } from './options.js';
import { nonNegativeNumberOption, positiveIntOption } from './numbers.js';

export interface BenchCommandOptions {
  server: string;
  handles: string[];
  handlesFile?: string;
  transport: LoadTransport;
  rate: number;
  concurrency: number;
  durationSeconds: number;
  pipeline: number;
  json: boolean;
}

/** The load generator against any Handle server: rate or saturation, a report of rates, codes and latency. */
export async function benchCommand(o: BenchCommandOptions): Promise<void> {
  const handles = [...o.handles];
  if (o.handlesFile) handles.push(...readFileSync(o.handlesFile, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0));
  if (handles.length === 0) throw new UsageError('give identifiers to ask for: --handle ID (repeatable) or --handles-file FILE (one per line)');
  for (const [name, v] of [['--rate', o.rate], ['--concurrency', o.concurrency], ['--duration', o.durationSeconds]] as const) {
    if (!Number.isFinite(v) || v < 0) throw new UsageError(`${name} must be a number ≥ 0`);
  }
  const server = parseServer(o.server);
  if (!/^(127\.|::1$|localhost$)/.test(server.host) && !process.env.IDRES_BENCH_ANY_HOST) {
    // A load test is aimed at one's own node; anything else needs a deliberate opt-in.
    throw new UsageError(`idres bench only targets loopback addresses (set IDRES_BENCH_ANY_HOST=1 to aim at ${server.host})`);
  }
  const report = await runLoad({
    host: server.host,
    port: server.port,
    transport: o.transport,
    handles,
    rate: o.rate,
    concurrency: Math.max(1, o.concurrency),
    durationMs: Math.max(1, o.durationSeconds) * 1000,
    pipeline: o.pipeline,
  });
  if (o.json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  const l = report.latencyUs;
  console.log(`${report.transport} against ${o.server}, ${o.rate ? `${o.rate} q/s` : `saturation (${o.concurrency} in flight)`}, ${report.durationMs} ms`);
  console.log(`  sent ${report.sent}  answered ${report.answered}  lost ${report.lost}  → ${report.qps} answers/s`);
  console.log(`  response codes ${JSON.stringify(report.responseCodes)}`);
  console.log(`  latency µs: p50 ${l.p50}  p99 ${l.p99}  p99.9 ${l.p999}  max ${l.max}  mean ${l.mean}`);
  console.log(`  generator CPU ${report.generatorCpuUsPerRequest} µs per request`);
}

/** `idres bench`: load-test a Handle server. */
export function addBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('load-test a Handle server (yours, on loopback): many requests in flight or a fixed rate, then rates, codes and latency')
    .option('-s, --server <host:port>', 'the server under test', '127.0.0.1:2641')
    .option('--handle <id>', 'an identifier to ask for (repeatable)', collect, [])
    .option('--handles-file <file>', 'identifiers to ask for, one per line (asked in turn)')
    .addOption(new Option('--transport <t>', 'udp, tcp (a connection per request) or tcp-kc (kept connections)').choices(['udp', 'tcp', 'tcp-kc']).default('udp'))
    .option('--rate <qps>', 'requests a second; 0 = as many as answered (saturation)', nonNegativeNumberOption('--rate'), 0)
    .option('--concurrency <n>', 'requests in flight (UDP) or connections (TCP)', positiveIntOption('--concurrency'), 100)
    .option('--duration <seconds>', 'how long to run', nonNegativeNumberOption('--duration'), 10)
    .option('--pipeline <n>', 'requests in flight per kept TCP connection', positiveIntOption('--pipeline'), 8)
    .option('--json', 'print the report as JSON')
    .action((o) =>
      benchCommand({
        server: o.server,
        handles: o.handle,
        handlesFile: o.handlesFile,
        transport: o.transport,
        rate: o.rate,
        concurrency: o.concurrency,
        durationSeconds: o.duration,
        pipeline: o.pipeline,
        json: Boolean(o.json),
      }),
    );
}
