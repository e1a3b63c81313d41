import type { RecordOwners } from './arena.js';

// The cache's index: an entry is a number, its slot, and its metadata is 64 bytes of one typed array at
// that slot: where its record is, the lengths, the response code, freshness, flags, and the links of three
// lists: the hash chain of its request key, the hash chain of its handle key (so invalidate() finds every
// variant of a handle), and the LRU. Fields of a slot are side by side (not one array per field) because
// at a million entries every lookup is a walk through memory the CPU has not cached: one line per entry
// instead of one per field (measured in-process, lookup and patch over 1 M entries, Zipf picks: 2.5 µs
// with one array per field, 1.8 µs packed).

// Fields of a slot: 16 32-bit words (one 64-byte cache line's worth, so a lookup touches one or two lines
// of metadata rather than one per field), read through an Int32Array and, for the two doubles, a
// Float64Array over the same memory.
export const STRIDE = 16;
export const D_FRESH_UNTIL = 0; // double 0 (words 0-1): epoch ms until which the answer is fresh
export const D_SERIAL = 1; // double 1 (words 2-3)
export const W_KEY_HASH = 4;
export const W_KEY_NEXT = 5; // next slot in the key's hash chain; also the free list of slots
export const W_HANDLE_HASH = 6;
export const W_HANDLE_NEXT = 7; // the handle's hash chain, both ways (an eviction unlinks without a walk)
export const W_HANDLE_PREV = 8;
export const W_OLDER = 9; // the LRU list
export const W_NEWER = 10;
export const W_SLAB = 11;
export const W_OFFSET = 12; // of the record in its slab
export const W_KEY_LENGTH_FLAGS = 13; // key length (24 bits), flags (8)
export const W_PACKET_LENGTH = 14;
export const W_CODE_HANDLE_LENGTH = 15; // response code (16 bits), handle key length (16)
export const MAX_KEY_LENGTH = 0xffffff;

// Flags of a slot.
export const LIVE = 1;
export const LOCAL = 2;
export const RESTRICTED = 4;
export const AUTHENTICATED = 8;

/** Bytes per slot: its 16 words and the heads of its two chains. */
export const BYTES_PER_SLOT = STRIDE * 4 + 4 * 2;

const INITIAL_SLOTS = 1024;

/**
 * The slot array, its two hash chains and its LRU list. The answer cache is one (it extends this), so the
 * hot path reads slot fields with no object in between.
 */
export class SlotIndex implements RecordOwners {
  /** Slots: their number (a power of two), their words, their doubles, and the heads of the two chains. */
  protected slots = 0;
  protected m!: Int32Array;
  protected d!: Float64Array;
  protected keyBuckets!: Int32Array;
  protected handleBuckets!: Int32Array;

  /** Slots below this have been used; the free ones among them are chained through W_KEY_NEXT. */
  private used = 0;
  private freeSlot = -1;
  private newest = -1;
  protected oldest = -1;

  constructor() {
    this.allocateSlots(INITIAL_SLOTS);
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

  holds(slot: number, slabIndex: number, offset: number): boolean {
    const w = slot * STRIDE;
    return slot < this.slots && ((this.m[w + W_KEY_LENGTH_FLAGS]! >>> 24) & LIVE) !== 0 && this.m[w + W_SLAB] === slabIndex && this.m[w + W_OFFSET] === offset;
  }

  moved(slot: number, offset: number): void {
    this.m[slot * STRIDE + W_OFFSET] = offset;
  }

  protected flagsOf(slot: number): number {
    return this.m[slot * STRIDE + W_KEY_LENGTH_FLAGS]! >>> 24;
  }

  /** Made the newest in LRU order. */
  protected touch(slot: number): void {
    if (slot === this.newest) return;
    this.unlinkLru(slot);
    this.linkNewest(slot);
  }

  protected linkNewest(slot: number): void {
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

  protected linkHandle(slot: number, bucket: number): void {
    const m = this.m;
    const head = this.handleBuckets[bucket]!;
    m[slot * STRIDE + W_HANDLE_PREV] = -1;
    m[slot * STRIDE + W_HANDLE_NEXT] = head;
    if (head >= 0) m[head * STRIDE + W_HANDLE_PREV] = slot;
    this.handleBuckets[bucket] = slot;
  }

  /** Takes a slot out of its key's chain, its handle's chain and the LRU list. */
  protected unlink(slot: number): void {
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
  }

  /** An unlinked slot back on the free list, no longer LIVE (compaction skips its record). */
  protected freeUnlinked(slot: number): void {
    const w = slot * STRIDE;
    this.m[w + W_KEY_LENGTH_FLAGS] = 0;
    this.m[w + W_KEY_NEXT] = this.freeSlot;
    this.freeSlot = slot;
  }

  protected takeSlot(): number {
    if (this.freeSlot >= 0) {
      const slot = this.freeSlot;
      this.freeSlot = this.m[slot * STRIDE + W_KEY_NEXT]!;
      return slot;
    }
    if (this.used === this.slots) this.allocateSlots(this.slots * 2);
    return this.used++;
  }

  /** Every slot free again, the arrays back to their first size. */
  protected clearSlots(): void {
    this.used = 0;
    this.freeSlot = -1;
    this.newest = -1;
    this.oldest = -1;
    this.allocateSlots(INITIAL_SLOTS);
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
}
