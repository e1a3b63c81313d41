import { randomInt } from 'node:crypto';
import { Responder } from './respond.js';

// The hot cache: answers kept as encoded response packets (without the per-request digest), keyed by what
// the request asked (its body bytes and whether it was authenticated), bounded in bytes. An entry is fresh
// until its TTL, then stale for a bounded window in which it is served only when every upstream fails
// (RFC 8767's serve-stale); after that window it is gone.
//
// Layout. A million cached answers must not be a million JavaScript objects: every object is work for the
// garbage collector and a likely CPU cache miss (docs/benchmarks.md, "Why not 0.9 at a million"). So an
// entry is a number (its slot) and lives in
//   * a record in a slab (a large Buffer shared by many entries): [slot u32][record length u32]
//     [request key bytes][handle key bytes][response packet];
//   * one element in each of a few typed arrays indexed by slot: where the record is, the lengths, the
//     response code, freshness, flags, and the links of three lists: the hash chain of its request key,
//     the hash chain of its handle key (so invalidate() finds every variant of a handle), and the LRU.
// A lookup hashes the request body straight from the datagram (no key string is made per request), walks
// one short chain and confirms a candidate by comparing the stored key bytes. The hash is seeded at random
// per process, so chains cannot be lengthened by a client that chooses its handles.
//
// Reclaiming slab space. Entries leave in LRU order (and by invalidation, overwrite, expiry), which is not
// the order they were written in, so slabs get holes. Records are written at the end of the current slab;
// when it is full the next one is, in order: a slab every entry has left (one is kept, others released to
// the collector); a new slab, while the slabs stay under about 1.25 times the bound; otherwise the slab with
// the fewest live bytes, compacted in place (its live records slid to its start, their slots updated).
// With at least 1.25 × bound / slab size slabs and at most `bound` live bytes, the emptiest slab is at most
// 80 % live, so compaction always frees a fifth of a slab, more than any record kept in slabs (records
// above an eighth of a slab get a buffer of their own). This keeps exact LRU order under the byte bound
// (eviction is per entry, not per slab) at the price of copying, which in practice is small: the slab with
// the fewest live bytes is the oldest one, whose entries the LRU has mostly dropped already. A size-class
// allocator would avoid the copies but strand free space in classes the answers no longer need.

/** An answer as the pipeline hands it to the cache. */
export interface AnswerToCache {
  responseCode: number;
  /** The body, without a request digest. */
  body: Buffer;
  /** Lookup key of the handle the answer is about, so a write to it can drop every cached variant. */
  handleKey: string;
  /** Epoch ms until which the answer is fresh. */
  freshUntil: number;
  /** Answered from this node's own registry (never served stale: the registry is always there). */
  local: boolean;
  /** The handle also has values the filter selects that only an authenticated reader may see. */
  restricted?: boolean;
}

/**
 * A cached answer as the slow path sees it, copied out of the cache when asked for: the slab bytes behind
 * an entry are reused once it leaves, so nothing outside the cache may hold a view of them. The hot path
 * does not use this; it reads an entry's fields by slot (AnswerCache.getAt and the ...At accessors).
 */
export class CachedAnswer {
  constructor(
    readonly responseCode: number,
    /** The whole response packet template, in memory of its own. */
    readonly packet: Buffer,
    readonly handleKey: string,
    readonly freshUntil: number,
    readonly local: boolean,
    /** A request without PO for this must be challenged (handle-protocol.md 11.7), not answered from here. */
    readonly restricted: boolean,
    /** Different for every answer kept: two lookups found the same cached answer if their serials agree. */
    readonly serial: number,
  ) {}

  /** The body: the packet less its 20-byte envelope, 24-byte header and 4-byte credential length. */
  get body(): Buffer {
    return this.packet.subarray(44, this.packet.length - 4);
  }
}

/** A 32-bit hash of bytes[start, end). */
export type ByteHash = (bytes: Uint8Array, start: number, end: number, seed: number) => number;

