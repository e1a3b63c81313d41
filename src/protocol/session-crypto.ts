import { ownBytes } from './message.js';
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ENVELOPE_SIZE } from './constants.js';
import { type Credential, encodeCredential } from './credential.js';
import { DecodeError } from './errors.js';

// Session cryptography (docs/protocol.md §11.6): the session key from a Diffie-Hellman secret, the HS_MAC
// credential on messages inside a session, and AES-128-CBC message encryption. Pure functions over bytes.

export const MAC_ALGORITHM = 'HMAC-SHA256';
export const SESSION_KEY_BYTES = 32;

/**
 * The 32-byte session key from the shared secret Z (left-padded to the length of p): skip leading zero bytes,
 * but never so many that fewer than 32 remain, and take the next 32.
 */
export function sessionKeyFromSecret(z: Buffer, primeLength: number): Buffer {
  const padded = z.length >= primeLength ? z : Buffer.concat([Buffer.alloc(primeLength - z.length), z]);
  let start = 0;
  while (start < padded.length - SESSION_KEY_BYTES && padded[start] === 0) start++;
  return ownBytes(padded.subarray(start, start + SESSION_KEY_BYTES));
}

/**
 * The MAC of a message in a session (2.8 and later): HMAC-SHA256 over the envelope's version and suggested
 * version (4 bytes, without the CP/EC/TC bits), SessionId, RequestId, the session counter, then the 24-byte
 * header and the body exactly as sent.
 */
export function sessionMac(key: Buffer, envelope: Buffer, counter: number, headerAndBody: Buffer): Buffer {
  const prefix = Buffer.allocUnsafe(16);
  prefix[0] = envelope[0]!;
  prefix[1] = envelope[1]!;
  prefix[2] = envelope[2]! & 0x03;
  prefix[3] = envelope[3]!;
  envelope.copy(prefix, 4, 4, 12);
  prefix.writeUInt32BE(counter >>> 0, 12);
  return createHmac('sha256', key).update(prefix).update(headerAndBody).digest();
}

/** The HS_MAC credential section: empty signer handle, the session counter in the index slot. */
export function encodeMacCredential(counter: number, mac: Buffer): Buffer {
  const cred: Credential = { version: 0, flags: 0, signerHandle: '', signerIndex: counter, type: 'HS_MAC', digestAlgorithm: MAC_ALGORITHM, signature: mac };
  return encodeCredential(cred);
}

export function checkSessionMac(key: Buffer, envelope: Buffer, cred: Credential, headerAndBody: Buffer): boolean {
  if (cred.type !== 'HS_MAC' || cred.digestAlgorithm.toUpperCase() !== MAC_ALGORITHM) return false;
  const expected = sessionMac(key, envelope, cred.signerIndex, headerAndBody);
  return cred.signature.length === expected.length && timingSafeEqual(cred.signature, expected);
}

/**
 * Encrypt what follows the envelope (header, body, credential length, credential) with the session key's
 * first 16 bytes: a random IV, then AES-128-CBC with PKCS#5 padding.
 */
export function encryptMessage(key: Buffer, message: Buffer, iv: Buffer = randomBytes(16)): Buffer {
  const c = createCipheriv('aes-128-cbc', key.subarray(0, 16), iv);
  return Buffer.concat([iv, c.update(message), c.final()]);
}

export function decryptMessage(key: Buffer, blob: Buffer): Buffer {
  if (blob.length < 32 || (blob.length - 16) % 16 !== 0) throw new DecodeError(`encrypted message of ${blob.length} bytes is not IV + whole AES blocks`);
  try {
    const d = createDecipheriv('aes-128-cbc', key.subarray(0, 16), blob.subarray(0, 16));
    return Buffer.concat([d.update(blob.subarray(16)), d.final()]);
  } catch {
    throw new DecodeError('encrypted message does not decrypt with the session key', 502);
  }
}

/** A packet with its encrypted message replaced by the plaintext: the envelope rewritten without EC. */
export function decryptPacket(key: Buffer, packet: Buffer): Buffer {
  const plain = decryptMessage(key, packet.subarray(ENVELOPE_SIZE));
  const out = Buffer.allocUnsafe(ENVELOPE_SIZE + plain.length);
  packet.copy(out, 0, 0, ENVELOPE_SIZE);
  out[2] = out[2]! & ~0x40;
  out.writeUInt32BE(plain.length, 16);
  plain.copy(out, ENVELOPE_SIZE);
  return out;
}

/** Encrypt a packet's message and mark its envelope EC. */
export function encryptPacket(key: Buffer, packet: Buffer): Buffer {
  const blob = encryptMessage(key, packet.subarray(ENVELOPE_SIZE));
  const out = Buffer.allocUnsafe(ENVELOPE_SIZE + blob.length);
  packet.copy(out, 0, 0, ENVELOPE_SIZE);
  out[2] = out[2]! | 0x40;
  out.writeUInt32BE(blob.length, 16);
  blob.copy(out, ENVELOPE_SIZE);
  return out;
}
