import { LRUCache } from 'lru-cache';

// The hot cache: answers kept as encoded body bytes (without the per-request digest), keyed by what the
// request asked (its body bytes and whether it was authenticated), bounded in bytes. An entry is fresh
// until its TTL, then stale for a bounded window in which it is served only when every upstream fails
// (RFC 8767's serve-stale); after that window it is gone.

export interface CachedAnswer {
  responseCode: number;
  body: Buffer;
  /** Lookup key of the handle the answer is about, so a write to it can drop every cached variant. */
  handleKey: string;
  /** Epoch ms until which the answer is fresh. */
  freshUntil: number;
  /** Answered from this node's own registry (never served stale: the registry is always there). */
  local: boolean;
}

export interface CacheOptions {
  maxBytes: number;
  staleWindowMs: number;
}

export class CacheStats {
  hits = 0;
  misses = 0;
  staleServed = 0;
  inserts = 0;
  invalidations = 0;
}

/** Per-entry overhead counted against the byte bound: the entry object, the key, the index entry. */
const ENTRY_OVERHEAD = 160;

export class AnswerCache {
  readonly stats = new CacheStats();
  private readonly lru: LRUCache<string, CachedAnswer>;
  /** handle key → cache keys of every variant (filters, authentication) of its answers. */
  private readonly byHandle = new Map<string, Set<string>>();

  constructor(private readonly opts: CacheOptions) {
    this.lru = new LRUCache<string, CachedAnswer>({
      maxSize: Math.max(opts.maxBytes, 1),
      sizeCalculation: (v, k) => v.body.length + k.length + ENTRY_OVERHEAD,
      dispose: (v, k) => this.unindex(v.handleKey, k),
    });
  }

  /** A cache key for a resolution: the request body as sent, and whether the asker was authenticated. */
  static key(body: Buffer, authenticated: boolean): string {
    return (authenticated ? 'A' : 'P') + body.toString('latin1');
  }

  /** A fresh answer, or undefined (a stale one is not returned here: see getStale). */
  get(key: string, now: number): CachedAnswer | undefined {
    const v = this.lru.get(key);
    if (v && v.freshUntil > now) {
      this.stats.hits++;
      return v;
    }
    this.stats.misses++;
    return undefined;
  }

  /** An answer past its TTL but inside the stale window, for when every upstream has failed. */
  getStale(key: string): CachedAnswer | undefined {
    const v = this.lru.get(key, { allowStale: false });
    if (v && !v.local) {
      this.stats.staleServed++;
      return v;
    }
    return undefined;
  }

  set(key: string, answer: CachedAnswer, now: number): void {
    const ttl = answer.freshUntil - now;
    if (ttl <= 0 || this.opts.maxBytes <= 0) return;
    // Local answers are dropped on writes, not served stale, so they need no stale window.
    const keepFor = answer.local ? ttl : ttl + this.opts.staleWindowMs;
    this.lru.set(key, answer, { ttl: keepFor });
    if (!this.lru.has(key)) return; // too large to keep
    let set = this.byHandle.get(answer.handleKey);
    if (!set) this.byHandle.set(answer.handleKey, (set = new Set()));
    set.add(key);
    this.stats.inserts++;
  }

  /** Drop every cached answer about a handle. */
  invalidate(handleKey: string): void {
    const keys = this.byHandle.get(handleKey);
    if (!keys) return;
    for (const k of [...keys]) this.lru.delete(k);
    this.byHandle.delete(handleKey);
    this.stats.invalidations++;
  }

  /** Drop everything (after a bulk change or a change to delegations). */
  clear(): void {
    this.lru.clear();
    this.byHandle.clear();
    this.stats.invalidations++;
  }

  get size(): number {
    return this.lru.size;
  }

  get bytes(): number {
    return this.lru.calculatedSize;
  }

  private unindex(handleKey: string, key: string): void {
    const set = this.byHandle.get(handleKey);
    if (!set) return;
    set.delete(key);
    if (set.size === 0) this.byHandle.delete(handleKey);
  }
}
