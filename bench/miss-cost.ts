// Where the time of a cold miss goes (issue 16), in one process and without sockets: the parts of the miss
// path (resolve/blob-miss.ts) timed one by one over a numbered registry, beside the dispatcher's whole miss
// and a hot hit, so that "a miss costs ~12 µs more than a hit" can be split into SQLite, strings, the scan
// and the cache insert. Probes run in alternating rounds (every probe once per round, the order rotated),
// each round over the same number of fresh random keys; the report is the median and the lowest round.
// Times are CPU time of the process (process.cpuUsage), which another busy process on the machine
// disturbs less than the wall clock does.
//
//   node dist/bench/miss-cost.js [--dir bench/data/numbered-1000000] [--keys 200000] [--rounds 7] [--only a,b] [--verbose]
//
// The folder is the cold scenario's (bench/cold.ts builds it; fillNumbered). It is opened read-write, as a
// node opens it, so the statements run in WAL mode as they do under load.
import path from 'node:path';
import Database from 'better-sqlite3';
import { Registry } from '../src/store/registry.js';
import { PointReader } from '../src/store/point-reader.js';
import { Authority } from '../src/resolve/authority.js';
import { Delegations } from '../src/resolve/delegation.js';
import { ChangeWatcher } from '../src/resolve/changes.js';
import { AnswerCache } from '../src/resolve/cache/answer-cache.js';
import { ResolutionPipeline } from '../src/resolve/pipeline.js';
import { scanPublicValueList } from '../src/protocol/value-scan.js';
import { RequestHandler } from '../src/wire/dispatcher.js';
import { Responder } from '../src/protocol/responder.js';
import { encodePacket } from '../src/protocol/message.js';
import { encodeResolutionRequest } from '../src/protocol/bodies.js';
import type { SiteInfo } from '../src/model/site.js';
import { HandlerProblems, ProblemLog } from '../src/log/problems.js';
import { createLogger } from '../src/log/logger.js';
import { seededRandom } from '../src/demo/products.js';
import { arg, dataDir, machine, median, numberedHandle } from './common.js';

const count = arg('count', 1_000_000);
const keysPerRound = arg('keys', 200_000);
const rounds = arg('rounds', 7);
const dirArg = process.argv.indexOf('--dir');
const dir = dirArg >= 0 ? process.argv[dirArg + 1]! : dataDir(`numbered-${count}`);
const onlyArg = process.argv.indexOf('--only');
const only = onlyArg >= 0 ? new Set(process.argv[onlyArg + 1]!.split(',')) : undefined;
const dbFile = path.join(dir, 'registry.db');
/** Print every round's figure, not only the median and the lowest. */
const verbose = process.argv.includes('--verbose');

const SITE: SiteInfo = {
  dataFormatVersion: 1,
  protocolMajor: 2,
  protocolMinor: 11,
  serial: 1,
  primary: true,
  multiPrimary: false,
  hashOption: 0,
  hashFilter: Buffer.alloc(0),
  attributes: [],
  servers: [],
};
const UDP = { transport: 'udp', maxResponseBytes: 65536 } as const;

/** A node's handler over the registry, as node.ts wires it (no admin, no transports), with a cache of `cacheBytes`. */
function handlerOver(registry: Registry, cacheBytes: number) {
  const responder = new Responder(SITE.serial, true);
  const cache = new AnswerCache({ maxBytes: cacheBytes, staleWindowMs: 60_000, packetOf: (rc, body) => responder.template(rc, body) });
  const authority = new Authority(registry);
  const local = { authority, delegations: new Delegations(registry, authority), changes: new ChangeWatcher(registry, cache, authority, 1000) };
  const pipeline = new ResolutionPipeline(cache, local, undefined, {
    allowRecursion: false,
    alwaysRecurse: false,
    maxRecursionCount: 4,
    negativeTtlSeconds: 30,
    maxTtlSeconds: 86400,
    foldSuffix: registry.foldSuffix,
  });
  const quiet = new HandlerProblems(new ProblemLog(createLogger({ sink: () => undefined })));
  return { handler: new RequestHandler(pipeline, responder, SITE, quiet), pipeline, cache };
}

