// Where the cache's records live: a few large slabs (Buffers shared by many records), so a million cached
// answers are a few dozen objects for the garbage collector, not a million. A record is
//   [slot u32][record length u32][the bytes its writer puts after them]
// so that a slab can be walked when it is compacted.
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

/** Slot, record length: the header of a record, so a slab can be walked when it is compacted. */
export const RECORD_HEADER = 8;

const MIN_SLAB = 16 * 1024;
const MAX_SLAB = 8 * 1024 * 1024;

/** A Buffer holding records of many entries (or, for a large record, of one). */
export class Slab {
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

/** Who the records belong to: asked while a slab is compacted. */
export interface RecordOwners {
  /** Does `slot` (live) still have its record at `offset` in slab `slabIndex` (a slot reused since points elsewhere)? */
  holds(slot: number, slabIndex: number, offset: number): boolean;
  /** The record of `slot` now starts at `offset` in its slab. */
  moved(slot: number, offset: number): void;
}

/** Counted for operators (CacheStats has them). */
export interface CompactionStats {
  /** Slabs compacted to make room, and the live bytes those compactions moved. */
  compactions: number;
  compactedBytes: number;
}

export class SlabArena {
  /** By index (a record's slot names its slab by index); a dropped slab leaves a hole, reused first. */
  readonly slabs: (Slab | undefined)[] = [];
  private readonly slabBytes: number;
  /** Records longer than this get a buffer of their own (see the compaction argument above). */
  private readonly largeRecord: number;
  /** Slabs (not counting buffers of large records) held before compaction replaces allocation. */
  private readonly maxSlabs: number;
  private freeSlabIndexes: number[] = [];
  private pooled = 0;
  private current: Slab | undefined;
  /** One emptied slab kept for the next, instead of giving it to the collector and allocating again. */
  private spare: Slab | undefined;

  constructor(
    /** The cache's bound in bytes. */
    bound: number,
    slabBytes: number | undefined,
    private readonly stats: CompactionStats,
  ) {
    // About 64 slabs at the bound: few objects, and compaction moves at most one slab at a time.
    this.slabBytes = slabBytes ?? Math.min(MAX_SLAB, Math.max(MIN_SLAB, 2 ** Math.floor(Math.log2(Math.max(1, bound / 64)))));
    this.largeRecord = Math.floor(this.slabBytes / 8);
    this.maxSlabs = Math.ceil((1.25 * bound) / this.slabBytes) + 1;
  }

  /** The slab to write a record of `length` bytes into, at its `fill`. */
  place(length: number, owners: RecordOwners): Slab {
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
      this.compact(victim, owners);
      // By the arithmetic above this always has room; should it not, one slab too many beats a lost answer.
      next = victim.fill + length <= victim.buf.length ? victim : this.newSlab(this.slabBytes, false);
    }
    this.current = next;
    return next;
  }

  /** A record of `length` bytes in slab `index` is no longer live; an emptied slab is kept as the spare or let go. */
  release(index: number, length: number): void {
    const slab = this.slabs[index]!;
    slab.live -= length;
    if (slab.large) this.dropSlab(slab);
    else if (slab.live === 0 && slab !== this.current) {
      if (this.spare === undefined) {
        slab.fill = 0;
        this.spare = slab;
      } else this.dropSlab(slab);
    }
  }

  /** Every slab let go (the collector takes the memory back). */
  clear(): void {
    this.slabs.length = 0;
    this.freeSlabIndexes = [];
    this.pooled = 0;
    this.current = undefined;
    this.spare = undefined;
  }

  /** Memory held: slabs (with their holes) and buffers of large records. */
  get heldBytes(): number {
    let n = 0;
    for (const s of this.slabs) if (s) n += s.buf.length;
    return n;
  }

  /** Slides the live records of a slab to its start, in order (so a copy never overwrites what is unread). */
  private compact(s: Slab, owners: RecordOwners): void {
    const b = s.buf;
    let from = 0;
    let to = 0;
    while (from < s.fill) {
      const slot = b.readUInt32LE(from);
      const length = b.readUInt32LE(from + 4);
      if (owners.holds(slot, s.index, from)) {
        if (to !== from) b.copyWithin(to, from, from + length);
        owners.moved(slot, to);
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
