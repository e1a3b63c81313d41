import { type KeyObject, createHash, createPrivateKey, createPublicKey, createSign, createVerify, generateKeyPairSync } from 'node:crypto';

// SM2 signatures over SM3 (GB/T 32918.2, GM/T 0003.2) with Node's own crypto, as the national SDK makes
// them for EC identities (docs/idis.md). OpenSSL 3 knows the curve and the algorithm, but Node cannot hand it
// the signer's user ID, so the ID's part is computed here: for a key imported as SM2 (not as a generic EC
// key), createSign('sm3') hashes what it is given with SM3 and signs that digest, so it is given
// Z_A = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA) followed by the message, and the digest signed is
// e = SM3(Z_A ‖ M) as the standard says. Checked against the standard's worked example (test/sm2.test.ts).

/** The user ID a signer uses when none is agreed (GB/T 35276). */
export const SM2_DEFAULT_USER_ID = '1234567812345678';

/** a ‖ b ‖ xG ‖ yG of the recommended curve sm2p256v1 (GB/T 32918.5), the fixed part of Z_A. */
const CURVE_PARAMETERS = Buffer.from(
  'FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC' +
    '28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93' +
    '32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7' +
    'BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0',
  'hex',
);

/** The DER of the curve's object identifier 1.2.156.10197.1.301, as it stands in an SM2 key's algorithm. */
const SM2_CURVE_OID = Buffer.from('06082A811CCF5501822D', 'hex');

export function sm3(...parts: Uint8Array[]): Buffer {
  const h = createHash('sm3');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Z_A: the hash of the signer's user ID, the curve and its public point (04 ‖ x ‖ y). */
export function sm2Z(userId: Uint8Array, publicPoint: Buffer): Buffer {
  const bits = userId.length * 8;
  if (bits > 0xffff) throw new Error('SM2 user ID longer than 8191 bytes');
  if (publicPoint.length !== 65 || publicPoint[0] !== 4) throw new Error('an SM2 public point is 65 bytes, 04 ‖ x ‖ y');
  return sm3(Buffer.from([bits >> 8, bits & 0xff]), userId, CURVE_PARAMETERS, publicPoint.subarray(1));
}

/**
 * Is this an SM2 key as OpenSSL signs with it? A key of the SM2 curve imported from DER or PEM is; Node
 * reports no type name for it. A key fresh from generateKeyPairSync('ec', SM2) is a generic EC key and would
 * sign ECDSA, so it is not.
 */
export function isSm2Key(key: KeyObject): boolean {
  if (key.asymmetricKeyType !== undefined) return false;
  const spki = (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' });
  return spki.includes(SM2_CURVE_OID);
}

/** The public point 04 ‖ x ‖ y of an SM2 key (public or private). */
export function sm2PublicPoint(key: KeyObject): Buffer {
  const spki = (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' });
  const point = spki.subarray(spki.length - 65);
  if (point[0] !== 4) throw new Error('the SM2 key is not in uncompressed form');
  return Buffer.from(point);
}

/** An SM2 public key from its SubjectPublicKeyInfo (DER); throws unless it is one, on the curve. */
export function sm2PublicKeyFromSpki(der: Buffer): KeyObject {
  const key = createPublicKey({ key: der, format: 'der', type: 'spki' });
  if (!isSm2Key(key)) throw new Error('not an SM2 public key');
  // Z_A hashes the point's coordinates: a compressed point could never verify, so it is refused here.
  sm2PublicPoint(key);
  return key;
}

/** A fresh SM2 key pair, both halves imported as SM2 keys. */
export function generateSm2KeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  const { privateKey: generic } = generateKeyPairSync('ec', { namedCurve: 'SM2' });
  // Through PKCS#8 and back: OpenSSL's decoder makes it an SM2 key.
  const privateKey = createPrivateKey({ key: generic.export({ type: 'pkcs8', format: 'der' }), format: 'der', type: 'pkcs8' });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** An SM2 signature (DER SEQUENCE of r and s) over a message, by the signer whose user ID is given. */
export function sm2Sign(privateKey: KeyObject, userId: Uint8Array, message: Uint8Array): Buffer {
  if (!isSm2Key(privateKey)) throw new Error('not an SM2 private key');
  return createSign('sm3').update(sm2Z(userId, sm2PublicPoint(privateKey))).update(message).sign(privateKey);
}

export function sm2Verify(publicKey: KeyObject, userId: Uint8Array, message: Uint8Array, signature: Buffer): boolean {
  if (!isSm2Key(publicKey)) return false;
  try {
    return createVerify('sm3').update(sm2Z(userId, sm2PublicPoint(publicKey))).update(message).verify(publicKey, signature);
  } catch {
    return false;
  }
}