export interface CacheOptions {
  maxBytes: number;
  staleWindowMs: number;
  /** The response packet template of an answer (Responder.template); a plain one when not given. */
  packetOf?: (responseCode: number, body: Buffer) => Buffer;
  /** The hash of key bytes; tests inject weak ones to force collisions. */
  hash?: ByteHash;
  /** Slab size in bytes (tests use small ones); by default it follows the bound. */
  slabBytes?: number;
}

export class CacheStats {
  hits = 0;
  misses = 0;
  staleServed = 0;
  inserts = 0;
  invalidations = 0;
  /** Slabs compacted to make room, and the live bytes those compactions moved. */
  compactions = 0;
  compactedBytes = 0;
}

/** Slot, record length: the header of a record, so a slab can be walked when it is compacted. */
const RECORD_HEADER = 8;

/**
 * Per-entry cost counted against the byte bound beside its record: the typed arrays hold 75 bytes per slot
 * (16 arrays of 67 bytes in all, and two bucket arrays of 4 bytes each), and they grow by doubling, so a
 * live entry holds 75 to 150 bytes of them; 128 covers the usual case. (The old cache counted 1,024 bytes
 * for its objects, and still fell a fifth short of resident size.)
 */
export const ENTRY_OVERHEAD = 128;

const INITIAL_SLOTS = 1024;
const MIN_SLAB = 16 * 1024;
const MAX_SLAB = 8 * 1024 * 1024;

// Flags of a slot.
const LIVE = 1;
const LOCAL = 2;
const RESTRICTED = 4;
const AUTHENTICATED = 8;

/** Mixed into the seed for authenticated keys: the same body asked with and without authentication differs. */
const AUTHENTICATED_SEED = 0x9e3779b9;

/** A Buffer holding records of many entries (or, for a large record, of one). */
class Slab {
  /** Bytes written (records, live or not); records go at `fill`. */
  fill = 0;
  /** Bytes of the records of live entries. */
  live = 0;
  constructor(
    readonly index: number,
    readonly buf: Buffer,
    readonly large: boolean,
  ) {}
}

export class AnswerCache {
  readonly stats = new CacheStats();
  private readonly packetOf: (responseCode: number, body: Buffer) => Buffer;
  private readonly hash: ByteHash;
  private readonly seed: number;
  private readonly slabBytes: number;
  /** Records longer than this get a buffer of their own (see the compaction argument above). */
  private readonly largeRecord: number;
  /** Slabs (not counting buffers of large records) held before compaction replaces allocation. */
  private readonly maxSlabs: number;

  // Per slot. `slots` is their length, a power of two; the bucket arrays have as many heads.
  private slots = 0;
  private keyHash!: Uint32Array;
  private keyNext!: Int32Array; // also the free list of slots
  private keyBuckets!: Int32Array;
  private handleHash!: Uint32Array;
  private handleNext!: Int32Array;
  private handlePrev!: Int32Array;
  private handleBuckets!: Int32Array;
  private older!: Int32Array; // LRU links
  private newer!: Int32Array;
  private slabOf!: Uint32Array;
  private offset!: Uint32Array;
  private keyLength!: Uint32Array;
  private handleLength!: Uint16Array;
  private packetLength!: Uint32Array;
  private code!: Uint32Array;
  private freshUntil!: Float64Array;
  private serial!: Float64Array;
  private flags!: Uint8Array;

  private count = 0;
  private charged = 0;
  /** Slots below this have been used; the free ones among them are chained through keyNext. */
  private used = 0;
  private freeSlot = -1;
  private newest = -1;
  private oldest = -1;
  private nextSerial = 1;

  private slabs: (Slab | undefined)[] = [];
  private freeSlabIndexes: number[] = [];
  private pooled = 0;
  private current: Slab | undefined;
  /** One emptied slab kept for the next, instead of giving it to the collector and allocating again. */
  private spare: Slab | undefined;
  /** Where the slow path's keys are written as bytes (grown when one is longer). */
  private scratch = Buffer.allocUnsafeSlow(4096);

