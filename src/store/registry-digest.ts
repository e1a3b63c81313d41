import { hash } from 'node:crypto';
import { murmurFinish, murmurRound } from '../model/murmur.js';
import { normalisePrefix } from '../model/handle.js';
import type { Registry } from './registry.js';
import { POSITION_SETTING } from './replication-settings.js';

// A registry's contents summed up by range, so two registries (a mirror and its primary, a backup and a live
// node) can be compared without either sending the other its rows (docs/replication.md, Checking a mirror).
//
// A range is one prefix's handles (the key before '/': 0.NA's prefix handles form the range "0.NA") cut into
// B buckets by a hash of the handle key, so a difference among a million handles is narrowed to ~1/B of
// them; the homed prefixes are one more range. Each range has a count and a digest of its rows, a row being
// the handle as registered and its value blob exactly as stored (value-blob.ts), which is also exactly what a
// mirror rebuilds from its primary's dump (joinValues of splitValues), so equal rows digest equal.
//
// The digest of a range is the sum of its rows' SHA-256, 32-bit lane by lane (eight lanes, each mod 2^32),
// not one SHA-256 over the sorted rows, because:
// - it does not depend on the order rows arrive in: a dump streams in the primary's order, a table scan in
//   the file's, and the rows of one bucket are scattered through key order anyway (that is what a hash
//   bucket is). A sorted digest would need both sides to sort the same way, with the same collation;
// - a sum, unlike an XOR, does not cancel a row that appears twice, and the count beside it catches rows
//   whose hashes happen to sum to the same as others;
// - it streams with one small accumulator per range: memory is prefixes × B, whatever the registry's size.
// It finds accidental divergence (a lost write, a row changed behind the node's back, a damaged copy); it
// is not a defence against someone who chooses rows on both sides to collide. The primary's rows come
// signed by it, and the mirror's file is the operator's own.

/** Buckets per prefix unless asked otherwise. */
export const DEFAULT_BUCKETS = 64;
export const MAX_BUCKETS = 65536;

/** Where one row belongs: a prefix (as in its key) and a bucket of it; the homed prefixes are bucket -1 of "". */
export interface RangeId {
  prefix: string;
  bucket: number;
}

export interface RangeSummary extends RangeId {
  count: number;
  /** The lanes of the sum, hex (64 characters). */
  digest: string;
}

const HOMED_BUCKET = -1;
const LANES = 8;

/** The identity of a range as one string (bucket first: it has no ':', a prefix may). */
export const rangeName = (r: RangeId) => `${r.bucket}:${r.prefix}`;

/** A range as people read it: "88.118.8 bucket 17/64", "homed prefixes". */
export function describeRange(r: RangeId, buckets: number): string {
  return r.bucket === HOMED_BUCKET ? 'homed prefixes' : `${r.prefix} bucket ${r.bucket}/${buckets}`;
}

/** The prefix part of a key: before the first '/', or the whole key when it has none. */
function prefixOfKey(key: string): string {
  const slash = key.indexOf('/');
  return slash < 0 ? key : key.slice(0, slash);
}

/**
 * The bucket of a key: MurmurHash3 over its UTF-16 code units (no encoding to bytes: both sides compute it
 * from the same key string, and this runs once per row).
 */
export function bucketOfKey(key: string, buckets: number): number {
  let h = 0x1d5;
  for (let i = 0; i < key.length; i++) h = murmurRound(h, key.charCodeAt(i));
  return murmurFinish(h ^ key.length) % buckets;
}

export function rangeOfKey(key: string, buckets: number): RangeId {
  return { prefix: prefixOfKey(key), bucket: bucketOfKey(key, buckets) };
}

/** The SHA-256 a row adds to its range: the handle's UTF-8 length (u32) and bytes, then the stored blob. */
export class RowHasher {
  private scratch = Buffer.alloc(4096);

