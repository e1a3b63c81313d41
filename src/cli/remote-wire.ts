import { readFileSync } from 'node:fs';
import { HandleClient, parseServer } from '../client/handle-client.js';
import { AdminClient } from '../client/admin-client.js';
import { parseIdentity } from '../admin/permissions.js';
import { keyFileNeedsPassphrase, readPrivateKey } from '../protocol/keyfile.js';
import { UsageError } from './values.js';
import { httpAdmin } from './remote-http.js';

// The options every administrative command shares to work on a remote node over the wire:
// --server HOST:PORT, --auth HANDLE:INDEX (or INDEX:HANDLE), and --key FILE (HS_PUBKEY: PEM or the
// reference's key file) or --secret (HS_SECKEY; also IDRES_SECRET). A key file's passphrase comes from
// IDRES_KEY_PASSPHRASE.

export interface RemoteOptions {
  server?: string;
  /** A remote node's HTTP API instead (remote-http.ts). */
  api?: string;
  auth?: string;
  key?: string;
  secret?: string;
  session?: boolean;
}

export function isRemote(o: RemoteOptions): boolean {
  return o.server !== undefined || o.api !== undefined;
}

/** What a remote command names the node by. */
export function remoteName(o: RemoteOptions): string {
  return o.api ?? o.server ?? '';
}

/** An admin client for --server, and the plain client to close after. */
export function remoteAdmin(o: RemoteOptions): { admin: Pick<AdminClient, 'create' | 'add' | 'remove' | 'delete' | 'list'>; close: () => unknown } {
  if (o.api !== undefined) {
    if (o.server !== undefined) throw new UsageError('give --server (the wire) or --api (HTTP), not both');
    if (o.session) throw new UsageError('--session is for the wire (--server); over HTTP the key opens a Handle session itself');
    return httpAdmin(o);
  }
  if (!o.server) throw new UsageError('--server is needed for a remote node');
  const server = parseServer(o.server);
  let auth: { handle: string; index: number; key?: import('node:crypto').KeyObject; secret?: Buffer } = { handle: '', index: 0 };
  if (o.auth !== undefined) {
    const id = parseIdentity(o.auth);
    if (!id || id.index <= 0) throw new UsageError(`--auth "${o.auth}" is not HANDLE:INDEX such as 0.NA/88.118.8:300`);
    auth = { ...id };
    const secret = o.secret ?? process.env.IDRES_SECRET;
    if (o.key !== undefined) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(o.key);
      } catch (err) {
        throw new UsageError(`cannot read the key file ${o.key}: ${(err as Error).message}`);
      }
      const passphrase = process.env.IDRES_KEY_PASSPHRASE;
      if (!bytes.toString('latin1', 0, 64).includes('-----BEGIN') && keyFileNeedsPassphrase(bytes) && passphrase === undefined) {
        throw new UsageError(`${o.key} is encrypted: set IDRES_KEY_PASSPHRASE to its passphrase`);
      }
      try {
        auth.key = readPrivateKey(bytes, passphrase);
      } catch (err) {
        throw new UsageError(`${o.key}: ${(err as Error).message}`);
      }
    } else if (secret !== undefined) auth.secret = Buffer.from(secret, 'utf8');
    else throw new UsageError('--auth needs --key FILE (a private key) or --secret (an HS_SECKEY secret, or IDRES_SECRET)');
  } else if (o.key !== undefined || o.secret !== undefined) {
    throw new UsageError('--key and --secret need --auth HANDLE:INDEX (whose key they are)');
  }
  const client = new HandleClient({ tcpTimeoutMs: 10000 });
  return { admin: new AdminClient(client, server, auth, { session: o.session ?? false }), close: () => client.close() };
}