  constructor(private readonly opts: CacheOptions) {
    const plain = new Responder(0, true);
    this.packetOf = opts.packetOf ?? ((rc, body) => plain.template(rc, body));
    this.hash = opts.hash ?? murmur3;
    this.seed = randomInt(2 ** 32) >>> 0;
    const bound = Math.max(opts.maxBytes, 0);
    // About 64 slabs at the bound: few objects, and compaction moves at most one slab at a time.
    this.slabBytes = opts.slabBytes ?? Math.min(MAX_SLAB, Math.max(MIN_SLAB, 2 ** Math.floor(Math.log2(Math.max(1, bound / 64)))));
    this.largeRecord = Math.floor(this.slabBytes / 8);
    this.maxSlabs = Math.ceil((1.25 * bound) / this.slabBytes) + 1;
    this.allocateSlots(INITIAL_SLOTS);
  }

  /**
   * A cache key for a resolution: the request body as sent (handle, indexes, types), read as latin1 so
   * every byte is one character. Unauthenticated keys are the body alone (it starts with the handle's
   * length, so with a 0 byte); authenticated ones are marked 'A'. Only the slow path makes these strings.
   */
  static key(body: Buffer, authenticated: boolean): string {
    const s = body.toString('latin1');
    return authenticated ? 'A' + s : s;
  }

  /** What an entry costs against the bound, for answers with keys and packets of these lengths. */
  static entryCost(keyBytes: number, handleKeyBytes: number, packetBytes: number): number {
    return RECORD_HEADER + keyBytes + handleKeyBytes + packetBytes + ENTRY_OVERHEAD;
  }

  // ---- the hot path: by slot, from the datagram's bytes ----

  /**
   * The slot of a fresh answer to the unauthenticated request whose body is buf[start, end), or -1. Nothing
   * is allocated. The slot is valid until the cache is next changed (set, invalidate, clear, a lookup that
   * finds an expired entry), so read what is needed at once.
   */
  getAt(buf: Uint8Array, start: number, end: number, now: number): number {
    return this.fresh(this.find(buf, start, end, 0, this.hash(buf, start, end, this.seed)), now);
  }

  responseCodeAt(slot: number): number {
    return this.code[slot]!;
  }

  restrictedAt(slot: number): boolean {
    return (this.flags[slot]! & RESTRICTED) !== 0;
  }

  serialAt(slot: number): number {
    return this.serial[slot]!;
  }

  packetLengthAt(slot: number): number {
    return this.packetLength[slot]!;
  }

  /** The slab holding the packet of a slot, and where in it the packet starts (packetStartAt). */
  slabAt(slot: number): Buffer {
    return this.slabs[this.slabOf[slot]!]!.buf;
  }

  packetStartAt(slot: number): number {
    return this.offset[slot]! + RECORD_HEADER + this.keyLength[slot]! + this.handleLength[slot]!;
  }

  // ---- the slow path: by key string, answers copied out ----

  /** The slot of a fresh answer for a key, or -1 (counted as a hit or a miss, as getAt). */
  slotOf(key: string, now: number): number {
    const auth = this.keyToScratch(key);
    const start = auth ? 1 : 0;
    const end = key.length;
    return this.fresh(this.find(this.scratch, start, end, auth, this.hash(this.scratch, start, end, this.seedFor(auth))), now);
  }

  /** A fresh answer, or undefined (a stale one is not returned here: see getStale). */
  get(key: string, now: number): CachedAnswer | undefined {
    const slot = this.slotOf(key, now);
    return slot < 0 ? undefined : this.answerAt(slot);
  }

  /** An answer past its TTL but inside the stale window, for when every upstream has failed. */
  getStale(key: string, now = Date.now()): CachedAnswer | undefined {
    const slot = this.lookUp(key);
    if (slot < 0) return undefined;
    if (!(this.keptUntil(slot) > now)) {
      this.remove(slot);
      return undefined;
    }
    if (this.flags[slot]! & LOCAL) return undefined;
    this.touch(slot);
    this.stats.staleServed++;
    return this.answerAt(slot);
  }

