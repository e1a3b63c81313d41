import { type KeyObject, createSign, createVerify } from 'node:crypto';
import { ENVELOPE_SIZE } from './constants.js';
import { type Credential, encodeCredential } from './credential.js';
import { versionAtLeast } from './envelope.js';

// What an HS_SIGNED credential covers (docs/protocol.md §6): from 2.8 on, the envelope's version and
// suggested version (4 bytes), SessionId, RequestId and the session counter (the credential's signer index),
// then the header and body; 2.6 and 2.7 leave out the two suggested-version bytes; before 2.6 only the
// header and body are signed.

function signedPrefix(packet: Buffer, counter: number, version: [number, number]): Buffer {
  if (!versionAtLeast(version, 2, 6)) return Buffer.alloc(0);
  const withSuggested = versionAtLeast(version, 2, 8);
  const out = Buffer.alloc(withSuggested ? 16 : 14);
  let o = 0;
  out[o++] = packet[0]!;
  out[o++] = packet[1]!;
  if (withSuggested) {
    out[o++] = packet[2]! & 0x03; // the suggested major only, without the CP/EC/TC bits
    out[o++] = packet[3]!;
  }
  packet.copy(out, o, 4, 12); // SessionId, RequestId
  out.writeUInt32BE(counter >>> 0, o + 8);
  return out;
}

export function signatureAlgorithm(version: [number, number]): { name: string; hash: string } {
  return versionAtLeast(version, 2, 7) ? { name: 'SHA-256', hash: 'SHA256' } : { name: 'SHA1', hash: 'SHA1' };
}

/**
 * Sign an encoded packet (envelope + header + body, its credential empty) and return the credential section
 * to put in its place.
 */
export function signPacket(packet: Buffer, key: KeyObject, version: [number, number]): Buffer {
  const headerAndBodyEnd = packet.length - 4; // the empty credential's length word
  const alg = signatureAlgorithm(version);
  const signature = createSign(alg.hash)
    .update(signedPrefix(packet, 0, version))
    .update(packet.subarray(ENVELOPE_SIZE, headerAndBodyEnd))
    .sign(key);
  const cred: Credential = {
    version: 0,
    flags: 0,
    signerHandle: '',
    signerIndex: 0,
    type: 'HS_SIGNED',
    digestAlgorithm: alg.name,
    signature,
  };
  return encodeCredential(cred);
}

/** Check an HS_SIGNED credential of a decoded packet against a public key. */
export function verifyPacket(
  packet: Buffer,
  headerAndBody: Buffer,
  cred: Credential,
  key: KeyObject,
  version: [number, number],
): boolean {
  const hash = /^SHA-?256$/i.test(cred.digestAlgorithm) ? 'SHA256' : /^SHA-?1$/i.test(cred.digestAlgorithm) ? 'SHA1' : undefined;
  if (!hash) return false;
  try {
    return createVerify(hash).update(signedPrefix(packet, cred.signerIndex, version)).update(headerAndBody).verify(key, cred.signature);
  } catch {
    return false;
  }
}
