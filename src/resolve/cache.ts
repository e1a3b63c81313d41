import { LRUCache } from 'lru-cache';
import { Responder } from './respond.js';

// The hot cache: answers kept as encoded body bytes (without the per-request digest), keyed by what the
// request asked (its body bytes and whether it was authenticated), bounded in bytes. An entry is fresh
// until its TTL, then stale for a bounded window in which it is served only when every upstream fails
// (RFC 8767's serve-stale); after that window it is gone.

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
 * A cached answer, kept as the whole response packet (in memory of its own, exactly as long as it is) into
 * which the hot path patches only the per-request fields (Responder.patched). One buffer per entry: the
 * body is a view into it, made only when the slow path needs it.
 */
export class CachedAnswer {
  constructor(
    readonly responseCode: number,
    readonly packet: Buffer,
    readonly handleKey: string,
    readonly freshUntil: number,
    readonly local: boolean,
    /** A request without PO for this must be challenged (handle-protocol.md 11.7), not answered from here. */
    readonly restricted = false,
  ) {}

  /** The body: the packet less its 20-byte envelope, 24-byte header and 4-byte credential length. */
  get body(): Buffer {
    return this.packet.subarray(44, this.packet.length - 4);
  }
}

export interface CacheOptions {
  maxBytes: number;
  staleWindowMs: number;
  /** The response packet template of an answer (Responder.template); a plain one when not given. */
  packetOf?: (responseCode: number, body: Buffer) => Buffer;
}

export class CacheStats {
  hits = 0;
  misses = 0;
  staleServed = 0;
  inserts = 0;
  invalidations = 0;
}

/**
 * Per-entry overhead counted against the byte bound beside the packet and the key: the entry object, the
 * key string, the LRU's bookkeeping, the handle index, and the garbage collector's slack. bench/memory
 * measured 1.87 KiB of resident size per cached answer of ~250 bytes; with this overhead the bound counts
 * about 1.55 KiB for it, so resident size follows the bound to within about a fifth.
 */
const ENTRY_OVERHEAD = 1024;

export class AnswerCache {
  readonly stats = new CacheStats();
  private readonly lru: LRUCache<string, CachedAnswer>;
  /**
   * handle key → cache key(s) of every variant (filters, authentication) of its answers: a plain string for
   * the usual single variant, a Set only when there are more (a Set per entry would cost more than the entry).
   */
  private readonly byHandle = new Map<string, string | Set<string>>();

  private readonly packetOf: (responseCode: number, body: Buffer) => Buffer;

  constructor(private readonly opts: CacheOptions) {
    const plain = new Responder(0, true);
    this.packetOf = opts.packetOf ?? ((rc, body) => plain.template(rc, body));
    this.lru = new LRUCache<string, CachedAnswer>({
      maxSize: Math.max(opts.maxBytes, 1),
      sizeCalculation: (v, k) => v.packet.length + k.length + ENTRY_OVERHEAD,
      dispose: (v, k) => this.unindex(v.handleKey, k),
    });
  }

  /**
   * A cache key for a resolution: the request body as sent (handle, indexes, types), read as latin1 so
   * every byte is one character. Unauthenticated keys are the body alone (it starts with the handle's
   * length, so with a 0 byte); authenticated ones are marked 'A'.
   */
  static key(body: Buffer, authenticated: boolean): string {
    const s = body.toString('latin1');
    return authenticated ? 'A' + s : s;
  }

  /** The unauthenticated key of a body inside a larger buffer, without making a view of it first. */
  static keyAt(buf: Buffer, start: number, end: number): string {
    return buf.toString('latin1', start, end);
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

  /** Keep an answer; returns the entry made (undefined when the answer is not kept). */
  set(key: string, a: AnswerToCache, now: number): CachedAnswer | undefined {
    const ttl = a.freshUntil - now;
    if (ttl <= 0 || this.opts.maxBytes <= 0) return undefined;
    // Small Buffers are slices of shared 8 KiB pool slabs; a cached slice would keep its whole slab alive
    // for as long as the answer lives. Cached bytes get memory of their own.
    const packet = ownBytes(this.packetOf(a.responseCode, a.body));
    const answer = new CachedAnswer(a.responseCode, packet, a.handleKey, a.freshUntil, a.local, a.restricted ?? false);
    // Local answers are dropped on writes, not served stale, so they need no stale window.
    const keepFor = answer.local ? ttl : ttl + this.opts.staleWindowMs;
    this.lru.set(key, answer, { ttl: keepFor });
    if (!this.lru.has(key)) return undefined; // too large to keep
    const known = this.byHandle.get(answer.handleKey);
    if (known === undefined) this.byHandle.set(answer.handleKey, key);
    else if (typeof known === 'string') {
      if (known !== key) this.byHandle.set(answer.handleKey, new Set([known, key]));
    } else known.add(key);
    this.stats.inserts++;
    return answer;
  }

  /** Drop every cached answer about a handle. */
  invalidate(handleKey: string): void {
    const keys = this.byHandle.get(handleKey);
    if (keys === undefined) return;
    for (const k of typeof keys === 'string' ? [keys] : [...keys]) this.lru.delete(k);
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
    const known = this.byHandle.get(handleKey);
    if (known === undefined) return;
    if (typeof known === 'string') {
      if (known === key) this.byHandle.delete(handleKey);
      return;
    }
    known.delete(key);
    if (known.size === 1) this.byHandle.set(handleKey, known.values().next().value!);
  }
}

/** A copy in memory of its own (not a pool slab), exactly as long as the bytes. */
export function ownBytes(b: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(b.length);
  b.copy(out);
  return out;
}
