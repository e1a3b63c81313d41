import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { parseIdentity } from '../admin/permissions.js';
import type { AdminAuth } from '../client/admin-client.js';
import { keyFileNeedsPassphrase, readPrivateKey } from '../protocol/keyfile.js';
import { UsageError } from './values.js';

// The administrator's credentials every remote command takes, over the wire and over HTTP alike:
// --auth HANDLE:INDEX (or INDEX:HANDLE) with --key FILE (a private key: PEM or the reference's key file,
// whose passphrase comes from IDRES_KEY_PASSPHRASE) or --secret (an HS_SECKEY secret; also IDRES_SECRET).

export interface CredentialOptions {
  auth?: string;
  key?: string;
  secret?: string;
}

/** The identity and its proof, or undefined when no --auth is given (an anonymous client). */
export function credentialsFrom(o: CredentialOptions): AdminAuth | undefined {
  if (o.auth === undefined) {
    if (o.key !== undefined || o.secret !== undefined) throw new UsageError('--key and --secret need --auth HANDLE:INDEX (whose key they are)');
    return undefined;
  }
  const id = parseIdentity(o.auth);
  if (!id || id.index <= 0) throw new UsageError(`--auth "${o.auth}" is not HANDLE:INDEX such as 0.NA/88.118.8:300`);
  if (o.key !== undefined) return { ...id, key: readKey(o.key) };
  const secret = o.secret ?? process.env.IDRES_SECRET;
  if (secret !== undefined) return { ...id, secret: Buffer.from(secret, 'utf8') };
  throw new UsageError('--auth needs --key FILE (a private key) or --secret (an HS_SECKEY secret, or IDRES_SECRET)');
}

function readKey(file: string): KeyObject {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new UsageError(`cannot read the key file ${file}: ${(err as Error).message}`);
  }
  const passphrase = process.env.IDRES_KEY_PASSPHRASE;
  if (!bytes.toString('latin1', 0, 64).includes('-----BEGIN') && keyFileNeedsPassphrase(bytes) && passphrase === undefined) {
    throw new UsageError(`${file} is encrypted: set IDRES_KEY_PASSPHRASE to its passphrase`);
  }
  try {
    return readPrivateKey(bytes, passphrase);
  } catch (err) {
    throw new UsageError(`${file}: ${(err as Error).message}`);
  }
}
