import { type KeyObject, createHash, createHmac, createSign, createVerify, pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import { Reader } from './reader.js';
import { Writer } from './writer.js';
import { decodePublicKey } from './pubkey.js';
import { isSm2Key, sm2Sign, sm2Verify, sm3 } from './sm2.js';
import { decodePubkeyResponse, encodePubkeyResponse } from './auth-bodies.js';
import { versionAtLeast } from './envelope.js';

// Proofs of identity in a RESPONSE_TO_CHALLENGE (docs/protocol.md §11.4). What is signed or MAC'd is always
// the challenge's nonce followed by the raw request digest (challengeMessage). Pure functions over bytes.

/** The hash a signed response names: "SHA-256", "SHA256", "SHA1", "SHA-1", "MD5", "SM3", or a single type byte. */
function hashOf(alg: Buffer): 'sha256' | 'sha1' | 'md5' | 'sm3' | undefined {
  if (alg.length === 1) return alg[0] === 3 ? 'sha256' : alg[0] === 2 ? 'sha1' : alg[0] === 1 ? 'md5' : undefined;
  const s = alg.toString('latin1').toUpperCase();
  if (s === 'SHA-256' || s === 'SHA256') return 'sha256';
  if (s === 'SHA1' || s === 'SHA-1') return 'sha1';
  if (s === 'MD5') return 'md5';
  if (s === 'SM3') return 'sm3';
  return undefined;
}

/**
 * Check an HS_PUBKEY answer: its signature over `message` with the key in `keyData` (HS_PUBKEY value data):
 * RSA with PKCS#1 v1.5 or DSA with a DER signature over the message itself; SM2, named by the hash "SM3",
 * as the national SDK signs: SM2 with the identity's handle as user ID over SM3(message) (docs/idis.md). An
 * SM2 key verifies nothing else, and no other key verifies "SM3". Any malformed part is "does not verify".
 */
export function verifyPubkeyAnswer(keyData: Buffer, signedResponse: Buffer, message: Buffer, identityHandle: string): boolean {
  try {
    const { hashAlg, signature } = decodePubkeyResponse(signedResponse);
    const hash = hashOf(hashAlg);
    if (!hash) return false;
    const key = decodePublicKey(keyData);
    if (isSm2Key(key) !== (hash === 'sm3')) return false;
    if (hash === 'sm3') return sm2Verify(key, Buffer.from(identityHandle, 'utf8'), sm3(message), Buffer.from(signature));
    return createVerify(hash).update(message).verify(key, signature);
  } catch {
    return false;
  }
}

/**
 * A signature over a challenge's message as the reference client makes it (SHA-256 from 2.7 on, SHA-1
 * before) for an RSA or DSA key, and as the national SDK makes it for an SM2 key (hash "SM3", SM2 with the
 * identity's handle as user ID over SM3(message)).
 */
export function signChallenge(key: KeyObject, message: Buffer, version: [number, number], identityHandle: string): { hashAlg: string; signature: Buffer } {
  if (isSm2Key(key)) return { hashAlg: 'SM3', signature: sm2Sign(key, Buffer.from(identityHandle, 'utf8'), sm3(message)) };
  const sha256 = versionAtLeast(version, 2, 7);
  return { hashAlg: sha256 ? 'SHA-256' : 'SHA1', signature: createSign(sha256 ? 'sha256' : 'sha1').update(message).sign(key) };
}

/** An HS_PUBKEY answer (the signed response of a RESPONSE_TO_CHALLENGE): signChallenge, encoded. */
export function signPubkeyAnswer(key: KeyObject, message: Buffer, version: [number, number], identityHandle: string): Buffer {
  const { hashAlg, signature } = signChallenge(key, message, version, identityHandle);
  return encodePubkeyResponse(hashAlg, signature);
}

/** HS_SECKEY codes (the first byte of the signed response). */
export const SecretCode = {
  MD5: 1,
  SHA1: 2,
  SHA256: 3,
  HMAC_SHA1: 0x12,
  HMAC_SHA256: 0x13,
  PBKDF2_HMAC_SHA1: 0x22,
} as const;

/** The reference turns each secret byte into a char and then encodes the chars as UTF-8 before PBKDF2. */
function pbkdf2Password(secret: Buffer): Buffer {
  return Buffer.from(secret.toString('latin1'), 'utf8');
}

function sandwich(alg: string, secret: Buffer, message: Buffer): Buffer {
  return createHash(alg).update(secret).update(message).update(secret).digest();
}

function same(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Check an HS_SECKEY answer against the secret (the HS_SECKEY value's data). The client picks the scheme;
 * a PBKDF2 iteration count above `maxIterations` is refused rather than computed.
 */
/**
 * The reference clients use 10,000 PBKDF2 iterations; the verifier runs whatever count the client names, so it
 * is capped close to that: every answer costs the server one PBKDF2 run.
 */
export const MAX_PBKDF2_ITERATIONS = 20000;

export function verifySeckeyAnswer(secret: Buffer, signedResponse: Buffer, message: Buffer, maxIterations = MAX_PBKDF2_ITERATIONS): boolean {
  if (signedResponse.length === 0) return false;
  const code = signedResponse[0]!;
  const rest = signedResponse.subarray(1);
  try {
    switch (code) {
      case SecretCode.PBKDF2_HMAC_SHA1: {
        const r = new Reader(rest);
        const salt = r.byteString('salt', 1024);
        const iterations = r.u32('iterations');
        const keyLenBits = r.u32('key length');
        const mac = r.byteString('mac', 1024);
        r.expectEnd('PBKDF2 answer');
        if (iterations < 1 || iterations > maxIterations || keyLenBits < 8 || keyLenBits > 4096 || keyLenBits % 8) return false;
        const dk = pbkdf2Sync(pbkdf2Password(secret), salt, iterations, keyLenBits / 8, 'sha1');
        return same(createHmac('sha1', dk).update(message).digest(), mac);
      }
      case SecretCode.HMAC_SHA256:
        return same(createHmac('sha256', secret).update(message).digest(), rest);
      case SecretCode.HMAC_SHA1:
        return same(createHmac('sha1', secret).update(message).digest(), rest);
      case SecretCode.SHA256:
        return same(sandwich('sha256', secret, message), rest);
      case SecretCode.SHA1:
        return same(sandwich('sha1', secret, message), rest);
      case SecretCode.MD5:
        return same(sandwich('md5', secret, message), rest);
      default:
        // Clients below 2.1 send 16 bytes of MD5 with no code byte.
        return signedResponse.length === 16 && same(sandwich('md5', secret, message), signedResponse);
    }
  } catch {
    return false;
  }
}

/** An HS_SECKEY answer as a 2.7+ reference client makes it: PBKDF2-HMAC-SHA1, 10000 iterations, 160 bits. */
export function seckeyAnswer(secret: Buffer, message: Buffer, salt: Buffer, iterations = 10000): Buffer {
  const dk = pbkdf2Sync(pbkdf2Password(secret), salt, iterations, 20, 'sha1');
  const mac = createHmac('sha1', dk).update(message).digest();
  return Buffer.from(new Writer(64).u8(SecretCode.PBKDF2_HMAC_SHA1).byteString(salt).u32(iterations).u32(160).byteString(mac).finish());
}