  hash(handle: string, blob: Buffer): Buffer {
    const need = 4 + Buffer.byteLength(handle) + blob.length;
    if (need > this.scratch.length) this.scratch = Buffer.alloc(Math.max(need, this.scratch.length * 2));
    const n = this.scratch.write(handle, 4);
    this.scratch.writeUInt32BE(n, 0);
    blob.copy(this.scratch, 4 + n);
    return hash('sha256', this.scratch.subarray(0, 4 + n + blob.length), 'buffer');
  }
}

class Accumulator {
  count = 0;
  readonly lanes = new Uint32Array(LANES);

  add(h: Buffer): void {
    this.count++;
    for (let i = 0; i < LANES; i++) this.lanes[i] = (this.lanes[i]! + h.readUInt32BE(i * 4)) >>> 0;
  }

  hex(): string {
    let s = '';
    for (const l of this.lanes) s += l.toString(16).padStart(8, '0');
    return s;
  }
}

/** The summaries of one registry's rows, built a row at a time. */
export class RegistryDigest {
  /** Per prefix, its buckets' accumulators (made when first needed). */
  private readonly prefixes = new Map<string, Array<Accumulator | undefined>>();
  private readonly homedAcc = new Accumulator();
  private readonly hasher = new RowHasher();
  /** Homed prefixes, normalised (they are few: kept whole so their differences can be named). */
  readonly homed = new Set<string>();
  handles = 0;

  constructor(readonly buckets: number = DEFAULT_BUCKETS) {
    if (!Number.isInteger(buckets) || buckets < 1 || buckets > MAX_BUCKETS) throw new RangeError(`buckets must be 1 to ${MAX_BUCKETS}, not ${buckets}`);
  }

  /** One handle row: its lookup key (which places it), the handle as registered and its stored blob. */
  addRow(key: string, handle: string, blob: Buffer): void {
    this.handles++;
    this.accumulator(prefixOfKey(key), bucketOfKey(key, this.buckets)).add(this.hasher.hash(handle, blob));
  }

  addHomed(prefix: string): void {
    const p = normalisePrefix(prefix);
    if (this.homed.has(p)) return;
    this.homed.add(p);
    this.homedAcc.add(hash('sha256', Buffer.from(p), 'buffer'));
  }

  /** Every range that has anything, homed prefixes first, then by prefix and bucket. */
  summaries(): RangeSummary[] {
    const out: RangeSummary[] = [];
    if (this.homedAcc.count > 0) out.push({ prefix: '', bucket: HOMED_BUCKET, count: this.homedAcc.count, digest: this.homedAcc.hex() });
    for (const prefix of [...this.prefixes.keys()].sort()) {
      this.prefixes.get(prefix)!.forEach((acc, bucket) => {
        if (acc) out.push({ prefix, bucket, count: acc.count, digest: acc.hex() });
      });
    }
    return out;
  }

  // A map lookup per row by a short string is cheap; no object or name is made per row (the garbage of a
  // million rows is what costs).
  private accumulator(prefix: string, bucket: number): Accumulator {
    let slots = this.prefixes.get(prefix);
    if (!slots) {
      slots = [];
      this.prefixes.set(prefix, slots);
    }
    return (slots[bucket] ??= new Accumulator());
  }
}

/** A range present on either side whose count or digest differs, with both sides' counts. */
export interface RangeDifference extends RangeId {
  /** This side's count (0: the range is empty here). */
  here: number;
  there: number;
}

/** The ranges where two digests (of the same bucket count) differ, in range order. */
export function differingRanges(here: RegistryDigest, there: RegistryDigest): RangeDifference[] {
  if (here.buckets !== there.buckets) throw new RangeError(`digests of ${here.buckets} and ${there.buckets} buckets cannot be compared`);
  const a = new Map(here.summaries().map((s) => [rangeName(s), s]));
  const b = new Map(there.summaries().map((s) => [rangeName(s), s]));
  const out: RangeDifference[] = [];
  for (const name of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(name);
    const y = b.get(name);
    if (x && y && x.count === y.count && x.digest === y.digest) continue;
    const id = (x ?? y)!;
    out.push({ prefix: id.prefix, bucket: id.bucket, here: x?.count ?? 0, there: y?.count ?? 0 });
  }
  return out.sort((p, q) => (p.prefix < q.prefix ? -1 : p.prefix > q.prefix ? 1 : p.bucket - q.bucket));
}

