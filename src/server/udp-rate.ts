import { randomInt } from 'node:crypto';
import { type Cidr, type Family, cidrContains, parseAddress, parseCidr, prefixHigh, prefixLow, prefixText } from '../model/address.js';

// Response-rate limiting for UDP (DESIGN 8: UDP must not become an amplifier), as NSD and Knot do it. A
// forged source address makes the node answer a victim; so every answer is metered per source *prefix*
// (/24 for IPv4, /56 for IPv6: one network, however many of its addresses are forged), with two token
// buckets in one table entry:
//
// * responses: every answer costs one; past `responsesPerSecond` (with a burst) answers to that prefix are
//   dropped, except every `slip`-th, which goes out as a short TC answer so a real client behind the prefix
//   retries over TCP, which a forged source cannot do;
// * bytes (the large-answer budget, `udp.rateLimit`): an answer of more than `minBytes` message bytes also
//   costs its bytes; past `bytesPerSecond` it is replaced by a short TC answer (always: that answer is
//   ten times smaller than the request's worth and a real client needs it to know to use TCP).
//
// The table is fixed in size and allocated once: typed arrays, 4-way set-associative, indexed by a seeded
// hash of the prefix's bits, the least recently used entry of a set replaced when a new prefix needs room.
// An entry idle for burst ÷ rate seconds (1 s by default) holds full buckets, exactly what a new entry
// starts with, so replacing it loses nothing; a flood from more prefixes than the table holds in that time
// only makes some of them start afresh. Per packet: the address text read into scratch groups, a hash,
// at most four key comparisons, a refill and a subtraction. No string keys, no allocation.

export interface RateLimitOptions {
  /** Responses with more message bytes than this also cost their bytes. */
  minBytes: number;
  /** Bytes of such responses one prefix may receive a second (also the burst); 0 turns this meter off. */
  bytesPerSecond: number;
}

export interface RrlOptions {
  /** Answers a second one prefix may receive; 0 turns response metering off. */
  responsesPerSecond: number;
  /** Answers a prefix may receive at once after being quiet (the bucket's size). */
  burst: number;
  /** Every slip-th limited answer goes out as a short TC answer, the others are dropped; 0: drop all, 1: TC all. */
  slip: number;
  ipv4PrefixLength: number;
  ipv6PrefixLength: number;
  /** Entries (prefixes tracked at once); rounded up to a power of two, at least 64. */
  tableSize: number;
  /** Blocks never limited ("127.0.0.0/8", "::1/128"). */
  exempt: string[];
}

/** What to do with an answer. */
export const SEND = 0;
/** Over the response rate: say nothing. */
export const DROP = 1;
/** Over the response rate, and this one slips: a short TC answer. */
export const SLIP = 2;
/** A large answer over the byte budget: a short TC answer. */
export const TRUNCATE = 3;
export type Verdict = typeof SEND | typeof DROP | typeof SLIP | typeof TRUNCATE;

/** A prefix's limited answers since it was last reported, reported at most once an interval per prefix. */
export type RateReport = (prefix: string, limited: number, slipped: number) => void;

export class RrlStats {
  /** Answers dropped, answers sent as TC instead (slipped), large answers replaced by TC (byte budget). */
  dropped = 0;
  slipped = 0;
  truncated = 0;
  /** Entries taken over for another prefix while their own was active within the refill time. */
  evictions = 0;
  /** Entries in use. */
  used = 0;
}

const WAYS = 4;
const EXEMPT = 1;

/** Bytes per entry: the arrays below. */
export const ENTRY_BYTES = 4 + 4 + 1 + 1 + 8 + 8 + 8 + 8 + 4 + 4 + 8;

export class ResponseRateLimiter {
  readonly stats = new RrlStats();
  readonly size: number;
  private readonly sets: number;
  private readonly seed = randomInt(0, 0x7fffffff);
  private readonly keyHi: Uint32Array;
  private readonly keyLo: Uint32Array;
  /** 0: empty; else the family (4 or 6). */
  private readonly family: Uint8Array;
  private readonly flags: Uint8Array;
  /** When the entry's buckets were last brought up to date (ms). */
  private readonly seen: Float64Array;
  /** The answer count when the entry was last used: the least recently used of a set is replaced. */
  private readonly used: Float64Array;
  private tick = 0;
  private readonly tokens: Float64Array;
  private readonly bytes: Float64Array;
  /** Limited answers to the prefix (for the slip), and how many of them were reported already. */
  private readonly limited: Uint32Array;
  private readonly reported: Uint32Array;
  private readonly reportedAt: Float64Array;
  private readonly groups = new Uint16Array(8);
  /** Exempt blocks as wide as a prefix or wider (marked on the entry), and narrower ones (checked when limiting). */
  private readonly exemptWide: Cidr[] = [];
  private readonly exemptNarrow: Cidr[] = [];
  private readonly rate: number;
  private readonly burst: number;
  private readonly byteRate: number;
  /** After this long idle, an entry's buckets are full: it may be replaced at no loss. */
  private readonly idleMs: number;

