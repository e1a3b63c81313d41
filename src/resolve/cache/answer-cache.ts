import { randomInt } from 'node:crypto';
import { RECORD_HEADER, type Slab, SlabArena } from './arena.js';
import { type ByteHash, murmur3, sameBytes } from './hash.js';
import {
  AUTHENTICATED,
  BYTES_PER_SLOT,
  D_FRESH_UNTIL,
  D_SERIAL,
  LIVE,
  LOCAL,
  MAX_KEY_LENGTH,
  RESTRICTED,
  STRIDE,
  SlotIndex,
  W_CODE_HANDLE_LENGTH,
  W_HANDLE_HASH,
  W_HANDLE_NEXT,
  W_KEY_HASH,
  W_KEY_LENGTH_FLAGS,
  W_KEY_NEXT,
  W_OFFSET,
  W_PACKET_LENGTH,
  W_SLAB,
} from './slot-index.js';

// The hot cache: answers kept as encoded response packets (without the per-request digest), keyed by what
// the request asked (its body bytes and whether it was authenticated), bounded in bytes. An entry is fresh
// until its TTL, then stale for a bounded window in which it is served only when every upstream fails
// (RFC 8767's serve-stale); after that window it is gone.
//
// Layout. A million cached answers must not be a million JavaScript objects: every object is work for the
// garbage collector and a likely CPU cache miss (docs/benchmarks.md, "Why not 0.9 at a million"). So an
// entry is a number (its slot) and lives in
//   * a record in a slab (arena.ts): [slot u32][record length u32][request key bytes][handle key bytes]
//     [response packet];
//   * 64 bytes of one typed array, at its slot (slot-index.ts), with the links of its key's hash chain,
//     its handle's hash chain and the LRU list.
// A lookup hashes the request body straight from the datagram (no key string is made per request), walks
// one short chain and confirms a candidate by comparing the stored key bytes (hash.ts). The hash is seeded
// at random per process, so chains cannot be lengthened by a client that chooses its handles. The cache
// makes no packets itself: it is handed the packet maker (the node's responder) and keeps its bytes.

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

export interface CacheOptions {
  maxBytes: number;
  staleWindowMs: number;
  /** The response packet template of an answer (the node's Responder.template): what the cache keeps. */
  packetOf: (responseCode: number, body: Buffer) => Buffer;
  /** The hash of key bytes; tests inject weak ones to force collisions. */
  hash?: ByteHash;
  /** Slab size in bytes (tests use small ones); by default it follows the bound. */
  slabBytes?: number;
  /** The clock (ms) of getStale when it is not handed one (the pipeline's; tests pass a fake one). */
  now?: () => number;
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

/**
 * Per-entry cost counted against the byte bound beside its record: a slot is 72 bytes (64 of fields, two
 * chain heads of 4), and slots grow by doubling, so a live entry holds 72 to 144 bytes of them; 128 covers
 * the usual case. (The old cache counted 1,024 bytes for its objects, and still fell a fifth short of
 * resident size.)
 */
export const ENTRY_OVERHEAD = 128;

/** Mixed into the seed for authenticated keys: the same body asked with and without authentication differs. */
const AUTHENTICATED_SEED = 0x9e3779b9;

export class AnswerCache extends SlotIndex {
  readonly stats = new CacheStats();
  private readonly packetOf: (responseCode: number, body: Buffer) => Buffer;
  private readonly hash: ByteHash;
  private readonly seed: number;
  private readonly arena: SlabArena;
  /** The arena's slabs, by index (the same array for the cache's life). */
  private readonly slabs: readonly (Slab | undefined)[];

  /**
   * Entries that have left the cache so far, for any reason (replaced, evicted, invalidated, expired, cleared):
   * while it stands still, every entry that was here is here still (derived-cache.ts relies on it).
   */
  removals = 0;
  private count = 0;
  private charged = 0;
  private nextSerial = 1;
  /** Where the slow path's keys are written as bytes (grown when one is longer). */
  private scratch = Buffer.allocUnsafeSlow(4096);

