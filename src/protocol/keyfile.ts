import { type KeyObject, createCipheriv, createDecipheriv, createPrivateKey, pbkdf2Sync, randomBytes } from 'node:crypto';
import { DecodeError } from './errors.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';
import { twosComplement, unsignedOf } from './pubkey.js';

// Private key files as the reference writes them (admpriv.bin, privkey.bin; docs/protocol.md §11.10), so
// administrators of existing Handle deployments keep their keys:
//   u32 encryptionType, then
//   1 (none):           the plain key
//   4 (PBKDF2 + AES):   str salt · u32 iterations · u32 keyLenBits · str iv · str ciphertext (AES-128-CBC, PKCS#5)
// Plain RSA key: str "RSA_PRIVCRT_KEY" · str n · str e · str d · str p · str q · str dP · str dQ · str qInv
// (or the short form str "RSA_PRIV_KEY" · str n · str d, which node:crypto cannot sign with).

export const KeyEncryption = { NONE: 1, PBKDF2_DESEDE: 3, PBKDF2_AES: 4 } as const;

export class KeyFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyFileError';
  }
}

/** The plain RSA-CRT private key encoding. */
export function encodePrivateKey(key: KeyObject): Buffer {
  if (key.asymmetricKeyType !== 'rsa') throw new KeyFileError(`only RSA private keys can be written in the reference format, not ${key.asymmetricKeyType}`);
  const j = key.export({ format: 'jwk' });
  const w = new Writer(1300).utf8('RSA_PRIVCRT_KEY');
  for (const part of [j.n, j.e, j.d, j.p, j.q, j.dp, j.dq, j.qi]) w.byteString(twosComplement(Buffer.from(part!, 'base64url')));
  return Buffer.from(w.finish());
}

export function decodePrivateKey(plain: Buffer): KeyObject {
  const r = new Reader(plain);
  const type = r.utf8('private key type', 64);
  if (type === 'RSA_PRIVCRT_KEY') {
    const names = ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'] as const;
    const jwk: Record<string, string> = { kty: 'RSA' };
    for (const n of names) jwk[n] = Buffer.from(unsignedOf(r.byteString(`RSA ${n}`, 4096))).toString('base64url');
    try {
      return createPrivateKey({ key: jwk, format: 'jwk' });
    } catch (err) {
      throw new KeyFileError(`the RSA private key is not valid: ${(err as Error).message}`);
    }
  }
  if (type === 'RSA_PRIV_KEY') throw new KeyFileError('this RSA key holds only n and d (no CRT parts); convert it with the reference tools or use a PEM key');
  if (type === 'DSA_PRIV_KEY') throw new KeyFileError('DSA private keys are not supported for signing; use an RSA key');
  throw new DecodeError(`unknown private key type "${type}"`);
}

/** The passphrase as the reference feeds it to PBKDF2: its UTF-8 bytes, each taken as a char, encoded as UTF-8 again. */
function passphraseBytes(passphrase: string): Buffer {
  return Buffer.from(Buffer.from(passphrase, 'utf8').toString('latin1'), 'utf8');
}

/** A whole key file: unencrypted, or PBKDF2 + AES-128 when a passphrase is given (what the reference writes). */
export function encodeKeyFile(key: KeyObject, passphrase?: string): Buffer {
  const plain = encodePrivateKey(key);
  if (passphrase === undefined) return Buffer.from(new Writer(plain.length + 8).u32(KeyEncryption.NONE).bytes(plain).finish());
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const iterations = 10000;
  const aesKey = pbkdf2Sync(passphraseBytes(passphrase), salt, iterations, 16, 'sha1');
  const c = createCipheriv('aes-128-cbc', aesKey, iv);
  const ciphertext = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.from(
    new Writer(plain.length + 96).u32(KeyEncryption.PBKDF2_AES).byteString(salt).u32(iterations).u32(128).byteString(iv).byteString(ciphertext).finish(),
  );
}

/** Whether a key file needs a passphrase to be read. */
export function keyFileNeedsPassphrase(file: Buffer): boolean {
  return file.length >= 4 && file.readUInt32BE(0) !== KeyEncryption.NONE;
}

export function decodeKeyFile(file: Buffer, passphrase?: string): KeyObject {
  if (file.length < 4) throw new KeyFileError('the key file is too short');
  const type = file.readUInt32BE(0);
  const rest = file.subarray(4);
  if (type === KeyEncryption.NONE) return decodePrivateKey(rest);
  if (type !== KeyEncryption.PBKDF2_AES && type !== KeyEncryption.PBKDF2_DESEDE) {
    throw new KeyFileError(`key file encryption type ${type} (legacy DES) is not supported; re-save the key with a current Handle tool`);
  }
  if (passphrase === undefined) throw new KeyFileError('the key file is encrypted: give its passphrase');
  const r = new Reader(rest);
  const salt = r.byteString('salt', 1024);
  const iterations = r.u32('iterations');
  const keyLenBits = r.u32('key length');
  const iv = r.byteString('iv', 64);
  const ciphertext = r.byteString('ciphertext');
  if (iterations < 1 || iterations > 10_000_000) throw new KeyFileError(`implausible PBKDF2 iteration count ${iterations}`);
  const cipher = type === KeyEncryption.PBKDF2_AES ? 'aes-128-cbc' : 'des-ede3-cbc';
  const keyBytes = type === KeyEncryption.PBKDF2_AES ? 16 : 24;
  if (keyLenBits !== keyBytes * 8) throw new KeyFileError(`unexpected key length ${keyLenBits} bits for this encryption type`);
  const k = pbkdf2Sync(passphraseBytes(passphrase), salt, iterations, keyBytes, 'sha1');
  let plain: Buffer;
  try {
    const d = createDecipheriv(cipher, k, iv);
    plain = Buffer.concat([d.update(ciphertext), d.final()]);
  } catch {
    throw new KeyFileError('wrong passphrase for the key file');
  }
  return decodePrivateKey(plain);
}

/**
 * Read a private key from a file's bytes in any form an administrator may have: PEM (PKCS#8 or PKCS#1), or
 * the reference's key file.
 */
export function readPrivateKey(bytes: Buffer, passphrase?: string): KeyObject {
  const text = bytes.subarray(0, 64).toString('latin1');
  if (text.includes('-----BEGIN')) {
    try {
      return createPrivateKey({ key: bytes, format: 'pem', ...(passphrase !== undefined ? { passphrase } : {}) });
    } catch (err) {
      throw new KeyFileError(`cannot read the PEM key: ${(err as Error).message}`);
    }
  }
  try {
    return decodeKeyFile(bytes, passphrase);
  } catch (err) {
    if (err instanceof KeyFileError) throw err;
    throw new KeyFileError(`not a PEM key nor a Handle key file: ${(err as Error).message}`);
  }
}