/** A local registry's digest, read in one snapshot with the transaction ids it reflects. */
export interface LocalDigest {
  digest: RegistryDigest;
  /** The registry's own last transaction id. */
  lastTxnId: number;
  /** On a mirror, the primary's transaction id it had applied (replication.primary_txn); else undefined. */
  position: number | undefined;
}

/**
 * Digest every row of a registry. One read transaction holds the snapshot (a running node may write
 * meanwhile: it is not blocked, and none of its writes are half seen); rows are read by one table scan,
 * a row at a time.
 */
export function digestRegistry(registry: Registry, buckets = DEFAULT_BUCKETS): LocalDigest {
  const digest = new RegistryDigest(buckets);
  const db = registry.db;
  db.exec('BEGIN');
  try {
    const position = registry.getSetting(POSITION_SETTING);
    const lastTxnId = registry.lastTxnId();
    for (const p of registry.homedPrefixes()) digest.addHomed(p);
    const rows = db.prepare<[], [string, string, Buffer]>('SELECT handle_key, handle, vals FROM handles').raw(true);
    for (const [key, handle, blob] of rows.iterate()) digest.addRow(key, handle, blob);
    return { digest, lastTxnId, position: position === undefined ? undefined : Number(position) };
  } finally {
    db.exec('COMMIT');
  }
}

/** One handle that differs: which side has it, or that both have it with different values. */
export interface HandleDifference {
  handle: string;
  kind: 'only-here' | 'only-there' | 'values-differ';
}

/**
 * The handles that differ in some ranges, found by streaming the other side's rows through `there(...)`
 * and looking each up here, then reading this side's rows of those ranges for the ones the other did not
 * have. Memory is the keys of the ranges asked for (a few buckets, normally); `limit` caps what is kept to
 * report (the count goes on).
 */
export class HandleDiff {
  private readonly wanted: Set<string>;
  private readonly seen = new Set<string>();
  private readonly hasher = new RowHasher();
  readonly found: HandleDifference[] = [];
  total = 0;

  constructor(
    private readonly registry: Registry,
    ranges: readonly RangeId[],
    private readonly buckets: number,
    private readonly limit: number,
  ) {
    this.wanted = new Set(ranges.map(rangeName));
  }

  /** A row of the other side. */
  there(handle: string, blob: Buffer): void {
    const key = this.registry.key(handle);
    if (!this.wanted.has(rangeName(rangeOfKey(key, this.buckets)))) return;
    this.seen.add(key);
    const mine = this.registry.rowAt(key);
    if (!mine) return this.note(handle, 'only-there');
    // The hash covers the handle as registered too: a handle whose case differs counts as differing values.
    if (!this.hasher.hash(mine.handle, mine.blob).equals(this.hasher.hash(handle, blob))) this.note(handle, 'values-differ');
  }

  /** After the other side's last row: this side's rows of the ranges that the other did not have. */
  finish(): void {
    const rows = this.registry.db.prepare<[], [string, string]>('SELECT handle_key, handle FROM handles').raw(true);
    for (const [key, handle] of rows.iterate()) {
      if (this.seen.has(key) || !this.wanted.has(rangeName(rangeOfKey(key, this.buckets)))) continue;
      this.note(handle, 'only-here');
    }
  }

  private note(handle: string, kind: HandleDifference['kind']): void {
    this.total++;
    if (this.found.length < this.limit) this.found.push({ handle, kind });
  }
}
