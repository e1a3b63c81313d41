import { randomInt } from 'node:crypto';
import { Responder } from '../../protocol/responder.js';

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
//   * 64 bytes of one typed array, at its slot: where the record is, the lengths, the response code,
//     freshness, flags, and the links of three lists: the hash chain of its request key, the hash chain of
//     its handle key (so invalidate() finds every variant of a handle), and the LRU. Fields of a slot are
//     side by side (not one array per field) because at a million entries every lookup is a walk through
//     memory the CPU has not cached: one line per entry instead of one per field (measured in-process,
//     lookup and patch over 1 M entries, Zipf picks: 2.5 µs with one array per field, 1.8 µs packed).
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
    /** A request without PO for this must be challenged (docs/protocol.md §11.7), not answered from here. */
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
 * Per-entry cost counted against the byte bound beside its record: a slot is 72 bytes (64 of fields, two
 * chain heads of 4), and slots grow by doubling, so a live entry holds 72 to 144 bytes of them; 128 covers
 * the usual case. (The old cache counted 1,024 bytes for its objects, and still fell a fifth short of
 * resident size.)
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

// Fields of a slot: 16 32-bit words (one 64-byte cache line's worth, so a lookup touches one or two lines
// of metadata rather than one per field), read through an Int32Array and, for the two doubles, a
// Float64Array over the same memory.
const STRIDE = 16;
const D_FRESH_UNTIL = 0; // double 0 (words 0-1): epoch ms until which the answer is fresh
const D_SERIAL = 1; // double 1 (words 2-3)
const W_KEY_HASH = 4;
const W_KEY_NEXT = 5; // next slot in the key's hash chain; also the free list of slots
const W_HANDLE_HASH = 6;
const W_HANDLE_NEXT = 7; // the handle's hash chain, both ways (an eviction unlinks without a walk)
const W_HANDLE_PREV = 8;
const W_OLDER = 9; // the LRU list
const W_NEWER = 10;
const W_SLAB = 11;
const W_OFFSET = 12; // of the record in its slab
const W_KEY_LENGTH_FLAGS = 13; // key length (24 bits), flags (8)
const W_PACKET_LENGTH = 14;
const W_CODE_HANDLE_LENGTH = 15; // response code (16 bits), handle key length (16)
const MAX_KEY_LENGTH = 0xffffff;

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

  /** Slots: their number (a power of two), their words, their doubles, and the heads of the two chains. */
  private slots = 0;
  private m!: Int32Array;
  private d!: Float64Array;
  private keyBuckets!: Int32Array;
  private handleBuckets!: Int32Array;

  private count = 0;
  private charged = 0;
  /** Slots below this have been used; the free ones among them are chained through W_KEY_NEXT. */
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
  getAt(buf: Buffer, start: number, end: number, now: number): number {
    return this.fresh(this.find(buf, start, end, 0, this.hash(buf, start, end, this.seed)), now);
  }

  responseCodeAt(slot: number): number {
    return this.m[slot * STRIDE + W_CODE_HANDLE_LENGTH]! & 0xffff;
  }

  restrictedAt(slot: number): boolean {
    return (this.flagsOf(slot) & RESTRICTED) !== 0;
  }

  serialAt(slot: number): number {
    return this.d[slot * (STRIDE / 2) + D_SERIAL]!;
  }

  packetLengthAt(slot: number): number {
    return this.m[slot * STRIDE + W_PACKET_LENGTH]!;
  }

  /** The slab holding the packet of a slot, and where in it the packet starts (packetStartAt). */
  slabAt(slot: number): Buffer {
    return this.slabs[this.m[slot * STRIDE + W_SLAB]!]!.buf;
  }

  packetStartAt(slot: number): number {
    const w = slot * STRIDE;
    return this.m[w + W_OFFSET]! + RECORD_HEADER + (this.m[w + W_KEY_LENGTH_FLAGS]! & MAX_KEY_LENGTH) + (this.m[w + W_CODE_HANDLE_LENGTH]! >>> 16);
  }

  // ---- the slow path: by key string, answers copied out ----

  /** The slot of a fresh answer for a key, or -1 (counted as a hit or a miss, as getAt). */
  slotOf(key: string, now: number): number {
    return this.fresh(this.lookUp(key), now);
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
    if (this.flagsOf(slot) & LOCAL) return undefined;
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
    // What the packed fields cannot hold is not kept (no answer the protocol allows comes near).
    if (cost > this.opts.maxBytes || handleLength > 0xffff || keyLength > MAX_KEY_LENGTH || a.responseCode > 0xffff || a.responseCode < 0) return undefined;
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

    const m = this.m;
    const w = slot * STRIDE;
    const flags = LIVE | auth | (a.local ? LOCAL : 0) | (a.restricted ? RESTRICTED : 0);
    m[w + W_SLAB] = slab.index;
    m[w + W_OFFSET] = at;
    m[w + W_KEY_LENGTH_FLAGS] = keyLength | (flags << 24);
    m[w + W_PACKET_LENGTH] = packet.length;
    m[w + W_CODE_HANDLE_LENGTH] = a.responseCode | (handleLength << 16);
    this.d[slot * (STRIDE / 2) + D_FRESH_UNTIL] = a.freshUntil;
    const serial = this.nextSerial++;
    this.d[slot * (STRIDE / 2) + D_SERIAL] = serial;
    m[w + W_KEY_HASH] = keyHash;
    const kb = keyHash & (this.slots - 1);
    m[w + W_KEY_NEXT] = this.keyBuckets[kb]!;
    this.keyBuckets[kb] = slot;
    const handleHash = this.hash(b, handleAt, handleAt + handleLength, this.seed);
    m[w + W_HANDLE_HASH] = handleHash;
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
    const h = this.hash(this.scratch, 0, length, this.seed) | 0;
    const m = this.m;
    let dropped = false;
    for (let slot = this.handleBuckets[h & (this.slots - 1)]!; slot >= 0; ) {
      const w = slot * STRIDE;
      const next = m[w + W_HANDLE_NEXT]!;
      if (
        m[w + W_HANDLE_HASH] === h &&
        m[w + W_CODE_HANDLE_LENGTH]! >>> 16 === length &&
        sameBytes(this.scratch, 0, this.slabAt(slot), m[w + W_OFFSET]! + RECORD_HEADER + (m[w + W_KEY_LENGTH_FLAGS]! & MAX_KEY_LENGTH), length)
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

  private flagsOf(slot: number): number {
    return this.m[slot * STRIDE + W_KEY_LENGTH_FLAGS]! >>> 24;
  }

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

  private find(bytes: Buffer, start: number, end: number, auth: number, hash: number): number {
    const m = this.m;
    const h = hash | 0;
    const lengthAndFlag = (end - start) | ((LIVE | auth) << 24);
    for (let slot = this.keyBuckets[h & (this.slots - 1)]!; slot >= 0; ) {
      const w = slot * STRIDE;
      // Length, live and authentication in one comparison: the other flags are masked off.
      if (
        m[w + W_KEY_HASH] === h &&
        (m[w + W_KEY_LENGTH_FLAGS]! & (MAX_KEY_LENGTH | ((LIVE | AUTHENTICATED) << 24))) === lengthAndFlag &&
        sameBytes(bytes, start, this.slabs[m[w + W_SLAB]!]!.buf, m[w + W_OFFSET]! + RECORD_HEADER, end - start)
      ) {
        return slot;
      }
      slot = m[w + W_KEY_NEXT]!;
    }
    return -1;
  }

  /** A found slot if it is fresh (counted as a hit, made newest), else -1 (a miss; dropped if past keeping). */
  private fresh(slot: number, now: number): number {
    if (slot >= 0) {
      if (this.d[slot * (STRIDE / 2) + D_FRESH_UNTIL]! > now) {
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
    const freshUntil = this.d[slot * (STRIDE / 2) + D_FRESH_UNTIL]!;
    return this.flagsOf(slot) & LOCAL ? freshUntil : freshUntil + this.opts.staleWindowMs;
  }

  private answerAt(slot: number): CachedAnswer {
    const w = slot * STRIDE;
    const b = this.slabAt(slot);
    const start = this.packetStartAt(slot);
    const handleAt = this.m[w + W_OFFSET]! + RECORD_HEADER + (this.m[w + W_KEY_LENGTH_FLAGS]! & MAX_KEY_LENGTH);
    const f = this.flagsOf(slot);
    return new CachedAnswer(
      this.responseCodeAt(slot),
      Buffer.from(b.subarray(start, start + this.packetLengthAt(slot))),
      b.toString('utf8', handleAt, handleAt + (this.m[w + W_CODE_HANDLE_LENGTH]! >>> 16)),
      this.d[slot * (STRIDE / 2) + D_FRESH_UNTIL]!,
      (f & LOCAL) !== 0,
      (f & RESTRICTED) !== 0,
      this.serialAt(slot),
    );
  }

  private touch(slot: number): void {
    if (slot === this.newest) return;
    this.unlinkLru(slot);
    this.linkNewest(slot);
  }

  private linkNewest(slot: number): void {
    const m = this.m;
    m[slot * STRIDE + W_OLDER] = this.newest;
    m[slot * STRIDE + W_NEWER] = -1;
    if (this.newest >= 0) m[this.newest * STRIDE + W_NEWER] = slot;
    else this.oldest = slot;
    this.newest = slot;
  }

  private unlinkLru(slot: number): void {
    const m = this.m;
    const o = m[slot * STRIDE + W_OLDER]!;
    const n = m[slot * STRIDE + W_NEWER]!;
    if (o >= 0) m[o * STRIDE + W_NEWER] = n;
    else this.oldest = n;
    if (n >= 0) m[n * STRIDE + W_OLDER] = o;
    else this.newest = o;
  }

  private linkHandle(slot: number, bucket: number): void {
    const m = this.m;
    const head = this.handleBuckets[bucket]!;
    m[slot * STRIDE + W_HANDLE_PREV] = -1;
    m[slot * STRIDE + W_HANDLE_NEXT] = head;
    if (head >= 0) m[head * STRIDE + W_HANDLE_PREV] = slot;
    this.handleBuckets[bucket] = slot;
  }

  private remove(slot: number): void {
    const m = this.m;
    const w = slot * STRIDE;
    const mask = this.slots - 1;
    const kb = m[w + W_KEY_HASH]! & mask;
    let p = this.keyBuckets[kb]!;
    if (p === slot) this.keyBuckets[kb] = m[w + W_KEY_NEXT]!;
    else {
      while (m[p * STRIDE + W_KEY_NEXT] !== slot) p = m[p * STRIDE + W_KEY_NEXT]!;
      m[p * STRIDE + W_KEY_NEXT] = m[w + W_KEY_NEXT]!;
    }
    const hp = m[w + W_HANDLE_PREV]!;
    const hn = m[w + W_HANDLE_NEXT]!;
    if (hp >= 0) m[hp * STRIDE + W_HANDLE_NEXT] = hn;
    else this.handleBuckets[m[w + W_HANDLE_HASH]! & mask] = hn;
    if (hn >= 0) m[hn * STRIDE + W_HANDLE_PREV] = hp;
    this.unlinkLru(slot);

    const recordLength = RECORD_HEADER + (m[w + W_KEY_LENGTH_FLAGS]! & MAX_KEY_LENGTH) + (m[w + W_CODE_HANDLE_LENGTH]! >>> 16) + m[w + W_PACKET_LENGTH]!;
    this.charged -= recordLength + ENTRY_OVERHEAD;
    this.count--;
    m[w + W_KEY_LENGTH_FLAGS] = 0; // not LIVE: compaction skips its record
    m[w + W_KEY_NEXT] = this.freeSlot;
    this.freeSlot = slot;

    const slab = this.slabs[m[w + W_SLAB]!]!;
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
      this.freeSlot = this.m[slot * STRIDE + W_KEY_NEXT]!;
      return slot;
    }
    if (this.used === this.slots) this.allocateSlots(this.slots * 2);
    return this.used++;
  }

  /** Makes room for `n` slots (a power of two), keeping the slots in use and rebuilding the chains. */
  private allocateSlots(n: number): void {
    const keep = this.used; // all live: the slots grow only when none is free
    const words = new ArrayBuffer(n * STRIDE * 4);
    const m = new Int32Array(words);
    if (keep > 0) m.set(this.m.subarray(0, keep * STRIDE));
    this.m = m;
    this.d = new Float64Array(words);
    this.keyBuckets = new Int32Array(n).fill(-1);
    this.handleBuckets = new Int32Array(n).fill(-1);
    this.slots = n;
    const mask = n - 1;
    for (let slot = 0; slot < keep; slot++) {
      const kb = m[slot * STRIDE + W_KEY_HASH]! & mask;
      m[slot * STRIDE + W_KEY_NEXT] = this.keyBuckets[kb]!;
      this.keyBuckets[kb] = slot;
      this.linkHandle(slot, m[slot * STRIDE + W_HANDLE_HASH]! & mask);
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
    const m = this.m;
    let from = 0;
    let to = 0;
    while (from < s.fill) {
      const slot = b.readUInt32LE(from);
      const length = b.readUInt32LE(from + 4);
      const w = slot * STRIDE;
      // The record is live if its slot is live and still points here (a slot reused since points elsewhere).
      if (slot < this.slots && (m[w + W_KEY_LENGTH_FLAGS]! >>> 24) & LIVE && m[w + W_SLAB] === s.index && m[w + W_OFFSET] === from) {
        if (to !== from) b.copyWithin(to, from, from + length);
        m[w + W_OFFSET] = to;
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

/** Bytes per slot: its 16 words and the heads of its two chains. */
const BYTES_PER_SLOT = STRIDE * 4 + 4 * 2;

/**
 * Equal bytes? A loop for keys of the usual size, Buffer.compare for long ones: the call into C++ (with its
 * argument checks) costs more than comparing a few tens of bytes here. Measured with keys at random places
 * in an 8 MiB slab: 20 bytes, loop 58 ns, compare 134 ns; 40 bytes, 110 and 167 ns; 80 bytes, 367 and
 * 193 ns. (A request body for a typical handle, no indexes, no types, is 30 to 45 bytes.)
 */
function sameBytes(a: Buffer, aStart: number, b: Buffer, bStart: number, length: number): boolean {
  if (length > 64) return a.compare(b, bStart, bStart + length, aStart, aStart + length) === 0;
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
