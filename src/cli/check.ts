import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { Command } from 'commander';
import { type NodeConfig, isMirror, loadConfig, registryOptions } from '../node/config.js';
import { serverPrivateKey } from '../node/init.js';
import { isPureResolver } from '../node/node.js';
import { parseIdentity } from '../admin/permissions.js';
import { parseServer } from '../client/handle-client.js';
import { ReplicationClient } from '../client/replication-client.js';
import { decodePublicKey } from '../protocol/pubkey.js';
import { type StreamVerify, keyVerifier } from '../protocol/replication.js';
import { Registry } from '../store/registry.js';
import {
  DEFAULT_BUCKETS,
  HandleDiff,
  type HandleDifference,
  MAX_BUCKETS,
  type RangeDifference,
  type RegistryDigest,
  describeRange,
  differingRanges,
  digestRegistry,
  rangeName,
} from '../store/registry-digest.js';
import { mirrorPosition } from '../store/replication-settings.js';
import { diffPrimary, digestPrimary } from '../replicate/compare.js';
import { dirOption } from './options.js';
import { formatCount } from './progress-bar.js';
import { parseSiteSpec, publicKeyOf } from './site-spec.js';
import { printJson } from './values.js';
import { UsageError } from './usage-error.js';

// `idres check` (docs/replication.md, Checking a mirror): is a mirror's registry its primary's? Both sides
// are summed up by range (store/registry-digest.ts) — the mirror's from its file, the primary's from a
// DUMP_HANDLES stream pulled as the mirror pulls — and the ranges that differ are named, with their handles
// on request. `--against-dir` compares two local registries (two nodes, or a node and a backup file).
//
// A dump is not a snapshot: the primary writes on while it streams. So a difference counts only when it
// survives: the check waits until the mirror has applied what the primary had when the dump ended and looks
// again, up to --retries times; a difference seen while the primary kept writing is reported as possibly in
// flight. Exit status: 0 identical, 1 different, 2 the check could not be made.

export interface CheckOptions {
  dir: string;
  againstDir?: string;
  primary?: string;
  identity?: string;
  buckets: number;
  retries: number;
  waitSeconds: number;
  list: boolean;
  listMax: number;
  json: boolean;
}

/** One side of a comparison, as reported. */
interface Side {
  /** As printed: "mirror", "primary", or a folder's path. */
  name: string;
  /** The JSON field of this side: mirror, primary, dir, against. */
  key: string;
  handles: number;
  /** A mirror's position, a primary's last id, or a registry's own last id. */
  txn: number | undefined;
}

interface Outcome {
  here: Side;
  there: Side;
  buckets: number;
  ranges: number;
  differences: RangeDifference[];
  homed: { onlyHere: string[]; onlyThere: string[] };
  attempts: number;
  /** The primary wrote during the last dump or the mirror was not at the dump's position: differences may be in flight. */
  moving: boolean;
  /** The mirror stood still behind the primary for the whole wait: it is not pulling (stopped, refused, cut off). */
  stalled?: number;
  handles?: { total: number; listed: HandleDifference[] };
}

const POLL_MS = 100;

export async function checkCommand(o: CheckOptions): Promise<number> {
  if (!Number.isInteger(o.buckets) || o.buckets < 1 || o.buckets > MAX_BUCKETS) throw new UsageError(`--buckets must be 1 to ${MAX_BUCKETS}`);
  if (o.againstDir !== undefined && (o.primary !== undefined || o.identity !== undefined)) {
    throw new UsageError('--against-dir compares two local registries: leave out --primary and --identity');
  }
  let outcome: Outcome;
  try {
    outcome = o.againstDir !== undefined ? checkAgainstDir(o, o.againstDir) : await checkMirror(o);
  } catch (err) {
    // A file that is not a registry (not SQLite, or without the tables): an error to report, not a difference.
    if ((err as Error).name === 'SqliteError') throw new UsageError(`cannot read a registry: ${(err as Error).message}`);
    throw err;
  }
  report(outcome, o);
  return outcome.differences.length === 0 ? 0 : 1;
}

