import { randomInt } from 'node:crypto';
import { murmurFinish, murmurRound } from '../model/murmur.js';
import { type Cidr, type Family, cidrContains, ipv4Word, ipv6Head, parseAddress, parseCidr, prefixHigh, prefixLow, prefixText } from '../model/address.js';

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
// The table is fixed in size and allocated once: one typed array, 4-way set-associative, indexed by a seeded
// hash of the prefix's bits, the least recently used entry of a set replaced when a new prefix needs room.
// An entry idle for burst ÷ rate seconds (1 s by default) holds full buckets, exactly what a new entry
// starts with, so replacing it loses nothing; a flood from more prefixes than the table holds in that time
// only makes some of them start afresh. Per packet: the address text read in one pass into numbers, a hash,
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
  /** Blocks never limited ("127.0.0.1/32", "::1/128"). */
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

/** A prefix's limited answers since it was last reported (about `slipped` of them sent as TC), at most once an interval per prefix. */
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

// An entry is 8 doubles (64 bytes: one cache line) of one Float64Array, as the answer cache keeps its
// metadata: a lookup that finds its network reads one line, a set of four is four.
const STRIDE = 8;
/** The prefix's upper 32 bits. */
const HI = 0;
/** Its bits 32–63 plus the family (4 or 6, and EXEMPT) times 2^32; 0: the entry is empty. */
const TAG = 1;
/** When the buckets were last brought up to date (ms). */
const SEEN = 2;
/** The answer count when the entry was last used: the least recently used of a set is replaced. */
const USED = 3;
const TOKENS = 4;
const BYTES = 5;
/** Limited answers since the prefix was last reported. */
const LIMITED = 6;
const REPORTED_AT = 7;
const TWO_32 = 0x100000000;
/** Added to the family in TAG when the whole network is exempt. */
const EXEMPT = 8;

/** Bytes per entry. */
export const ENTRY_BYTES = STRIDE * 8;

export class ResponseRateLimiter {
  readonly stats = new RrlStats();
  readonly size: number;
  private readonly sets: number;
  private readonly seed = randomInt(0, 0x7fffffff);
  private readonly e: Float64Array;
  private tick = 0;
  /** Limited answers of every network, for the slip. */
  private limitedCount = 0;
  private readonly groups = new Uint16Array(8);
  private readonly head = new Uint32Array(2);
  /** Masks of the prefix lengths: IPv4, and the two words of an IPv6 address's first 64 bits. */
  private readonly v4Mask: number;
  private readonly v6MaskHi: number;
  private readonly v6MaskLo: number;
  /** Exempt blocks as wide as a prefix or wider (marked on the entry), and narrower ones by family (checked when limiting). */
  private readonly exemptWide: Cidr[] = [];
  private readonly exemptNarrow4: Cidr[] = [];
  private readonly exemptNarrow6: Cidr[] = [];
  /** The IPv4 address of the answer being checked, when read by the fast path (-1 otherwise). */
  private word = -1;
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
    this.e = new Float64Array(size * STRIDE);
    for (const c of rrl.exempt) {
      const p = parseCidr(c);
      if (!p) throw new Error(`not an address block: ${c}`);
      const prefixBits = p.family === 4 ? rrl.ipv4PrefixLength : rrl.ipv6PrefixLength;
      (p.bits <= prefixBits ? this.exemptWide : p.family === 4 ? this.exemptNarrow4 : this.exemptNarrow6).push(p);
    }
    this.v4Mask = mask32(rrl.ipv4PrefixLength);
    this.v6MaskHi = mask32(rrl.ipv6PrefixLength);
    this.v6MaskLo = mask32(rrl.ipv6PrefixLength - 32);
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
    // The network: IPv4 and full IPv6 heads read in one pass; anything else (a "::" early, a mapped
    // IPv4 address) by the general parser. Exempt blocks are checked (with the general parser) only when
    // an entry is made and when an answer would be limited.
    let family: Family;
    let hi: number;
    let lo: number;
    const w = ipv4Word(address);
    this.word = w;
    if (w >= 0) {
      family = 4;
      hi = (w & this.v4Mask) >>> 0;
      lo = 0;
    } else if (ipv6Head(address, this.head)) {
      family = 6;
      hi = (this.head[0]! & this.v6MaskHi) >>> 0;
      lo = (this.head[1]! & this.v6MaskLo) >>> 0;
    } else {
      family = parseAddress(address, this.groups);
      if (family === 0) return SEND;
      const bits = family === 4 ? this.rrl.ipv4PrefixLength : this.rrl.ipv6PrefixLength;
      hi = prefixHigh(this.groups, family, bits);
      lo = prefixLow(this.groups, family, bits);
    }
    const e = this.e;
    const o = this.slotOf(family, hi, lo, nowMs, address) * STRIDE;
    e[o + USED] = ++this.tick;
    if (e[o + TAG]! >= EXEMPT * TWO_32) return SEND;