function request(handle: string, id: number): Buffer {
  return encodePacket(
    { major: 2, minor: 11, compressed: false, encrypted: false, truncated: false, suggestedMajor: 0, suggestedMinor: 0, sessionId: 0, requestId: id, sequence: 0 },
    { opCode: 1, responseCode: 0, opFlags: 0, siteSerial: 0, recursionCount: 0, expiration: 0 },
    encodeResolutionRequest(handle),
  );
}

/** What one round works on: random registered identifiers, as strings, keys and request packets. */
interface Round {
  handles: string[];
  keys: string[];
  requests: Buffer[];
  /** The stored blobs of `keys` (for the probes that start after the read). */
  blobs: Buffer[];
  /** Miss-path templates of the same (head, handle, list), for the cache probes. */
  templates: Buffer[];
}

type Probe = (r: Round) => number | Promise<number>;

/** The end of a turn of the event loop (what ends a point reader's snapshot). */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

const registry = new Registry(dbFile);
const sink = { n: 0 };
const closers: Array<() => void> = [];

function makeRound(seed: number): Round {
  const rnd = seededRandom(seed);
  const handles: string[] = [];
  for (let i = 0; i < keysPerRound; i++) handles.push(numberedHandle(1 + Math.floor(rnd() * count)));
  const keys = handles.map((h) => registry.key(h));
  const requests = handles.map((h, i) => request(h, i + 1));
  const blobs = keys.map((k) => registry.blobAt(k)!);
  const templates = requests.map((q, i) => Buffer.concat([Buffer.alloc(44), q.subarray(44, q.length - 12), blobs[i]!.subarray(1), Buffer.alloc(4)]));
  return { handles, keys, requests, blobs, templates };
}

// ---- the probes: each returns how many operations it made ----

const probes = new Map<string, { label: string; run: Probe }>();
const add = (id: string, label: string, run: Probe) => {
  if (!only || only.has(id)) probes.set(id, { label, run });
};

// SQLite, through the registry's own statement (pluck) and through variants of it.
const db = registry.db;
const counter = db.prepare("SELECT n FROM counters WHERE name = 'handles'").pluck(true);
const exists = db.prepare('SELECT 1 FROM handles WHERE handle_key = ?').pluck(true);
const blobStmt = db.prepare('SELECT vals FROM handles WHERE handle_key = ?').pluck(true);
const rawVals = db.prepare('SELECT vals FROM handles WHERE handle_key = ?').raw(true);
add('floor', 'sqlite: counter row (a statement on a one-page table)', (r) => {
  for (let i = 0; i < r.keys.length; i++) sink.n += counter.get() as number;
  return r.keys.length;
});
add('exists', 'sqlite: exists (the B-tree search, no blob copied out)', (r) => {
  for (const k of r.keys) sink.n += exists.get(k) as number;
  return r.keys.length;
});
add('pluck', 'sqlite: autocommit pluck get (the miss path read before)', (r) => {
  for (const k of r.keys) sink.n += (blobStmt.get(k) as Buffer).length;
  return r.keys.length;
});
add('raw', 'sqlite: autocommit raw get (a row array around the blob)', (r) => {
  for (const k of r.keys) sink.n += (rawVals.get(k) as [Buffer])[0].length;
  return r.keys.length;
});
const begin = db.prepare('BEGIN');
const commit = db.prepare('COMMIT');
add('txn32', 'sqlite: pluck get, one read transaction per 32 reads', (r) => {
  for (let i = 0; i < r.keys.length; i += 32) {
    begin.run();
    for (let j = i; j < i + 32 && j < r.keys.length; j++) sink.n += (blobStmt.get(r.keys[j]!) as Buffer).length;
    commit.run();
  }
  return r.keys.length;
});
/** A probe's loop inside one read transaction per 32 operations: what the statement costs without the lock. */
const inTxn32 =
  (op: (key: string) => number): Probe =>
  (r) => {
    for (let i = 0; i < r.keys.length; i += 32) {
      begin.run();
      for (let j = i; j < i + 32 && j < r.keys.length; j++) sink.n += op(r.keys[j]!);
      commit.run();
    }
    return r.keys.length;
  };
