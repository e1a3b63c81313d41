import { createHash } from 'node:crypto';
import { DigestType } from './constants.js';
import { versionAtLeast } from './envelope.js';

/**
 * The request digest a response carries when the request set RD (docs/protocol.md §2.4 and §11.3): a hash of
 * the request's 24-byte header and body exactly as received. The hash follows the response version:
 * SHA-256 from 2.7, SHA-1 from 2.1, and below that the old form, a length-prefixed MD5.
 */
export function requestDigest(headerAndBody: Buffer, version: [number, number]): Buffer {
  if (versionAtLeast(version, 2, 7)) {
    const out = Buffer.allocUnsafe(33);
    out[0] = DigestType.SHA256;
    createHash('sha256').update(headerAndBody).digest().copy(out, 1);
    return out;
  }
  if (versionAtLeast(version, 2, 1)) {
    const out = Buffer.allocUnsafe(21);
    out[0] = DigestType.SHA1;
    createHash('sha1').update(headerAndBody).digest().copy(out, 1);
    return out;
  }
  const out = Buffer.allocUnsafe(20);
  out.writeUInt32BE(16, 0);
  createHash('md5').update(headerAndBody).digest().copy(out, 4);
  return out;
}