/** The registry of the node in `dir` (or a registry file: a backup), opened read-only; it must exist. */
function openExisting(where: string): { registry: Registry; config?: NodeConfig } {
  if (!existsSync(where)) throw new UsageError(`${where} does not exist`);
  if (statSync(where).isFile()) return { registry: new Registry(where, { readonly: true }) };
  const config = loadConfig(where);
  if (isPureResolver(config)) throw new UsageError(`the node in ${where} is a pure resolver: it keeps no registry to check`);
  const file = path.join(where, config.database);
  if (!existsSync(file)) throw new UsageError(`${file} does not exist: no registry to check`);
  return { registry: new Registry(file, { readonly: true, foldSuffix: registryOptions(config).foldSuffix }), config };
}

function checkAgainstDir(o: CheckOptions, other: string): Outcome {
  const a = openExisting(o.dir).registry;
  try {
    const b = openExisting(other).registry;
    try {
      const here = digestRegistry(a, o.buckets);
      const there = digestRegistry(b, o.buckets);
      const outcome = outcomeOf(
        { name: o.dir, key: 'dir', handles: here.digest.handles, txn: here.lastTxnId },
        { name: other, key: 'against', handles: there.digest.handles, txn: there.lastTxnId },
        here.digest,
        there.digest,
        1,
        false,
      );
      if (o.list && outcome.differences.length > 0) {
        const diff = new HandleDiff(a, outcome.differences, o.buckets, o.listMax);
        const rows = b.db.prepare<[], [string, Buffer]>('SELECT handle, vals FROM handles').raw(true);
        for (const [handle, blob] of rows.iterate()) diff.there(handle, blob);
        diff.finish();
        outcome.handles = { total: diff.total, listed: diff.found };
      }
      return outcome;
    } finally {
      b.close();
    }
  } finally {
    a.close();
  }
}

/** How the mirror in `dir` reaches its primary: address, identity, its key, the primary's key. */
async function primaryOf(o: CheckOptions, config: NodeConfig): Promise<{ client: ReplicationClient; verify: StreamVerify }> {
  const r = config.replication;
  const address = o.primary ?? r.primary;
  if (!isMirror(config) && o.primary === undefined) {
    throw new UsageError(`the node in ${o.dir} is not a mirror: name its primary with --primary HOST:PORT (and --identity), or compare two registries with --against-dir`);
  }
  const identityText = o.identity ?? r.identity;
  if (!address) throw new UsageError(`no primary: the configuration in ${o.dir} names none (replication.primary); give --primary HOST:PORT`);
  if (!identityText) throw new UsageError('no replication identity: give --identity INDEX:HANDLE (the one the primary lets pull)');
  const identity = parseIdentity(identityText);
  if (!identity) throw new UsageError(`--identity must be INDEX:HANDLE, e.g. 301:0.NA/88.118.8, not ${identityText}`);
  let server;
  try {
    server = parseServer(address);
  } catch (err) {
    throw new UsageError(`the primary's address ${address}: ${(err as Error).message}`);
  }
  const client = new ReplicationClient(server, { handle: identity.handle, index: identity.index, key: serverPrivateKey(o.dir, config) }, r.timeoutMs);
  return { client, verify: keyVerifier(await primaryKey(o, config, address)) };
}

/**
 * The key the primary signs its streams with: the mirror's copy (keys/primary.pub) when the primary is the
 * configured one, else asked of the primary named with --primary (GET_SITE_INFO), as `init --role mirror` does.
 */
async function primaryKey(o: CheckOptions, config: NodeConfig, address: string): Promise<KeyObject> {
  const file = path.resolve(o.dir, config.replication.primaryKey);
  if (isMirror(config) && address === config.replication.primary && existsSync(file)) {
    try {
      return decodePublicKey(readFileSync(file));
    } catch (err) {
      throw new UsageError(`cannot read the primary's public key from ${file}: ${(err as Error).message}`);
    }
  }
  parseSiteSpec(address); // an IP address and a port, or a UsageError
  return decodePublicKey(await publicKeyOf(address, 'is the primary running?'));
}

