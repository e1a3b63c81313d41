// IP addresses as the limiters see them: the text Node gives for a peer ("192.0.2.7", "2001:db8::1",
// "::ffff:192.0.2.7", "fe80::1%eth0") read into 16-bit groups without allocating, and the network prefix
// an address belongs to. Pure.

/** Family of a parsed address: 4 (its value in groups 6 and 7), 6, or 0 when the text is not an address. */
export type Family = 0 | 4 | 6;

/**
 * Read `text` into `out` (8 groups of 16 bits, network order). IPv4 and IPv4-mapped IPv6 give 4, with the
 * address in out[6] and out[7]; other IPv6 gives 6; anything else 0. A zone ("%eth0") is ignored. No
 * allocation: this runs once per UDP answer.
 */
export function parseAddress(text: string, out: Uint16Array): Family {
  const n = text.length;
  if (n === 0) return 0;
  if (text.indexOf(':') < 0) return parseV4(text, 0, n, out) ? 4 : 0;
  out.fill(0);
  let end = text.indexOf('%');
  if (end < 0) end = n;
  // Groups before "::" fill from the left; the ones after it are written from the left too, then moved right.
  let g = 0;
  let gap = -1;
  let i = 0;
  if (end >= 2 && text.charCodeAt(0) === 58 && text.charCodeAt(1) === 58) {
    gap = 0;
    i = 2;
  } else if (text.charCodeAt(0) === 58) return 0;
  while (i < end) {
    // An embedded IPv4 address ends the text: it is the last two groups.
    let j = i;
    let dot = false;
    while (j < end && text.charCodeAt(j) !== 58) {
      if (text.charCodeAt(j) === 46) dot = true;
      j++;
    }
    if (dot) {
      if (j !== end || g > 6 || !parseV4(text, i, end, out, g)) return 0;
      g += 2;
      i = end;
      break;
    }
    if (j === i || j - i > 4 || g >= 8) return 0;
    let v = 0;
    for (let k = i; k < j; k++) {
      const h = hexValue(text.charCodeAt(k));
      if (h < 0) return 0;
      v = (v << 4) | h;
    }
    out[g++] = v;
    if (j === end) {
      i = end;
      break;
    }
    // j is at a colon: "::" marks the gap (once), a single one separates.
    if (j + 1 < end && text.charCodeAt(j + 1) === 58) {
      if (gap >= 0) return 0;
      gap = g;
      i = j + 2;
    } else {
      if (j + 1 === end) return 0;
      i = j + 1;
    }
  }
  if (gap >= 0) {
    if (g >= 8) return 0;
    const tail = g - gap;
    for (let k = tail - 1; k >= 0; k--) out[8 - tail + k] = out[gap + k]!;
    for (let k = gap; k < 8 - tail; k++) out[k] = 0;
  } else if (g !== 8) return 0;
  // ::ffff:a.b.c.d is an IPv4 peer on a dual-stack socket.
  if (out[0] === 0 && out[1] === 0 && out[2] === 0 && out[3] === 0 && out[4] === 0 && out[5] === 0xffff) return 4;
  return 6;
}

/**
 * A dotted-quad IPv4 address as a 32-bit number, or -1 when the text is anything else (IPv6 included).
 * The fast path of the limiters: one pass over the characters, no writes.
 */
export function ipv4Word(text: string): number {
  const n = text.length;
  if (n < 7 || n > 15) return -1;
  let word = 0;
  let v = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || v > 255 || dots === 3) return -1;
      word = (word << 8) | v;
      v = 0;
      digits = 0;
      dots++;
    } else {
      const d = c - 48;
      if (d < 0 || d > 9 || digits === 3) return -1;
      v = v * 10 + d;
      digits++;
    }
  }
  if (dots !== 3 || digits === 0 || v > 255) return -1;
  return ((word << 8) | v) >>> 0;
}

/**
 * The first 64 bits of an IPv6 address written with its first four groups in full before any "::"
 * ("2001:db8:1:2::1", "2001:db8:1:2:3:4:5:6") into out[0] and out[1]; false for any other text (the
 * caller then uses parseAddress). Only the first four groups are read, so a malformed rest is not noticed.
 */