  /**
   * Keep an answer (replacing any under the same key); returns it as kept, with the packet as made for it
   * (undefined when the answer is not kept: no TTL left, or larger than the bound).
   */
  set(key: string, a: AnswerToCache, now: number): CachedAnswer | undefined {
    const ttl = a.freshUntil - now;
    if (ttl <= 0 || this.opts.maxBytes <= 0) return undefined;
    const packet = this.packetOf(a.responseCode, a.body);
    const auth = this.keyToScratch(key);
    const keyStart = auth ? 1 : 0;
    const keyLength = key.length - keyStart;
    const keyHash = this.hash(this.scratch, keyStart, key.length, this.seedFor(auth));
    const old = this.find(this.scratch, keyStart, key.length, auth, keyHash);
    if (old >= 0) this.remove(old);
    const handleLength = Buffer.byteLength(a.handleKey, 'utf8');
    const recordLength = RECORD_HEADER + keyLength + handleLength + packet.length;
    const cost = recordLength + ENTRY_OVERHEAD;
    if (cost > this.opts.maxBytes || handleLength > 0xffff || recordLength > 0xffffffff) return undefined;
    while (this.charged + cost > this.opts.maxBytes) this.remove(this.oldest);

    const slot = this.takeSlot();
    const slab = this.place(recordLength);
    const at = slab.fill;
    slab.fill += recordLength;
    slab.live += recordLength;
    const b = slab.buf;
    b.writeUInt32LE(slot, at);
    b.writeUInt32LE(recordLength, at + 4);
    this.scratch.copy(b, at + RECORD_HEADER, keyStart, key.length);
    const handleAt = at + RECORD_HEADER + keyLength;
    b.write(a.handleKey, handleAt, handleLength, 'utf8');
    packet.copy(b, handleAt + handleLength);

    this.slabOf[slot] = slab.index;
    this.offset[slot] = at;
    this.keyLength[slot] = keyLength;
    this.handleLength[slot] = handleLength;
    this.packetLength[slot] = packet.length;
    this.code[slot] = a.responseCode;
    this.freshUntil[slot] = a.freshUntil;
    const serial = this.nextSerial++;
    this.serial[slot] = serial;
    this.flags[slot] = LIVE | auth | (a.local ? LOCAL : 0) | (a.restricted ? RESTRICTED : 0);
    this.keyHash[slot] = keyHash;
    const kb = keyHash & (this.slots - 1);
    this.keyNext[slot] = this.keyBuckets[kb]!;
    this.keyBuckets[kb] = slot;
    const handleHash = this.hash(b, handleAt, handleAt + handleLength, this.seed);
    this.handleHash[slot] = handleHash;
    this.linkHandle(slot, handleHash & (this.slots - 1));
    this.linkNewest(slot);
    this.count++;
    this.charged += cost;
    this.stats.inserts++;
    return new CachedAnswer(a.responseCode, packet, a.handleKey, a.freshUntil, a.local, a.restricted ?? false, serial);
  }

  /** Drop every cached answer about a handle. */
  invalidate(handleKey: string): void {
    const length = Buffer.byteLength(handleKey, 'utf8');
    if (length > this.scratch.length) this.scratch = Buffer.allocUnsafeSlow(Math.max(length, 2 * this.scratch.length));
    this.scratch.write(handleKey, 0, length, 'utf8');
    const h = this.hash(this.scratch, 0, length, this.seed);
    let dropped = false;
    for (let slot = this.handleBuckets[h & (this.slots - 1)]!; slot >= 0; ) {
      const next = this.handleNext[slot]!;
      if (
        this.handleHash[slot] === h &&
        this.handleLength[slot] === length &&
        sameBytes(this.scratch, 0, this.slabAt(slot), this.offset[slot]! + RECORD_HEADER + this.keyLength[slot]!, length)
      ) {
        this.remove(slot);
        dropped = true;
      }
      slot = next;
    }
    if (dropped) this.stats.invalidations++;
  }

