// MurmurHash3 (x86, 32-bit), in pieces: the answer cache hashes request bytes with it, the UDP rate limiter
// the words of a network prefix. Pure arithmetic on 32-bit integers, cheap in JavaScript (Math.imul).

/** One four-byte block folded into the state. */
export function murmurRound(h: number, k: number): number {
  h ^= murmurScramble(k);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** A block's scrambling before it is folded in (also the tail's, which is folded in without the rotation). */
export function murmurScramble(k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, 0x1b873593);
}

/** The final avalanche: every input bit reaches every output bit. Returns an unsigned 32-bit hash. */
export function murmurFinish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3 of bytes[start, end): four bytes a step, well mixed. */
export function murmur3(bytes: Uint8Array, start: number, end: number, seed: number): number {
  let h = seed | 0;
  let i = start;
  const blocks = end - ((end - start) & 3);
  for (; i < blocks; i += 4) h = murmurRound(h, bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
  let k = 0;
  const rest = end - i;
  if (rest === 3) k ^= bytes[i + 2]! << 16;
  if (rest >= 2) k ^= bytes[i + 1]! << 8;
  if (rest >= 1) {
    k ^= bytes[i]!;
    h ^= murmurScramble(k);
  }
  return murmurFinish(h ^ (end - start));
}
