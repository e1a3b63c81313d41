import { LRUCache } from 'lru-cache';

// Answers derived from the hot cache's (a DNS response, an HTTP JSON reply), kept as the bytes that went out
// and bounded by bytes. Freshness is borrowed: an entry made from a hot-cache answer remembers that entry's
// key and serial and is served only while the same entry is the one the hot cache holds, so a registry
// write, a TTL running out on the node's clock or an eviction there ends it here too; there is no
// invalidation of its own to forget. An entry without a source (an answer that never changes) stands until
// the LRU drops it.

export interface DerivedEntry {
  bytes: Buffer;
  /** The hot cache's key and the serial of its entry this one was made from; absent: it depends on none. */
  sourceKey?: string;
  sourceSerial?: number;
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
    /** The serial of the hot cache's fresh entry for a key, or 0 (ResolutionPipeline.lookupSerial). */
    private readonly serialOf: (key: string, now: number) => number,
    /** What an entry costs against the bound, its key included. */
    private readonly cost: (entry: E, key: string) => number,
  ) {
    this.lru = new LRUCache<string, E>({ maxSize: Math.max(1, maxBytes), sizeCalculation: cost });
  }

  /** The entry under `key`, if the hot-cache entry it was made from is still there. */
  get(key: string, now: number): E | undefined {
    const e = this.lru.get(key);
    if (e === undefined) return undefined;
    if (e.sourceKey !== undefined && this.serialOf(e.sourceKey, now) !== e.sourceSerial) {
      this.stats.outdated++;
      this.lru.delete(key);
      return undefined;
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