  constructor(
    private readonly rrl: RrlOptions,
    private readonly large: RateLimitOptions | undefined,
    private readonly report?: RateReport,
    private readonly reportIntervalMs = 10000,
  ) {
    let size = 64;
    while (size < rrl.tableSize && size < 1 << 24) size <<= 1;
    this.size = size;
    this.sets = size / WAYS;
    this.keyHi = new Uint32Array(size);
    this.keyLo = new Uint32Array(size);
    this.family = new Uint8Array(size);
    this.flags = new Uint8Array(size);
    this.seen = new Float64Array(size);
    this.used = new Float64Array(size);
    this.tokens = new Float64Array(size);
    this.bytes = new Float64Array(size);
    this.limited = new Uint32Array(size);
    this.reported = new Uint32Array(size);
    this.reportedAt = new Float64Array(size);
    for (const c of rrl.exempt) {
      const p = parseCidr(c);
      if (!p) throw new Error(`not an address block: ${c}`);
      const prefixBits = p.family === 4 ? rrl.ipv4PrefixLength : rrl.ipv6PrefixLength;
      (p.bits <= prefixBits ? this.exemptWide : this.exemptNarrow).push(p);
    }
    this.rate = rrl.responsesPerSecond;
    this.burst = Math.max(1, rrl.burst);
    this.byteRate = large?.bytesPerSecond ?? 0;
    const responseIdle = this.rate > 0 ? (this.burst / this.rate) * 1000 : 0;
    this.idleMs = Math.max(responseIdle, this.byteRate > 0 ? 1000 : 0);
  }

  /** Whether anything is metered at all (a limiter that meters nothing need not be asked). */
  get enabled(): boolean {
    return this.rate > 0 || this.byteRate > 0;
  }

  /**
   * The verdict for an answer of `messageBytes` to `address` at `nowMs`; the answer is charged when it may
   * go. An address that cannot be read is never limited.
   */
  check(address: string, messageBytes: number, nowMs: number): Verdict {
    const g = this.groups;
    const family = parseAddress(address, g);
    if (family === 0) return SEND;
    const bits = family === 4 ? this.rrl.ipv4PrefixLength : this.rrl.ipv6PrefixLength;
    const hi = prefixHigh(g, family, bits);
    const lo = prefixLow(g, family, bits);
    const slot = this.slotOf(family, hi, lo, nowMs);
    this.used[slot] = ++this.tick;
    if (this.flags[slot]! & EXEMPT) return SEND;

    // Refill both buckets for the time since the entry was last seen.
    const elapsed = nowMs - this.seen[slot]!;
    if (elapsed > 0) {
      this.seen[slot] = nowMs;
      const t = this.tokens[slot]! + (elapsed * this.rate) / 1000;
      this.tokens[slot] = t > this.burst ? this.burst : t;
      if (this.byteRate > 0) {
        const b = this.bytes[slot]! + (elapsed * this.byteRate) / 1000;
        this.bytes[slot] = b > this.byteRate ? this.byteRate : b;
      }
    }
    if (this.rate > 0) {
      if (this.tokens[slot]! < 1) {
        return this.exemptNarrow.length > 0 && this.inBlock(this.exemptNarrow, family) ? SEND : this.limit(slot, nowMs);
      }
      this.tokens[slot]!--;
    }
    if (this.byteRate > 0 && messageBytes > this.large!.minBytes) {
      if (this.bytes[slot]! < messageBytes) {
        if (this.exemptNarrow.length > 0 && this.inBlock(this.exemptNarrow, family)) return SEND;
        this.stats.truncated++;
        return TRUNCATE;
      }
      this.bytes[slot]! -= messageBytes;
    }
    return SEND;
  }

  private limit(slot: number, nowMs: number): Verdict {
    const n = ++this.limited[slot]!;
    const slip = this.rrl.slip;
    const slipped = slip > 0 && n % slip === 0;
    if (slipped) this.stats.slipped++;
    else this.stats.dropped++;
    if (this.report && nowMs - this.reportedAt[slot]! >= this.reportIntervalMs) {
      const since = (n - this.reported[slot]!) >>> 0;
      this.reported[slot] = n;
      this.reportedAt[slot] = nowMs;
      const family = this.family[slot] as Family;
      const bits = family === 4 ? this.rrl.ipv4PrefixLength : this.rrl.ipv6PrefixLength;
      this.report(prefixText(family, this.keyHi[slot]!, this.keyLo[slot]!, bits), since, slip > 0 ? Math.floor(since / slip) : 0);
    }
    return slipped ? SLIP : DROP;
  }

  /** The entry of a prefix: found in its set, or the set's least recently used entry made over to it. */
  private slotOf(family: Family, hi: number, lo: number, nowMs: number): number {
    const base = (this.hash(hi, lo, family) & (this.sets - 1)) * WAYS;
    let oldest = base;
    for (let s = base; s < base + WAYS; s++) {
      const f = this.family[s]!;
      if (f === family && this.keyHi[s] === hi && this.keyLo[s] === lo) return s;
      if (f === 0) {
        oldest = s;
        break;
      }
      if (this.used[s]! < this.used[oldest]!) oldest = s;
    }
    const s = oldest;
    if (this.family[s] === 0) this.stats.used++;
    else if (nowMs - this.seen[s]! < this.idleMs) this.stats.evictions++;
    this.family[s] = family;
    this.keyHi[s] = hi;
    this.keyLo[s] = lo;
    this.flags[s] = this.inBlock(this.exemptWide, family) ? EXEMPT : 0;
    this.seen[s] = nowMs;
    this.tokens[s] = this.burst;
    this.bytes[s] = this.byteRate;
    this.limited[s] = 0;
    this.reported[s] = 0;
    this.reportedAt[s] = -Infinity;
    return s;
  }

  /** Whether the address in the scratch groups lies in one of the blocks. */
  private inBlock(blocks: readonly Cidr[], family: Family): boolean {
    for (const c of blocks) if (cidrContains(c, this.groups, family)) return true;
    return false;
  }

  /** MurmurHash3's mixing of the two words and the family, seeded per process. */
  private hash(hi: number, lo: number, family: number): number {
    let h = this.seed ^ family;
    h = mix(h, hi);
    h = mix(h, lo);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
  }
}

function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}
