import { LRUCache } from 'lru-cache';

// Answers derived from the hot cache's (a DNS response, an HTTP JSON reply), kept as the bytes that went out
// and bounded by bytes. Freshness is borrowed: an entry made from a hot-cache answer remembers that entry's
// key and serial and is served only while the same entry is the one the hot cache holds, so a registry
// write, a TTL running out on the node's clock or an eviction there ends it here too; there is no
// invalidation of its own to forget. An entry without a source (an answer that never changes) stands until
// the LRU drops it.
//
// Asking the hot cache costs a hash and a byte comparison of the source key, a few microseconds on a hit
// that is otherwise a copy. So an entry also remembers the hot cache's removal count and its source's
// freshness when it was last confirmed: while no entry at all has left the hot cache since (no write, no
// eviction, no expiry, no replacement) and the source is still fresh by the clock, the source is the one it
// was, and the hit is served without asking. Anything else asks again. Such hits do not refresh the source's
// place in the hot cache's LRU order, so a source read only through here may be evicted first; its
// derived entries then go with it and are made again at the next ask.

export interface DerivedEntry {
  bytes: Buffer;
  /** The hot cache's key and the serial of its entry this one was made from; absent: it depends on none. */
  sourceKey?: string;
  sourceSerial?: number;
  /** Set here: the hot cache's removal count when the source was last confirmed, and its freshness then. */
  confirmedAt?: number;
  sourceFreshUntil?: number;
}

/** What a derived cache asks of the hot cache it derives from (ResolutionPipeline). */
export interface DerivationSource {
  /** Until when (clock ms) the hot cache's entry for a key is fresh, if it is fresh and has this serial; else 0. */
  freshUntilOf(key: string, serial: number, now: number): number;
  /** A count that moves whenever an entry leaves the hot cache (other processes' writes noticed first). */
  removals(now: number): number;
}

export class DerivedCacheStats {
  hits = 0;
  /** Entries found but no longer backed by the same hot-cache entry (dropped). */
  outdated = 0;
  stored = 0;
}

export class DerivedCache<E extends DerivedEntry> {
  readonly stats = new DerivedCacheStats();
  private readonly lru: LRUCache<string, E>;

  constructor(
    readonly maxBytes: number,
    private readonly source: DerivationSource,
    /** What an entry costs against the bound, its key included. */
    private readonly cost: (entry: E, key: string) => number,
  ) {
    this.lru = new LRUCache<string, E>({ maxSize: Math.max(1, maxBytes), sizeCalculation: cost });
  }

  /** The entry under `key`, if the hot-cache entry it was made from is still there. */
  get(key: string, now: number): E | undefined {
    const e = this.lru.get(key);
    if (e === undefined) return undefined;
    if (e.sourceKey !== undefined && (e.confirmedAt !== this.source.removals(now) || !(now < e.sourceFreshUntil!))) {
      const freshUntil = this.source.freshUntilOf(e.sourceKey, e.sourceSerial!, now);
      if (freshUntil === 0) {
        this.stats.outdated++;
        this.lru.delete(key);
        return undefined;
      }
      // Read after the lookup, which may itself have dropped an expired entry.
      e.confirmedAt = this.source.removals(now);
      e.sourceFreshUntil = freshUntil;
    }
    this.stats.hits++;
    return e;
  }

  set(key: string, e: E): void {
    // An entry bigger than the whole bound is not kept (lru-cache would refuse it anyway).
    if (this.cost(e, key) > this.maxBytes) return;
    this.lru.set(key, e);
    this.stats.stored++;
  }

  get size(): number {
    return this.lru.size;
  }

  /** Bytes held against the bound. */
  get bytes(): number {
    return this.lru.calculatedSize;
  }
}