  /** Drop everything (after a bulk change or a change to delegations); the memory goes back too. */
  clear(): void {
    this.slabs = [];
    this.freeSlabIndexes = [];
    this.pooled = 0;
    this.current = undefined;
    this.spare = undefined;
    this.count = 0;
    this.charged = 0;
    this.used = 0;
    this.freeSlot = -1;
    this.newest = -1;
    this.oldest = -1;
    this.allocateSlots(INITIAL_SLOTS);
    this.stats.invalidations++;
  }

  get size(): number {
    return this.count;
  }

  /** What the entries cost against the bound (records and their share of the per-slot arrays). */
  get bytes(): number {
    return this.charged;
  }

  /** Memory the cache actually holds: slabs (with their holes), buffers of large records, the arrays. */
  get heldBytes(): number {
    let n = 0;
    for (const s of this.slabs) if (s) n += s.buf.length;
    return n + this.slots * BYTES_PER_SLOT;
  }

  // ---- internals ----

  private seedFor(auth: number): number {
    return auth ? (this.seed ^ AUTHENTICATED_SEED) >>> 0 : this.seed;
  }

  /** Writes a slow-path key's bytes into the scratch buffer; returns AUTHENTICATED for an 'A' key, else 0. */
  private keyToScratch(key: string): number {
    if (key.length > this.scratch.length) this.scratch = Buffer.allocUnsafeSlow(Math.max(key.length, 2 * this.scratch.length));
    this.scratch.write(key, 0, key.length, 'latin1');
    // An unauthenticated key starts with the high byte of the handle's length, 0 for any handle the
    // decoder accepts, so a leading 'A' can only be the mark.
    return key.charCodeAt(0) === 0x41 ? AUTHENTICATED : 0;
  }

  /** The slot holding a key, fresh or not, or -1 (no stats, no LRU change). */
  private lookUp(key: string): number {
    const auth = this.keyToScratch(key);
    const start = auth ? 1 : 0;
    return this.find(this.scratch, start, key.length, auth, this.hash(this.scratch, start, key.length, this.seedFor(auth)));
  }

  private find(bytes: Uint8Array, start: number, end: number, auth: number, h: number): number {
    const length = end - start;
    for (let slot = this.keyBuckets[h & (this.slots - 1)]!; slot >= 0; slot = this.keyNext[slot]!) {
      if (
        this.keyHash[slot] === h &&
        this.keyLength[slot] === length &&
        (this.flags[slot]! & AUTHENTICATED) === auth &&
        sameBytes(bytes, start, this.slabs[this.slabOf[slot]!]!.buf, this.offset[slot]! + RECORD_HEADER, length)
      ) {
        return slot;
      }
    }
    return -1;
  }

  /** A found slot if it is fresh (counted as a hit, made newest), else -1 (a miss; dropped if past keeping). */
  private fresh(slot: number, now: number): number {
    if (slot >= 0) {
      if (this.freshUntil[slot]! > now) {
        this.touch(slot);
        this.stats.hits++;
        return slot;
      }
      if (!(this.keptUntil(slot) > now)) this.remove(slot);
    }
    this.stats.misses++;
    return -1;
  }

  /** Local answers are dropped on writes, not served stale, so they need no stale window. */
  private keptUntil(slot: number): number {
    return this.flags[slot]! & LOCAL ? this.freshUntil[slot]! : this.freshUntil[slot]! + this.opts.staleWindowMs;
  }

  private answerAt(slot: number): CachedAnswer {
    const b = this.slabAt(slot);
    const start = this.packetStartAt(slot);
    const handleAt = this.offset[slot]! + RECORD_HEADER + this.keyLength[slot]!;
    const f = this.flags[slot]!;
    return new CachedAnswer(
      this.code[slot]!,
      Buffer.from(b.subarray(start, start + this.packetLength[slot]!)),
      b.toString('utf8', handleAt, handleAt + this.handleLength[slot]!),
      this.freshUntil[slot]!,
      (f & LOCAL) !== 0,
      (f & RESTRICTED) !== 0,
      this.serial[slot]!,
    );
  }

  private touch(slot: number): void {
    if (slot === this.newest) return;
    this.unlinkLru(slot);
    this.linkNewest(slot);
  }