async function checkMirror(o: CheckOptions): Promise<Outcome> {
  const { registry, config } = openExisting(o.dir);
  try {
    if (!config) throw new UsageError(`${o.dir} is a registry file, not a node folder: compare it with --against-dir`);
    const { client, verify } = await primaryOf(o, config);
    // A node that is not a mirror (checked with --primary) follows nobody: it is compared as it stands.
    const follows = isMirror(config);
    const keyOf = (h: string) => registry.key(h);
    let outcome: Outcome | undefined;
    for (let attempt = 1; attempt <= o.retries + 1; attempt++) {
      const primary = await digestPrimary(client, verify, keyOf, o.buckets);
      // The mirror has what the primary had when the dump ended once its position reaches endTxn.
      const before = mirrorPosition(registry);
      const position = follows ? await positionReaching(registry, primary.endTxn, o.waitSeconds * 1000) : before;
      const mirror = digestRegistry(registry, o.buckets);
      const at = mirror.position ?? position;
      const moving = primary.startTxn !== primary.endTxn || (follows && at !== primary.endTxn);
      outcome = outcomeOf(
        { name: 'mirror', key: 'mirror', handles: mirror.digest.handles, txn: at },
        { name: 'primary', key: 'primary', handles: primary.digest.handles, txn: primary.endTxn },
        mirror.digest,
        primary.digest,
        attempt,
        moving,
      );
      if (outcome.differences.length === 0 || !moving) break;
      // A mirror that did not move at all while it waited behind the primary is not pulling: looking again
      // would see the same, so say so instead.
      if (follows && position < primary.endTxn && position === before && o.waitSeconds > 0) {
        outcome.stalled = o.waitSeconds;
        break;
      }
      if (attempt <= o.retries && !o.json) {
        process.stderr.write(
          `check: ${outcome.differences.length} range(s) differ while the primary moved (txn ${primary.startTxn} to ${primary.endTxn} during the dump, mirror at ${at}); checking again\n`,
        );
      }
    }
    if (o.list && outcome!.differences.length > 0) {
      const diff = new HandleDiff(registry, outcome!.differences, o.buckets, o.listMax);
      await diffPrimary(client, verify, diff);
      outcome!.handles = { total: diff.total, listed: diff.found };
    }
    return outcome!;
  } finally {
    registry.close();
  }
}

/** A mirror's position as committed now (each read sees the running mirror's latest commit). */

/** The mirror's position once it reaches `txn`, or whatever it is when `waitMs` runs out (a stopped mirror). */
async function positionReaching(registry: Registry, txn: number, waitMs: number): Promise<number> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const position = mirrorPosition(registry);
    if (position >= txn || Date.now() >= deadline) return position;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function outcomeOf(here: Side, there: Side, a: RegistryDigest, b: RegistryDigest, attempts: number, moving: boolean): Outcome {
  const names = new Set([...a.summaries(), ...b.summaries()].map(rangeName));
  return {
    here,
    there,
    buckets: a.buckets,
    ranges: names.size,
    differences: differingRanges(a, b),
    homed: { onlyHere: [...a.homed].filter((p) => !b.homed.has(p)).sort(), onlyThere: [...b.homed].filter((p) => !a.homed.has(p)).sort() },
    attempts,
    moving,
    handles: undefined,
  };
}

const KIND_TEXT = (o: Outcome, k: HandleDifference['kind']) =>
  k === 'only-here' ? `only on the ${o.here.name}` : k === 'only-there' ? `only on the ${o.there.name}` : 'values differ';