  constructor(private readonly opts: CacheOptions) {
    super();
    this.packetOf = opts.packetOf;
    this.hash = opts.hash ?? murmur3;
    this.seed = randomInt(2 ** 32) >>> 0;
    this.arena = new SlabArena(Math.max(opts.maxBytes, 0), opts.slabBytes, this.stats);
    this.slabs = this.arena.slabs;
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

  /** Until when (clock ms) the answer in a slot is fresh. */
  freshUntilAt(slot: number): number {
    return this.d[slot * (STRIDE / 2) + D_FRESH_UNTIL]!;
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
  getStale(key: string, now = (this.opts.now ?? Date.now)()): CachedAnswer | undefined {
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
    if (a.freshUntil - now <= 0 || this.opts.maxBytes <= 0) return undefined;
    const packet = this.packetOf(a.responseCode, a.body);
    const auth = this.keyToScratch(key);
    const flags = auth | (a.local ? LOCAL : 0) | (a.restricted ? RESTRICTED : 0);
    const slot = this.keep(this.scratch, auth ? 1 : 0, key.length, flags, a.handleKey, a.responseCode, packet, 0, packet.length, a.freshUntil);
    if (slot < 0) return undefined;
    return new CachedAnswer(a.responseCode, packet, a.handleKey, a.freshUntil, a.local, a.restricted ?? false, this.serialAt(slot));
  }

  /**
   * set() for the miss path (resolve/blob-miss.ts): a local, unrestricted answer to the unauthenticated
   * request whose key is buf[keyStart, keyEnd), its packet template made by the caller at
   * src[srcStart, srcStart + length). No key string, no packet of the cache's making, nothing returned but
   * the slot (read it at once, as getAt's), or -1 when the answer is not kept.
   */
  setAt(
    buf: Buffer,
    keyStart: number,
    keyEnd: number,
    handleKey: string,
    responseCode: number,
    src: Buffer,
    srcStart: number,
    length: number,
    freshUntil: number,
    now: number,
  ): number {
    if (freshUntil - now <= 0 || this.opts.maxBytes <= 0) return -1;
    return this.keep(buf, keyStart, keyEnd, LOCAL, handleKey, responseCode, src, srcStart, length, freshUntil);
  }

  /** A packet template made by the node's responder (the miss path builds around the one of an empty body). */
  packetFor(responseCode: number, body: Buffer): Buffer {
    return this.packetOf(responseCode, body);
  }

  /**
   * The body of set() and setAt(): an entry for the key bytes buf[keyStart, keyEnd) (authenticated or not,
   * in `flags`) holding src[srcStart, srcStart + length), replacing any under the same key. The slot, or -1
   * when what the packed fields cannot hold or the bound cannot take is not kept.
   */
  private keep(
    keyBytes: Buffer,
    keyStart: number,
    keyEnd: number,
    flags: number,
    handleKey: string,
    responseCode: number,
    src: Buffer,
    srcStart: number,
    length: number,
    freshUntil: number,
  ): number {
    const auth = flags & AUTHENTICATED;
    const keyLength = keyEnd - keyStart;
    const keyHash = this.hash(keyBytes, keyStart, keyEnd, this.seedFor(auth));
    const old = this.find(keyBytes, keyStart, keyEnd, auth, keyHash);
    if (old >= 0) this.remove(old);
    const handleLength = Buffer.byteLength(handleKey, 'utf8');
    const recordLength = RECORD_HEADER + keyLength + handleLength + length;
    const cost = recordLength + ENTRY_OVERHEAD;
    // What the packed fields cannot hold is not kept (no answer the protocol allows comes near).
    if (cost > this.opts.maxBytes || handleLength > 0xffff || keyLength > MAX_KEY_LENGTH || responseCode > 0xffff || responseCode < 0) return -1;
    while (this.charged + cost > this.opts.maxBytes) this.remove(this.oldest);

    const slot = this.takeSlot();
    const slab = this.arena.place(recordLength, this);
    const at = slab.fill;
    slab.fill += recordLength;
    slab.live += recordLength;
    const b = slab.buf;
    b.writeUInt32LE(slot, at);
    b.writeUInt32LE(recordLength, at + 4);
    keyBytes.copy(b, at + RECORD_HEADER, keyStart, keyEnd);
    const handleAt = at + RECORD_HEADER + keyLength;
    b.write(handleKey, handleAt, handleLength, 'utf8');
    src.copy(b, handleAt + handleLength, srcStart, srcStart + length);

    const m = this.m;
    const w = slot * STRIDE;
    m[w + W_SLAB] = slab.index;
    m[w + W_OFFSET] = at;
    m[w + W_KEY_LENGTH_FLAGS] = keyLength | ((LIVE | flags) << 24);
    m[w + W_PACKET_LENGTH] = length;
    m[w + W_CODE_HANDLE_LENGTH] = responseCode | (handleLength << 16);
    this.d[slot * (STRIDE / 2) + D_FRESH_UNTIL] = freshUntil;
    this.d[slot * (STRIDE / 2) + D_SERIAL] = this.nextSerial++;
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
    return slot;
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
    this.removals++;
    this.arena.clear();
    this.count = 0;
    this.charged = 0;
    this.clearSlots();
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
    return this.arena.heldBytes + this.slots * BYTES_PER_SLOT;
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

  /** Out of the index, its cost off the bound, its record's bytes back to the arena. */
  private remove(slot: number): void {
    this.removals++;
    this.unlink(slot);
    const m = this.m;
    const w = slot * STRIDE;
    const recordLength = RECORD_HEADER + (m[w + W_KEY_LENGTH_FLAGS]! & MAX_KEY_LENGTH) + (m[w + W_CODE_HANDLE_LENGTH]! >>> 16) + m[w + W_PACKET_LENGTH]!;
    this.charged -= recordLength + ENTRY_OVERHEAD;
    this.count--;
    this.freeUnlinked(slot);
    this.arena.release(m[w + W_SLAB]!, recordLength);
  }
}