add('floor-txn', 'sqlite: counter row, one read transaction per 32', inTxn32(() => counter.get() as number));
add('exists-txn', 'sqlite: exists, one read transaction per 32', inTxn32((k) => exists.get(k) as number));
add('iter-txn', 'sqlite: pluck iterate(), one read transaction per 32', inTxn32((k) => {
  let n = 0;
  for (const b of blobStmt.iterate(k)) n += (b as Buffer).length;
  return n;
}));
// The blob as hex text written into a buffer the caller keeps: no Buffer made per read.
const hexVals = db.prepare('SELECT hex(vals) FROM handles WHERE handle_key = ?').pluck(true);
const into = Buffer.allocUnsafeSlow(64 * 1024);
add('hex-txn', 'sqlite: hex(vals) written into a kept buffer, one read transaction per 32', inTxn32((k) => into.write(hexVals.get(k) as string, 0, 'hex')));
add('txnall', 'sqlite: pluck get, one read transaction for the round', (r) => {
  begin.run();
  for (const k of r.keys) sink.n += (blobStmt.get(k) as Buffer).length;
  commit.run();
  return r.keys.length;
});
const reader = new Database(dbFile, { readonly: true });
reader.pragma(`mmap_size = ${2047 * 1024 * 1024}`);
reader.pragma(`cache_size = -${64 * 1024}`);
const readerBlob = reader.prepare('SELECT vals FROM handles WHERE handle_key = ?').pluck(true);
add('ro', 'sqlite: a second, read-only connection, autocommit', (r) => {
  for (const k of r.keys) sink.n += (readerBlob.get(k) as Buffer).length;
  return r.keys.length;
});
// The point reader (store/point-reader.ts) as Registry.blobAt uses it, the event loop turning every
// `perTurn` reads (libuv reads up to 32 datagrams a turn from a busy socket), with the page cache and
// mapping of the registry's defaults and of other choices.
const MIB = 1024 * 1024;
function pointProbe(perTurn: number, mmapBytes = 2047 * MIB, cacheKiB = 64 * 1024): Probe {
  const points = new PointReader(dbFile, { mmapBytes, cacheKiB });
  closers.push(() => points.close());
  return async (r) => {
    for (let i = 0; i < r.keys.length; i++) {
      sink.n += points.blobAt(r.keys[i]!)!.length;
      if ((i + 1) % perTurn === 0) await nextTurn();
    }
    await nextTurn();
    return r.keys.length;
  };
}
add('point1', 'sqlite: point reader, 1 read a turn', pointProbe(1));
add('point2', 'sqlite: point reader, 2 reads a turn', pointProbe(2));
add('point8', 'sqlite: point reader, 8 reads a turn', pointProbe(8));
add('point32', 'sqlite: point reader, 32 reads a turn', pointProbe(32));
add('point32-2m', 'sqlite: point reader, 32 a turn, 2 MiB page cache', pointProbe(32, 2047 * MIB, 2 * 1024));
add('point32-nommap', 'sqlite: point reader, 32 a turn, no mmap, 512 MiB page cache', pointProbe(32, 0, 512 * 1024));
// The turns alone: what awaiting the next turn costs the probes above, per read.
add('turn1', 'js: an event-loop turn per read, no read', async (r) => {
  for (let i = 0; i < r.keys.length; i++) await nextTurn();
  return r.keys.length;
});
add('blobAt', 'sqlite: registry.blobAt as it stands, 32 a turn', async (r) => {
  for (let i = 0; i < r.keys.length; i++) {
    sink.n += registry.blobAt(r.keys[i]!)!.length;
    if ((i + 1) % 32 === 0) await nextTurn();
  }
  await nextTurn();
  return r.keys.length;
});

// The JavaScript around the read.
add('latin1', 'js: handle string from the datagram (latin1)', (r) => {
  for (const q of r.requests) sink.n += q.toString('latin1', 48, q.length - 12).length;
  return r.requests.length;
});
add('key', 'js: registry.key(handle)', (r) => {
  for (const h of r.handles) sink.n += registry.key(h).length;
  return r.handles.length;
});
add('scan', 'js: scanPublicValueList', (r) => {
  const now = Math.floor(Date.now() / 1000);
  for (const b of r.blobs) sink.n += scanPublicValueList(b, 1, b.length, now);
  return r.blobs.length;
});

