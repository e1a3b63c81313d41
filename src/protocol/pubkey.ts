import { type KeyObject, createPublicKey } from 'node:crypto';
import { DecodeError } from './errors.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';

// HS_PUBKEY data as the reference writes it (handle-protocol.md section 4):
// RSA: str "RSA_PUB_KEY" | flags 2 (=0) | str exponent | str modulus — big integers in two's complement,
// so a leading 0x00 appears when the top bit is set. The reference sizes its buffer for four length fields and
// fills three, so its RSA blobs end in 4 zero bytes; we write them too (byte-identical keys) and readers ignore
// whatever follows the modulus.

export const RSA_KEY_TYPE = 'RSA_PUB_KEY';

function twosComplement(unsigned: Buffer): Buffer {
  let i = 0;
  while (i < unsigned.length - 1 && unsigned[i] === 0) i++;
  const trimmed = unsigned.subarray(i);
  return trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : Buffer.from(trimmed);
}

function unsignedOf(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

/** Encode a public key (an RSA KeyObject) as HS_PUBKEY data. */
export function encodePublicKey(key: KeyObject): Buffer {
  if (key.asymmetricKeyType !== 'rsa') throw new Error(`unsupported key type ${key.asymmetricKeyType}`);
  const jwk = key.export({ format: 'jwk' });
  const e = Buffer.from(jwk.e!, 'base64url');
  const n = Buffer.from(jwk.n!, 'base64url');
  return Buffer.from(new Writer(300).utf8(RSA_KEY_TYPE).u16(0).byteString(twosComplement(e)).byteString(twosComplement(n)).u32(0).finish());
}

/** Decode HS_PUBKEY data into a KeyObject. */
export function decodePublicKey(data: Buffer): KeyObject {
  const r = new Reader(data);
  const type = r.utf8('key type', 64);
  if (type !== RSA_KEY_TYPE) throw new DecodeError(`unsupported public key type "${type}"`, 202);
  r.u16('key flags');
  const e = unsignedOf(r.byteString('RSA exponent', 1024));
  const n = unsignedOf(r.byteString('RSA modulus', 4096));
  if (n.length < 64 || (n.length === 1 && n[0] === 0) || (e.length === 1 && e[0] === 0)) {
    throw new DecodeError(`RSA public key with a ${n.length * 8}-bit modulus is not usable`, 202);
  }
  try {
    return createPublicKey({ key: { kty: 'RSA', e: e.toString('base64url'), n: n.toString('base64url') }, format: 'jwk' });
  } catch (err) {
    throw new DecodeError(`invalid RSA public key: ${(err as Error).message}`, 202);
  }
}
