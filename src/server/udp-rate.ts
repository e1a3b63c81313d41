import { LRUCache } from 'lru-cache';

// Response-rate limiting for UDP (DESIGN 8: UDP must not become an amplifier). Only large responses are
// metered, per source address, with a token bucket of bytes: a small query from a forged address cannot
// make the node send many times its size to the victim for long. Past the budget the client is told to ask
// over TCP (a short answer with TC set), which a forged source cannot do. Small answers, the scanners'
// everyday traffic, pass without a lookup.

export interface RateLimitOptions {
  /** Responses with more message bytes than this are metered. */
  minBytes: number;
  /** Bytes of metered responses one address may receive a second (also the burst); 0 turns metering off. */
  bytesPerSecond: number;
  /** Addresses remembered at once (least recently seen forgotten first). */
  maxPeers?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class ResponseRateLimiter {
  private readonly buckets: LRUCache<string, Bucket>;

  constructor(private readonly opts: RateLimitOptions) {
    this.buckets = new LRUCache({ max: opts.maxPeers ?? 100000 });
  }

  get enabled(): boolean {
    return this.opts.bytesPerSecond > 0;
  }

  /** Whether a response of `bytes` may go to `address` now; it is charged when it may. */
  allow(address: string, bytes: number, nowMs: number): boolean {
    if (!this.enabled || bytes <= this.opts.minBytes) return true;
    const rate = this.opts.bytesPerSecond;
    let b = this.buckets.get(address);
    if (!b) {
      b = { tokens: rate, at: nowMs };
      this.buckets.set(address, b);
    } else {
      b.tokens = Math.min(rate, b.tokens + ((nowMs - b.at) / 1000) * rate);
      b.at = nowMs;
    }
    if (b.tokens < bytes) return false;
    b.tokens -= bytes;
    return true;
  }
}
