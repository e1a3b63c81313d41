import { type KeyObject, createPublicKey } from 'node:crypto';
import { DecodeError } from './errors.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';
import { derInteger, derSequence, derBitString, derOid } from './der.js';
import { isSm2Key, sm2PublicKeyFromSpki } from './sm2.js';

// Public keys as the reference writes them (HS_PUBKEY data, the key in HS_SITE, the DH key of a session;
// docs/protocol.md §11.10). Integers are Java BigInteger bytes: minimal two's complement, so a leading 0x00
// appears when the top bit is set; readers take them as unsigned.
// RSA: str "RSA_PUB_KEY" | u16 0 | str e | str n | 00 00 00 00 (the reference sizes its buffer for four length
//      fields and fills three; we write the trailer too so our blobs are byte-identical, and ignore it on input)
// DSA: str "DSA_PUB_KEY" | u16 0 | str q | str p | str g | str y
// DH:  str "DH_PUB_KEY"  | u16 0 | str y | str p | str g
// SM2: str "SM2_PUB_KEY" | u16 0 | str SubjectPublicKeyInfo (DER), the national SDK's binary form
// The national system also stores a key as the PEM text of its SubjectPublicKeyInfo (docs/idis.md); it is
// read too.

export const RSA_KEY_TYPE = 'RSA_PUB_KEY';
export const DSA_KEY_TYPE = 'DSA_PUB_KEY';
export const DH_KEY_TYPE = 'DH_PUB_KEY';
export const SM2_KEY_TYPE = 'SM2_PUB_KEY';

const PEM_PUBLIC_KEY = Buffer.from('-----BEGIN PUBLIC KEY-----');

/** Java BigInteger.toByteArray of an unsigned big-endian integer. */
export function twosComplement(unsigned: Buffer): Buffer {
  let i = 0;
  while (i < unsigned.length - 1 && unsigned[i] === 0) i++;
  const trimmed = unsigned.subarray(i);
  return trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : Buffer.from(trimmed);
}

/** The unsigned magnitude of a BigInteger's bytes (leading zero bytes dropped). */
export function unsignedOf(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

/** Encode a public key (RSA or SM2) as HS_PUBKEY data. */
export function encodePublicKey(key: KeyObject): Buffer {
  if (key.type === 'private') key = createPublicKey(key);
  if (isSm2Key(key)) {
    return Buffer.from(new Writer(128).utf8(SM2_KEY_TYPE).u16(0).byteString(key.export({ type: 'spki', format: 'der' })).finish());
  }
  const jwk = key.export({ format: 'jwk' });
  if (key.asymmetricKeyType === 'rsa') {
    const e = Buffer.from(jwk.e!, 'base64url');
    const n = Buffer.from(jwk.n!, 'base64url');
    return Buffer.from(new Writer(300).utf8(RSA_KEY_TYPE).u16(0).byteString(twosComplement(e)).byteString(twosComplement(n)).u32(0).finish());
  }
  throw new Error(`unsupported key type ${key.asymmetricKeyType}`);
}

/** Decode HS_PUBKEY data (RSA, DSA or SM2; binary, or the PEM text of an RSA or SM2 key) into a KeyObject. */
export function decodePublicKey(data: Buffer): KeyObject {
  if (data.subarray(0, PEM_PUBLIC_KEY.length).equals(PEM_PUBLIC_KEY)) return decodePemPublicKey(data);
  const r = new Reader(data);
  const type = r.utf8('key type', 64);
  r.u16('key flags');
  if (type === RSA_KEY_TYPE) {
    const e = unsignedOf(r.byteString('RSA exponent', 1024));
    const n = unsignedOf(r.byteString('RSA modulus', 4096));
    if (n.length < 64 || (e.length === 1 && e[0] === 0)) {
      throw new DecodeError(`RSA public key with a ${n.length * 8}-bit modulus is not usable`, 202);
    }
    try {
      return createPublicKey({ key: { kty: 'RSA', e: e.toString('base64url'), n: n.toString('base64url') }, format: 'jwk' });
    } catch (err) {
      throw new DecodeError(`invalid RSA public key: ${(err as Error).message}`, 202);
    }
  }
  if (type === DSA_KEY_TYPE) {
    const q = unsignedOf(r.byteString('DSA q', 1024));
    const p = unsignedOf(r.byteString('DSA p', 4096));
    const g = unsignedOf(r.byteString('DSA g', 4096));
    const y = unsignedOf(r.byteString('DSA y', 4096));
    // JWK has no DSA form: build the SubjectPublicKeyInfo (RFC 3279) and let OpenSSL check it.
    const spki = derSequence(
      derSequence(derOid('1.2.840.10040.4.1'), derSequence(derInteger(p), derInteger(q), derInteger(g))),
      derBitString(derInteger(y)),
    );
    try {
      return createPublicKey({ key: spki, format: 'der', type: 'spki' });
    } catch (err) {
      throw new DecodeError(`invalid DSA public key: ${(err as Error).message}`, 202);
    }
  }
  if (type === SM2_KEY_TYPE) {
    const spki = r.byteString('SM2 key', 1024);
    r.expectEnd('SM2 public key');
    try {
      return sm2PublicKeyFromSpki(Buffer.from(spki));
    } catch (err) {
      throw new DecodeError(`invalid SM2 public key: ${(err as Error).message}`, 202);
    }
  }
  throw new DecodeError(`unsupported public key type "${type}"`, 202);
}

/** A PEM "PUBLIC KEY" (SubjectPublicKeyInfo) holding an RSA key or an SM2 key; anything else is refused. */
function decodePemPublicKey(data: Buffer): KeyObject {
  if (data.length > 8192) throw new DecodeError('PEM public key too long', 202);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: data.toString('latin1'), format: 'pem' });
  } catch (err) {
    throw new DecodeError(`invalid PEM public key: ${(err as Error).message}`, 202);
  }
  if (key.asymmetricKeyType === 'rsa' || isSm2Key(key)) return key;
  throw new DecodeError(`unsupported PEM public key (${key.asymmetricKeyType ?? 'unknown type'})`, 202);
}

/** A Diffie-Hellman public key: the peer's y with the group (p, g), all unsigned big-endian. */
export interface DhPublicKey {
  y: Buffer;
  p: Buffer;
  g: Buffer;
}

export function encodeDhPublicKey(k: DhPublicKey): Buffer {
  return Buffer.from(
    new Writer(300).utf8(DH_KEY_TYPE).u16(0).byteString(twosComplement(k.y)).byteString(twosComplement(k.p)).byteString(twosComplement(k.g)).finish(),
  );
}

export function decodeDhPublicKey(data: Buffer): DhPublicKey {
  const r = new Reader(data);
  const type = r.utf8('key type', 64);
  if (type !== DH_KEY_TYPE) throw new DecodeError(`expected a DH_PUB_KEY, got "${type}"`, 501);
  r.u16('key flags');
  const y = Buffer.from(unsignedOf(r.byteString('DH y', 1024)));
  const p = Buffer.from(unsignedOf(r.byteString('DH p', 1024)));
  const g = Buffer.from(unsignedOf(r.byteString('DH g', 1024)));
  return { y, p, g };
}