export function ipv6Head(text: string, out: Uint32Array): boolean {
  let word = 0;
  let group = 0;
  let v = 0;
  let digits = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 58) {
      if (digits === 0) return false;
      word = ((word << 16) | v) >>> 0;
      group++;
      if (group === 2) {
        out[0] = word;
        word = 0;
      } else if (group === 4) {
        out[1] = word;
        return true;
      }
      v = 0;
      digits = 0;
    } else {
      const h = hexValue(c);
      if (h < 0 || digits === 4) return false;
      v = (v << 4) | h;
      digits++;
    }
  }
  return false;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Dotted quad text[from, to) into out[at] and out[at + 1]; false when malformed. */
function parseV4(text: string, from: number, to: number, out: Uint16Array, at = 6): boolean {
  let octets = 0;
  let v = 0;
  let digits = 0;
  let hi = 0;
  for (let i = from; i <= to; i++) {
    const c = i < to ? text.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || v > 255) return false;
      if (octets === 0) hi = v << 8;
      else if (octets === 1) out[at] = hi | v;
      else if (octets === 2) hi = v << 8;
      else if (octets === 3) out[at + 1] = hi | v;
      else return false;
      octets++;
      v = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      v = v * 10 + (c - 48);
      digits++;
    } else return false;
  }
  return octets === 4;
}

/** The upper 32 bits of a parsed address's prefix of `bits` (IPv4: the address itself). */
export function prefixHigh(g: Uint16Array, family: Family, bits: number): number {
  const word = family === 4 ? ((g[6]! << 16) | g[7]!) >>> 0 : ((g[0]! << 16) | g[1]!) >>> 0;
  return (word & maskOf(bits)) >>> 0;
}

/** Bits 32–63 of a parsed IPv6 address's prefix of `bits` (0 for IPv4 and for prefixes of 32 bits or fewer). */
export function prefixLow(g: Uint16Array, family: Family, bits: number): number {
  if (family !== 6 || bits <= 32) return 0;
  return (((g[2]! << 16) | g[3]!) & maskOf(bits - 32)) >>> 0;
}

/** A mask of the first `bits` (0–32, more taken as 32) of a 32-bit word. */
function maskOf(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

/** The prefix as text, "192.0.2.0/24" or "2001:db8:0:100::/56", from its two words. */
export function prefixText(family: Family, high: number, low: number, bits: number): string {
  if (family === 4) return `${high >>> 24}.${(high >>> 16) & 255}.${(high >>> 8) & 255}.${high & 255}/${bits}`;
  const groups = [high >>> 16, high & 0xffff, low >>> 16, low & 0xffff].map((x) => x.toString(16));
  return `${groups.join(':')}::/${bits}`;
}

/**
 * The network an address is counted under, as text: the address itself for IPv4 (prefix 32 by default),
 * its /64 for IPv6; the text unchanged when it is not an address. For keys of tables that are not on the
 * packet path (failed authentications).
 */
export function networkOf(text: string, v4Bits = 32, v6Bits = 64): string {
  const g = new Uint16Array(8);
  const family = parseAddress(text, g);
  if (family === 0) return text;
  const bits = family === 4 ? v4Bits : v6Bits;
  if (family === 4 && bits === 32) return prefixText(4, prefixHigh(g, 4, 32), 0, 32).slice(0, -3);
  return prefixText(family, prefixHigh(g, family, bits), prefixLow(g, family, bits), bits);
}

/** A CIDR block "192.0.2.0/24", "::1/128" or a bare address; undefined when malformed. */
export interface Cidr {
  family: 4 | 6;
  groups: Uint16Array;
  bits: number;
}

export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const g = new Uint16Array(8);
  const family = parseAddress(addr, g);
  if (family === 0 || addr.includes('%')) return undefined;
  const max = family === 4 ? 32 : 128;
  let bits = max;
  if (slash >= 0) {
    const b = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(b) || Number(b) > max) return undefined;
    bits = Number(b);
  }
  return { family, groups: g, bits };
}

/** Whether a parsed address lies in a block. */
export function cidrContains(c: Cidr, g: Uint16Array, family: Family): boolean {
  if (family !== c.family) return false;
  const first = family === 4 ? 6 : 0;
  let left = c.bits;
  for (let i = first; i < 8 && left > 0; i++) {
    const take = Math.min(16, left);
    const mask = (0xffff << (16 - take)) & 0xffff;
    if ((g[i]! & mask) !== (c.groups[i]! & mask)) return false;
    left -= take;
  }
  return true;
}
