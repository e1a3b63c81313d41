// The C load generator (../shared/tools/hdlperf) as a drop-in for runLoad: a Node generator takes most of a
// core on this two-core machine and caps what it can measure near 34,000 q/s, so UDP and TCP figures come
// from hdlperf where it can be built here, and from src/bench/loadgen.ts otherwise (and always for TCP
// with pipelining, which hdlperf does not do). Every report says which generator made it.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadOptions, LoadReport } from '../src/bench/loadgen.js';

/** Where the generator's source is, beside the project (shared/ may be read-only: it is built elsewhere). */
const SOURCE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/tools/hdlperf/hdlperf.c');
const BUILT = path.join(tmpdir(), 'idres-hdlperf');
/** The picks written to the handles file: more than any run here sends, so the file is never wrapped. */
const MAX_PICKS = 2_000_000;

let binary: string | null | undefined;

/**
 * The hdlperf binary: $IDRES_HDLPERF, or one built from the shared source into the temporary folder (again
 * when the source is newer); null when neither can be had (no source, no C compiler) or
 * IDRES_GENERATOR=node asks for the Node generator.
 */
export function hdlperfBinary(): string | null {
  if (binary !== undefined) return binary;
  binary = null;
  if (process.env.IDRES_GENERATOR === 'node') return binary;
  if (process.env.IDRES_HDLPERF) return (binary = process.env.IDRES_HDLPERF);
  if (!existsSync(SOURCE)) return binary;
  if (existsSync(BUILT) && statSync(BUILT).mtimeMs >= statSync(SOURCE).mtimeMs) return (binary = BUILT);
  try {
    execFileSync('cc', ['-O2', '-o', BUILT, SOURCE, '-lpthread', '-lm'], { stdio: 'pipe' });
    binary = BUILT;
  } catch {
    binary = null;
  }
  return binary;
}

/** The generator a load would run with: hdlperf for UDP and TCP (one connection per request, or KC unpipelined). */
export function generatorFor(load: LoadOptions): 'hdlperf' | 'node' {
  const kcPipelined = load.transport === 'tcp-kc' && (load.pipeline ?? 1) > 1;
  return hdlperfBinary() && !kcPipelined && load.stopAfter === undefined ? 'hdlperf' : 'node';
}

/** The handles in the order they are to be asked: the picker's sequence, or the list (or numbers) in order. */
function handlesFile(load: LoadOptions, expected: number): string {
  const total = Array.isArray(load.handles) ? load.handles.length : load.handles.count;
  const at = (i: number): string => {
    if (Array.isArray(load.handles)) return load.handles[i]!;
    const h = load.handles;
    return `${h.stem}${String(h.first + i).padStart(h.width, '0')}`;
  };
  const n = load.pick ? Math.min(MAX_PICKS, Math.max(expected, 1000)) : Math.min(total, MAX_PICKS);
  const lines: string[] = new Array(n);
  for (let i = 0; i < n; i++) lines[i] = at(load.pick ? load.pick() : i);
  const file = path.join(tmpdir(), `idres-hdlperf-${process.pid}.handles`);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** One run of hdlperf with the load's shape; its one summary line read into a LoadReport. */
export async function runHdlperf(load: LoadOptions): Promise<LoadReport> {
  const bin = hdlperfBinary();
  if (!bin) throw new Error('hdlperf is not available');
  const seconds = Math.max(1, Math.round(load.durationMs / 1000));
  // A file long enough for a generous rate over the whole run (200,000 q/s), so no run wraps around it.
  const file = handlesFile(load, load.rate > 0 ? load.rate * seconds * 2 : 200_000 * seconds);
  const args = ['-s', load.host, '-p', String(load.port), '-d', file, '-l', String(seconds), '-c', String(load.concurrency), '-w', String(load.timeoutMs ?? 1000)];
  if (load.transport !== 'udp') args.push('-m', 'tcp');
  if (load.transport === 'tcp-kc') args.push('-k');
  if (load.rate > 0) args.push('-Q', String(load.rate));
  if (load.flags !== undefined) args.push('-F', `0x${load.flags.toString(16).padStart(8, '0')}`);
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    p.stdout.on('data', (d: Buffer) => (text += d.toString()));
    p.stderr.on('data', (d: Buffer) => (text += d.toString()));
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`hdlperf ${args.join(' ')} exited with ${code}:\n${text}`))));
  });
  const line = out.split('\n').find((l) => l.startsWith('hdlperf: qps='));
  if (!line) throw new Error(`hdlperf printed no summary:\n${out}`);
  const f = Object.fromEntries(line.slice('hdlperf: '.length).trim().split(/\s+/).map((kv) => kv.split('=') as [string, string]));
  const num = (k: string) => Number(f[k] ?? 0);
  const us = (k: string) => Math.round(num(k) * 1000);
  const sent = num('sent');
  return {
    transport: load.transport,
    sent,
    answered: num('completed'),
    lost: num('lost'),
    responseCodes: { '1': num('ok'), other: num('other'), malformed: num('malformed') },
    qps: Math.round(num('qps')),
    latencyUs: { p50: us('p50_ms'), p99: us('p99_ms'), p999: us('p999_ms'), max: us('max_ms'), mean: us('avg_ms') },
    durationMs: seconds * 1000,
    generatorCpuUsPerRequest: sent ? Math.round(((num('client_cores') * seconds) / sent) * 1e6 * 10) / 10 : 0,
  };
}