  private linkNewest(slot: number): void {
    this.older[slot] = this.newest;
    this.newer[slot] = -1;
    if (this.newest >= 0) this.newer[this.newest] = slot;
    else this.oldest = slot;
    this.newest = slot;
  }

  private unlinkLru(slot: number): void {
    const o = this.older[slot]!;
    const n = this.newer[slot]!;
    if (o >= 0) this.newer[o] = n;
    else this.oldest = n;
    if (n >= 0) this.older[n] = o;
    else this.newest = o;
  }

  private linkHandle(slot: number, bucket: number): void {
    const head = this.handleBuckets[bucket]!;
    this.handlePrev[slot] = -1;
    this.handleNext[slot] = head;
    if (head >= 0) this.handlePrev[head] = slot;
    this.handleBuckets[bucket] = slot;
  }

  private remove(slot: number): void {
    const mask = this.slots - 1;
    const kb = this.keyHash[slot]! & mask;
    let p = this.keyBuckets[kb]!;
    if (p === slot) this.keyBuckets[kb] = this.keyNext[slot]!;
    else {
      while (this.keyNext[p] !== slot) p = this.keyNext[p]!;
      this.keyNext[p] = this.keyNext[slot]!;
    }
    const hp = this.handlePrev[slot]!;
    const hn = this.handleNext[slot]!;
    if (hp >= 0) this.handleNext[hp] = hn;
    else this.handleBuckets[this.handleHash[slot]! & mask] = hn;
    if (hn >= 0) this.handlePrev[hn] = hp;
    this.unlinkLru(slot);

    const recordLength = RECORD_HEADER + this.keyLength[slot]! + this.handleLength[slot]! + this.packetLength[slot]!;
    this.charged -= recordLength + ENTRY_OVERHEAD;
    this.count--;
    this.flags[slot] = 0;
    this.keyNext[slot] = this.freeSlot;
    this.freeSlot = slot;

    const slab = this.slabs[this.slabOf[slot]!]!;
    slab.live -= recordLength;
    if (slab.large) this.dropSlab(slab);
    else if (slab.live === 0 && slab !== this.current) {
      if (this.spare === undefined) {
        slab.fill = 0;
        this.spare = slab;
      } else this.dropSlab(slab);
    }
  }

  private takeSlot(): number {
    if (this.freeSlot >= 0) {
      const slot = this.freeSlot;
      this.freeSlot = this.keyNext[slot]!;
      return slot;
    }
    if (this.used === this.slots) this.allocateSlots(this.slots * 2);
    return this.used++;
  }

  /** Makes the per-slot arrays `n` long (a power of two), keeping the slots in use and rebuilding the chains. */
  private allocateSlots(n: number): void {
    const keep = this.used; // all live: the arrays grow only when no slot is free
    const grow = <T extends Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array>(old: T | undefined, make: (n: number) => T): T => {
      const a = make(n);
      if (old && keep > 0) a.set(old.subarray(0, keep) as never);
      return a;
    };
    this.keyHash = grow(this.keyHash, (k) => new Uint32Array(k));
    this.keyNext = new Int32Array(n);
    this.keyBuckets = new Int32Array(n).fill(-1);
    this.handleHash = grow(this.handleHash, (k) => new Uint32Array(k));
    this.handleNext = new Int32Array(n);
    this.handlePrev = new Int32Array(n);
    this.handleBuckets = new Int32Array(n).fill(-1);
    this.older = grow(this.older, (k) => new Int32Array(k));
    this.newer = grow(this.newer, (k) => new Int32Array(k));
    this.slabOf = grow(this.slabOf, (k) => new Uint32Array(k));
    this.offset = grow(this.offset, (k) => new Uint32Array(k));
    this.keyLength = grow(this.keyLength, (k) => new Uint32Array(k));
    this.handleLength = grow(this.handleLength, (k) => new Uint16Array(k));
    this.packetLength = grow(this.packetLength, (k) => new Uint32Array(k));
    this.code = grow(this.code, (k) => new Uint32Array(k));
    this.freshUntil = grow(this.freshUntil, (k) => new Float64Array(k));
    this.serial = grow(this.serial, (k) => new Float64Array(k));
    this.flags = grow(this.flags, (k) => new Uint8Array(k));
    this.slots = n;
    const mask = n - 1;
    for (let slot = 0; slot < keep; slot++) {
      const kb = this.keyHash[slot]! & mask;
      this.keyNext[slot] = this.keyBuckets[kb]!;
      this.keyBuckets[kb] = slot;
      this.linkHandle(slot, this.handleHash[slot]! & mask);
    }
  }