    // Refill both buckets for the time since the entry was last seen.
    const elapsed = nowMs - e[o + SEEN]!;
    if (elapsed > 0) {
      e[o + SEEN] = nowMs;
      const t = e[o + TOKENS]! + (elapsed * this.rate) / 1000;
      e[o + TOKENS] = t > this.burst ? this.burst : t;
      if (this.byteRate > 0) {
        const b = e[o + BYTES]! + (elapsed * this.byteRate) / 1000;
        e[o + BYTES] = b > this.byteRate ? this.byteRate : b;
      }
    }
    if (this.rate > 0) {
      if (e[o + TOKENS]! < 1) return this.narrowExempt(family, address) ? SEND : this.limit(o, nowMs);
      e[o + TOKENS]!--;
    }
    if (this.byteRate > 0 && messageBytes > this.large!.minBytes) {
      if (e[o + BYTES]! < messageBytes) {
        if (this.narrowExempt(family, address)) return SEND;
        this.stats.truncated++;
        return TRUNCATE;
      }
      e[o + BYTES]! -= messageBytes;
    }
    return SEND;
  }

  private limit(o: number, nowMs: number): Verdict {
    const e = this.e;
    const slip = this.rrl.slip;
    const slipped = slip > 0 && ++this.limitedCount % slip === 0;
    if (slipped) this.stats.slipped++;
    else this.stats.dropped++;
    const n = ++e[o + LIMITED]!;
    if (this.report && nowMs - e[o + REPORTED_AT]! >= this.reportIntervalMs) {
      e[o + LIMITED] = 0;
      e[o + REPORTED_AT] = nowMs;
      const tag = e[o + TAG]!;
      const family = (Math.floor(tag / TWO_32) & 7) as Family;
      const bits = family === 4 ? this.rrl.ipv4PrefixLength : this.rrl.ipv6PrefixLength;
      this.report(prefixText(family, e[o + HI]!, tag % TWO_32, bits), n, slip > 0 ? Math.floor(n / slip) : 0);
    }
    return slipped ? SLIP : DROP;
  }

  /** The entry of a prefix: found in its set, or the set's least recently used entry made over to it. */
  private slotOf(family: Family, hi: number, lo: number, nowMs: number, address: string): number {
    const e = this.e;
    const tag = lo + family * TWO_32;
    const base = (this.hash(hi, lo, family) & (this.sets - 1)) * WAYS;
    let oldest = base;
    for (let s = base; s < base + WAYS; s++) {
      const o = s * STRIDE;
      const t = e[o + TAG]!;
      if (e[o + HI] === hi && (t === tag || t === tag + EXEMPT * TWO_32)) return s;
      if (t === 0) {
        oldest = s;
        break;
      }
      if (e[o + USED]! < e[oldest * STRIDE + USED]!) oldest = s;
    }
    const o = oldest * STRIDE;
    if (e[o + TAG] === 0) this.stats.used++;
    else if (nowMs - e[o + SEEN]! < this.idleMs) this.stats.evictions++;
    const exempt = this.exemptWide.length > 0 && this.inBlock(this.exemptWide, address);
    e[o + HI] = hi;
    e[o + TAG] = tag + (exempt ? EXEMPT * TWO_32 : 0);
    e[o + SEEN] = nowMs;
    e[o + TOKENS] = this.burst;
    e[o + BYTES] = this.byteRate;
    e[o + LIMITED] = 0;
    e[o + REPORTED_AT] = -Infinity;
    return oldest;
  }

  private narrowExempt(family: Family, address: string): boolean {
    const blocks = family === 4 ? this.exemptNarrow4 : this.exemptNarrow6;
    return blocks.length > 0 && this.inBlock(blocks, address);
  }

  /** Whether the address lies in one of the blocks (off the fast path: new entries, limited answers). */
  private inBlock(blocks: readonly Cidr[], address: string): boolean {
    const g = this.groups;
    let family: Family;
    if (this.word >= 0) {
      family = 4;
      g[6] = this.word >>> 16;
      g[7] = this.word & 0xffff;
    } else family = parseAddress(address, g);
    for (const c of blocks) if (cidrContains(c, g, family)) return true;
    return false;
  }

  /** MurmurHash3's mixing of the two words and the family, seeded per process. */
  private hash(hi: number, lo: number, family: number): number {
    return murmurFinish(murmurRound(murmurRound(this.seed ^ family, hi), lo));
  }
}

/** A mask of the first `bits` (0–32, more taken as 32) of a 32-bit word. */
function mask32(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}