// The cache insert: into a 1 MiB cache (full after a few thousand answers: every insert evicts) and a
// large one (never full in a round: no eviction, but a growing index).
function setAtProbe(maxBytes: number): Probe {
  const cache = new AnswerCache({ maxBytes, staleWindowMs: 0, packetOf: (_rc, body) => body });
  return (r) => {
    const now = Date.now();
    for (let i = 0; i < r.requests.length; i++) {
      const q = r.requests[i]!;
      const t = r.templates[i]!;
      sink.n += cache.setAt(q, 44, q.length - 4, r.keys[i]!, 1, t, 0, t.length, now + 86_400_000, now);
    }
    if (cache.bytes > maxBytes / 2) cache.clear();
    return r.requests.length;
  };
}
add('set1m', 'cache: setAt into a 1 MiB cache (evicts on every insert)', setAtProbe(1 << 20));
add('set1g', 'cache: setAt into a 1 GiB cache (no eviction)', setAtProbe(1 << 30));

// The dispatcher: a whole miss (the cache asked, the miss path, the reply patched) and a hot hit. A turn
// ends every 32 requests, as under load.
const cold = handlerOver(registry, 1 << 20);
add('miss', 'dispatcher: miss (1 MiB cache), 32 a turn', async (r) => {
  for (let i = 0; i < r.requests.length; i++) {
    sink.n += (cold.handler.handle(r.requests[i]!, UDP) as Buffer).length;
    if ((i + 1) % 32 === 0) await nextTurn();
  }
  await nextTurn();
  return r.requests.length;
});
// The same with no cache at all (maxBytes 0: setAt keeps nothing): what keeping the answer costs in place.
const uncached = handlerOver(registry, 0);
add('miss-nocache', 'dispatcher: miss with no cache (nothing kept), 32 a turn', async (r) => {
  for (let i = 0; i < r.requests.length; i++) {
    sink.n += (uncached.handler.handle(r.requests[i]!, UDP) as Buffer).length;
    if ((i + 1) % 32 === 0) await nextTurn();
  }
  await nextTurn();
  return r.requests.length;
});
add('answer', 'blob-miss: answer() alone (1 MiB cache), 32 a turn', async (r) => {
  const miss = cold.pipeline.blobMiss!;
  const now = Date.now();
  for (let i = 0; i < r.requests.length; i++) {
    const q = r.requests[i]!;
    sink.n += miss.answer(q, 44, q.length - 4, now) ? miss.length : 0;
    if ((i + 1) % 32 === 0) await nextTurn();
  }
  await nextTurn();
  return r.requests.length;
});
const hot = handlerOver(registry, 1 << 30);
const hotRound = makeRound(999);
for (const q of hotRound.requests) hot.handler.handle(q, UDP);
add('hit', 'dispatcher: hit (a warm 1 GiB cache)', () => {
  for (const q of hotRound.requests) sink.n += (hot.handler.handle(q, UDP) as Buffer).length;
  return hotRound.requests.length;
});

// ---- the rounds ----

function cpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

console.log(`machine: ${machine()}`);
console.log(`registry ${dbFile}: ${registry.count()} identifiers; ${rounds} rounds of ${keysPerRound} random keys`);
const ids = [...probes.keys()];
const times = new Map<string, number[]>(ids.map((id) => [id, []]));
const warm = makeRound(1);
await nextTurn();
for (const p of probes.values()) await p.run(warm);
for (let round = 0; round < rounds; round++) {
  const r = makeRound(100 + round);
  // makeRound reads through registry.blobAt: let its snapshot go, or its read lock (held by a connection
  // of this process) spares the other connections' reads their fcntl calls and flatters them.
  await nextTurn();
  for (let k = 0; k < ids.length; k++) {
    const id = ids[(k + round) % ids.length]!;
    const t0 = cpuNs();
    const n = await probes.get(id)!.run(r);
    times.get(id)!.push((cpuNs() - t0) / n);
  }
}
const width = Math.max(...ids.map((id) => id.length + probes.get(id)!.label.length + 3));
console.log(`${'probe'.padEnd(width)}  median ns/op   lowest`);
for (const id of ids) {
  const t = times.get(id)!;
  const name = `${id} · ${probes.get(id)!.label}`;
  const each = verbose ? `  [${t.map((x) => x.toFixed(0)).join(' ')}]` : '';
  console.log(`${name.padEnd(width)}  ${median(t).toFixed(0).padStart(12)}  ${Math.min(...t).toFixed(0).padStart(7)}${each}`);
}
if (sink.n === 0.5) console.log('');
for (const close of closers) close();
registry.close();
reader.close();
