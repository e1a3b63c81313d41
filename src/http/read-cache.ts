import { LRUCache } from 'lru-cache';

// Finished answers of anonymous GET/HEAD /api/handles/… reads, kept as the bytes that went out, keyed by
// the request target exactly as sent (path and query: everything of an anonymous read that shapes its
// answer — handle, index, type, publicOnly, pretty, callback). A hit writes the bytes back without
// parsing the query, encoding a Handle request, decoding an answer or writing JSON.
//
// Freshness is borrowed from the hot cache, as the DNS gateway does: each reply remembers the hot cache's
// entry it was made from (its key and serial) and is served only while that same entry is the one the hot
// cache holds. A registry write (noticeWrites drops the entry), a TTL running out on the node's clock, or
// an eviction there ends it here too; there is no invalidation of our own to forget. The JSON carries
// no countdown (values' TTLs are as stored, no Cache-Control or Age), so the bytes never need patching.

/** One kept answer: status, the headers that depend on it, the body, and where it came from. */
export interface HttpReply {
  status: number;
  contentType: string;
  /** Content-Length, as the header's text. */
  contentLength: string;
  bytes: Buffer;
  /** The hot cache's key and the serial of its entry this reply was made from. */
  sourceKey: string;
  sourceSerial: number;
}

export class HttpReadCacheStats {
  hits = 0;
  /** Kept replies found but no longer backed by the same hot-cache entry (dropped). */
  outdated = 0;
  stored = 0;
}

/** What an entry costs beyond its body and key strings: the reply object, the LRU's node and map slot. */
const ENTRY_OVERHEAD = 240;

export class HttpReadCache {
  readonly stats = new HttpReadCacheStats();
  private readonly lru: LRUCache<string, HttpReply>;

  constructor(
    readonly maxBytes: number,
    /** The serial of the hot cache's fresh entry for a key, or 0 (ResolutionPipeline.lookupSerial). */
    private readonly serialOf: (key: string, now: number) => number,
    private readonly now: () => number,
  ) {
    this.lru = new LRUCache<string, HttpReply>({
      maxSize: Math.max(1, maxBytes),
      sizeCalculation: (r, target) => HttpReadCache.cost(target, r),
    });
  }

  /** What a reply costs against the bound (strings counted at two bytes a character, as V8 may hold them). */
  static cost(target: string, r: Pick<HttpReply, 'bytes' | 'sourceKey'>): number {
    return r.bytes.length + 2 * (target.length + r.sourceKey.length) + ENTRY_OVERHEAD;
  }

  /** The kept reply for this request target, if the hot-cache entry it was made from is still there. */
  get(target: string): HttpReply | undefined {
    const r = this.lru.get(target);
    if (r === undefined) return undefined;
    if (this.serialOf(r.sourceKey, this.now()) !== r.sourceSerial) {
      this.stats.outdated++;
      this.lru.delete(target);
      return undefined;
    }
    this.stats.hits++;
    return r;
  }

  set(target: string, r: HttpReply): void {
    // A reply bigger than the whole bound is not kept (lru-cache would refuse it anyway).
    if (HttpReadCache.cost(target, r) > this.maxBytes) return;
    this.lru.set(target, r);
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