  /** The slab to write a record of `length` bytes into, at its `fill`. */
  private place(length: number): Slab {
    if (length > this.largeRecord) return this.newSlab(length, true);
    const cur = this.current;
    if (cur !== undefined && cur.fill + length <= cur.buf.length) return cur;
    if (cur !== undefined && cur.live === 0) {
      cur.fill = 0;
      return cur;
    }
    let next: Slab | undefined = this.spare;
    if (next !== undefined) this.spare = undefined;
    else if (this.pooled < this.maxSlabs) next = this.newSlab(this.slabBytes, false);
    else {
      let victim = cur!;
      for (const s of this.slabs) if (s !== undefined && !s.large && s.live < victim.live) victim = s;
      this.compact(victim);
      // By the arithmetic above this always has room; should it not, one slab too many beats a lost answer.
      next = victim.fill + length <= victim.buf.length ? victim : this.newSlab(this.slabBytes, false);
    }
    this.current = next;
    return next;
  }

  /** Slides the live records of a slab to its start, in order (so a copy never overwrites what is unread). */
  private compact(s: Slab): void {
    const b = s.buf;
    let from = 0;
    let to = 0;
    while (from < s.fill) {
      const slot = b.readUInt32LE(from);
      const length = b.readUInt32LE(from + 4);
      // The record is live if its slot is live and still points here (a slot reused since points elsewhere).
      if (slot < this.slots && this.flags[slot]! & LIVE && this.slabOf[slot] === s.index && this.offset[slot] === from) {
        if (to !== from) b.copyWithin(to, from, from + length);
        this.offset[slot] = to;
        to += length;
      }
      from += length;
    }
    s.fill = to;
    this.stats.compactions++;
    this.stats.compactedBytes += to;
  }

  private newSlab(length: number, large: boolean): Slab {
    const index = this.freeSlabIndexes.pop() ?? this.slabs.length;
    const s = new Slab(index, Buffer.allocUnsafeSlow(length), large);
    this.slabs[index] = s;
    if (!large) this.pooled++;
    return s;
  }

  private dropSlab(s: Slab): void {
    this.slabs[s.index] = undefined;
    this.freeSlabIndexes.push(s.index);
    if (!s.large) this.pooled--;
  }
}

/** Bytes per slot of the per-slot arrays (16 of them) and the two bucket arrays. */
const BYTES_PER_SLOT = 4 * 12 + 2 + 8 * 2 + 1 + 4 * 2;

/**
 * Equal bytes? A loop, not Buffer.compare: keys are tens of bytes, and the call into C++ (with its argument
 * checks) costs more than comparing them here (measured: see the commit that introduced this).
 */
function sameBytes(a: Uint8Array, aStart: number, b: Uint8Array, bStart: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (a[aStart + i] !== b[bStart + i]) return false;
  return true;
}

/** MurmurHash3 (x86, 32-bit) of bytes[start, end): four bytes a step, well mixed, and cheap in JavaScript. */
export function murmur3(bytes: Uint8Array, start: number, end: number, seed: number): number {
  let h = seed | 0;
  let i = start;
  const blocks = end - ((end - start) & 3);
  for (; i < blocks; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  const rest = end - i;
  if (rest === 3) k ^= bytes[i + 2]! << 16;
  if (rest >= 2) k ^= bytes[i + 1]! << 8;
  if (rest >= 1) {
    k ^= bytes[i]!;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= end - start;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
