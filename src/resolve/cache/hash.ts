// Key bytes as the cache's hash chains need them: a hash, and equality. Both read straight from a Buffer
// (a datagram or a slab), so a lookup makes no key string.

/** A 32-bit hash of bytes[start, end). */
export type ByteHash = (bytes: Uint8Array, start: number, end: number, seed: number) => number;

/**
 * Equal bytes? A loop for keys of the usual size, Buffer.compare for long ones: the call into C++ (with its
 * argument checks) costs more than comparing a few tens of bytes here. Measured with keys at random places
 * in an 8 MiB slab: 20 bytes, loop 58 ns, compare 134 ns; 40 bytes, 110 and 167 ns; 80 bytes, 367 and
 * 193 ns. (A request body for a typical handle, no indexes, no types, is 30 to 45 bytes.)
 */
export function sameBytes(a: Buffer, aStart: number, b: Buffer, bStart: number, length: number): boolean {
  if (length > 64) return a.compare(b, bStart, bStart + length, aStart, aStart + length) === 0;
  for (let i = 0; i < length; i++) if (a[aStart + i] !== b[bStart + i]) return false;
  return true;
}

/** The cache's hash: MurmurHash3 (model/murmur.ts), seeded per process. */
export { murmur3 } from '../../model/murmur.js';
