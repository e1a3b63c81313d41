import { writeFileSync, existsSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { validateHandle } from '../model/handle.js';
import { encodeKeyFile } from '../protocol/keyfile.js';
import { encodePublicKey } from '../protocol/pubkey.js';
import { generateSm2KeyPair } from '../protocol/sm2.js';
import { UsageError, buildValues, formatValues, specsFrom } from './values.js';
import { type RemoteOptions, isRemote, remoteName, withRemote } from './remote-wire.js';
import { withRegistry } from './open-registry.js';

// update, delete and list: on the local registry (the operator of the node, trusted by the file system), or
// on a remote node (over the wire or HTTP) with an administrator's key (the same checks as any Handle client meets).
// keys generate: a key pair in the reference's formats.

export interface UpdateOptions extends RemoteOptions {
  dir: string;
  values: string[];
  privateValues: string[];
  hexValues: string[];
  remove: string[];
  ttl: number;
}

/** Add or replace values (by index) and remove values of an existing identifier. */
export async function updateCommand(handle: string, o: UpdateOptions): Promise<void> {
  validateHandleOrPrefixHandle(handle);
  const specs = specsFrom(o);
  const remove = o.remove.map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--remove "${x}" is not an index`);
    return n;
  });
  if (specs.length === 0 && remove.length === 0) throw new UsageError('give values to set (--value, --private, --hex) or indexes to --remove');
  if (specs.some((s) => s.index === undefined)) throw new UsageError('each value of an update names its index, e.g. --value 1:URL=https://…');
  const values = buildValues(handle, specs, { ttl: o.ttl, admin: false });
  if (isRemote(o)) {
    await withRemote(o, async (admin) => {
      if (values.length) await admin.add(handle, values, { overwrite: true });
      if (remove.length) await admin.remove(handle, remove);
    });
    console.log(`updated ${handle} on ${remoteName(o)}`);
    return;
  }
  await withRegistry(o.dir, (registry) => {
    const stored = registry.get(handle);
    if (!stored) throw new UsageError(`${handle} is not registered here`);
    for (const i of remove) if (!stored.values.some((v) => v.index === i)) throw new UsageError(`${handle} has no value at index ${i}`);
    registry.db.transaction(() => {
      if (values.length) registry.upsertValues(handle, values);
      if (remove.length) registry.removeValues(handle, remove);
    })();
    console.log(`updated ${handle}`);
    console.log(formatValues(registry.get(handle)!.values));
  });
}

export async function deleteCommand(handle: string, o: RemoteOptions & { dir: string }): Promise<void> {
  validateHandleOrPrefixHandle(handle);
  if (isRemote(o)) {
    await withRemote(o, (admin) => admin.delete(handle));
    console.log(`deleted ${handle} on ${remoteName(o)}`);
    return;
  }
  await withRegistry(o.dir, (registry) => registry.delete(handle));
  console.log(`deleted ${handle}`);
}

export async function listCommand(prefix: string, o: RemoteOptions & { dir: string; limit?: number }): Promise<void> {
  const p = prefix.replace(/^0\.NA\//i, '');
  if (isRemote(o)) {
    for (const h of await withRemote(o, (admin) => admin.list(p))) console.log(h);
    return;
  }
  const limit = o.limit ?? Infinity;
  await withRegistry(o.dir, (registry) => {
    let printed = 0;
    for (const h of registry.eachUnder(p)) {
      if (printed++ >= limit) return;
      console.log(h);
    }
  });
}

export function keysGenerateCommand(o: { out: string; bits: number; passphraseEnv?: string; force: boolean; pem: boolean; sm2?: boolean }): void {
  if (!o.sm2 && ![2048, 3072, 4096].includes(o.bits)) throw new UsageError('--bits must be 2048, 3072 or 4096');
  const pubFile = `${o.out}.pub.bin`;
  for (const f of [o.out, pubFile]) if (existsSync(f) && !o.force) throw new UsageError(`${f} exists; use --force to replace it`);
  let passphrase: string | undefined;
  if (o.passphraseEnv !== undefined) {
    passphrase = process.env[o.passphraseEnv];
    if (!passphrase) throw new UsageError(`the environment variable ${o.passphraseEnv} holds no passphrase`);
  }
  // The reference's key file has no SM2 form: SM2 keys are PKCS#8 PEM, as the national SDK reads them.
  const pem = o.pem || Boolean(o.sm2);
  const { privateKey, publicKey } = o.sm2 ? generateSm2KeyPair() : generateKeyPairSync('rsa', { modulusLength: o.bits });
  const priv = pem
    ? Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem', ...(passphrase ? { cipher: 'aes-256-cbc', passphrase } : {}) }) as string)
    : encodeKeyFile(privateKey, passphrase);
  writeFileSync(o.out, priv, { mode: 0o600 });
  const pub = encodePublicKey(publicKey);
  writeFileSync(pubFile, pub);
  console.log(`private key: ${o.out} (${o.sm2 ? 'SM2, ' : ''}${pem ? 'PKCS#8 PEM' : "the reference's key file format"}${passphrase ? ', encrypted' : ''})`);
  console.log(`public key:  ${pubFile} (HS_PUBKEY data, ${pub.length} bytes)`);
  console.log('to make it an identity, add it as an HS_PUBKEY value, for example:');
  console.log(`  idres update 0.NA/PREFIX --hex 301:HS_PUBKEY=${pub.toString('hex')}`);
}

function validateHandleOrPrefixHandle(handle: string): void {
  if (/^0\.NA\/.+/i.test(handle)) return;
  validateHandle(handle);
}