function report(out: Outcome, o: CheckOptions): void {
  const identical = out.differences.length === 0;
  if (o.json) {
    printJson({
      identical,
      [out.here.key]: { handles: out.here.handles, txn: out.here.txn ?? null },
      [out.there.key]: { handles: out.there.handles, txn: out.there.txn ?? null },
      buckets: out.buckets,
      ranges: out.ranges,
      attempts: out.attempts,
      inFlight: !identical && out.moving,
      differences: out.differences.map((d) => ({
        range: describeRange(d, out.buckets),
        prefix: d.bucket < 0 ? null : d.prefix,
        bucket: d.bucket < 0 ? null : d.bucket,
        [out.here.key]: d.here,
        [out.there.key]: d.there,
      })),
      homedPrefixes: { [`only${cap(out.here.key)}`]: out.homed.onlyHere, [`only${cap(out.there.key)}`]: out.homed.onlyThere },
      ...(out.handles
        ? { handles: out.handles.listed.map((h) => ({ handle: h.handle, difference: h.kind === 'only-here' ? `only-${out.here.key}` : h.kind === 'only-there' ? `only-${out.there.key}` : 'values-differ' })), handlesDiffering: out.handles.total }
        : {}),
    });
    return;
  }
  const { here, there } = out;
  const counts = here.handles === there.handles ? `${formatCount(here.handles)} handles` : `${formatCount(there.handles)} handles on the ${there.name}, ${formatCount(here.handles)} on the ${here.name}`;
  const head =
    here.name === 'mirror'
      ? `mirror at txn ${here.txn ?? '?'} of primary ${there.txn ?? '?'}; ${counts} in ${out.ranges} ranges`
      : `${here.name} (txn ${here.txn}) against ${there.name} (txn ${there.txn}); ${counts} in ${out.ranges} ranges`;
  if (identical) {
    console.log(`${head}: identical`);
    return;
  }
  console.log(`${head}: ${out.differences.length} range${out.differences.length === 1 ? '' : 's'} differ`);
  for (const d of out.differences) {
    console.log(`  ${describeRange(d, out.buckets)}: ${here.name} ${formatCount(d.here)}, ${there.name} ${formatCount(d.there)}`);
  }
  for (const p of out.homed.onlyHere) console.log(`  homed prefix ${p}: only on the ${here.name}`);
  for (const p of out.homed.onlyThere) console.log(`  homed prefix ${p}: only on the ${there.name}`);
  if (out.handles) {
    for (const h of out.handles.listed) console.log(`  ${h.handle}  ${KIND_TEXT(out, h.kind)}`);
    if (out.handles.total > out.handles.listed.length) console.log(`  … and ${formatCount(out.handles.total - out.handles.listed.length)} more (--list-max)`);
  }
  if (out.stalled !== undefined) {
    console.log(`note: the mirror stayed at txn ${here.txn} for ${out.stalled} s while the primary is at ${there.txn}: it is not pulling (is it running, and allowed?); the differences include what it lacks`);
  } else if (out.moving) {
    console.log(
      `note: the primary was writing (or the mirror had not caught up) on each of ${out.attempts} attempt${out.attempts === 1 ? '' : 's'}: ` +
        'some of these differences may be changes in flight; run the check again, or with more --retries and --wait',
    );
  }
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function count(name: string, min: number, max: number) {
  return (v: string) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) throw new UsageError(`${name} must be a whole number from ${min} to ${max}, not ${v}`);
    return n;
  };
}

/** `idres check`: compare a mirror with its primary, or two registries. */
export function addCheckCommand(program: Command): void {
  program
    .command('check')
    .description('compare a mirror\'s registry with its primary\'s (counts and digests per prefix range) and say where they differ; exit 0 identical, 1 different, 2 error')
    .addOption(dirOption())
    .option('--against-dir <path>', 'compare with another local registry instead: a node folder or a registry file (a backup)')
    .option('--primary <host:port>', 'the primary to compare with (default: the mirror\'s replication.primary)')
    .option('--identity <index:handle>', 'the replication identity to pull as (default: replication.identity); proven with the node\'s server key')
    .option('--buckets <n>', 'ranges per prefix: a difference is narrowed to 1/n of a prefix\'s handles', count('--buckets', 1, MAX_BUCKETS), DEFAULT_BUCKETS)
    .option('--retries <n>', 'look again this many times when differences may be writes in flight', count('--retries', 0, 100), 3)
    .option('--wait <seconds>', 'how long to wait, each time, for the mirror to apply what the primary had at the end of the dump', count('--wait', 0, 86400), 10)
    .option('--list', 'name the handles that differ in the differing ranges')
    .option('--list-max <n>', 'name at most this many handles', count('--list-max', 1, 10_000_000), 100)
    .option('--json', 'print the outcome as JSON')
    .action(async (o) => {
      process.exitCode = await checkCommand({
        dir: o.dir,
        againstDir: o.againstDir,
        primary: o.primary,
        identity: o.identity,
        buckets: o.buckets,
        retries: o.retries,
        waitSeconds: o.wait,
        list: Boolean(o.list),
        listMax: o.listMax,
        json: Boolean(o.json),
      });
    });
}
