import { writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { loadConfig } from '../config.js';
import { validateHandle } from '../model/handle.js';
import { Registry } from '../store/registry.js';
import { encodeKeyFile } from '../protocol/keyfile.js';
import { encodePublicKey } from '../protocol/pubkey.js';
import { UsageError, buildValues, formatValues, parseValueSpec } from './values.js';
import { type RemoteOptions, isRemote, remoteAdmin, remoteName } from './remote-wire.js';

// update, delete and list: on the local registry (the operator of the node, trusted by the file system), or
// on a remote node over the wire with an administrator's key (the same checks as any Handle client meets).
// keys generate: a key pair in the reference's formats.

function openRegistry(dir: string): Registry {
  const config = loadConfig(dir);
  return new Registry(path.join(dir, config.database), { foldSuffix: config.caseFoldSuffix });
}

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
  const specs = [
    ...o.values.map((s) => parseValueSpec(s)),
    ...o.hexValues.map((s) => parseValueSpec(s, { hex: true })),
    ...o.privateValues.map((s) => parseValueSpec(s, { private: true })),
  ];
  const remove = o.remove.map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--remove "${x}" is not an index`);
    return n;
  });
  if (specs.length === 0 && remove.length === 0) throw new UsageError('give values to set (--value, --private, --hex) or indexes to --remove');
  if (specs.some((s) => s.index === undefined)) throw new UsageError('each value of an update names its index, e.g. --value 1:URL=https://…');
  const values = buildValues(handle, specs, { ttl: o.ttl, admin: false });
  if (isRemote(o)) {
    const { admin, close } = remoteAdmin(o);
    try {
      if (values.length) await admin.add(handle, values, { overwrite: true });
      if (remove.length) await admin.remove(handle, remove);
    } finally {
      await close();
    }
    console.log(`updated ${handle} on ${remoteName(o)}`);
    return;
  }
  const registry = openRegistry(o.dir);
  try {
    const stored = registry.get(handle);
    if (!stored) throw new UsageError(`${handle} is not registered here`);
    for (const i of remove) if (!stored.values.some((v) => v.index === i)) throw new UsageError(`${handle} has no value at index ${i}`);
    registry.db.transaction(() => {
      if (values.length) registry.upsertValues(handle, values);
      if (remove.length) registry.removeValues(handle, remove);
    })();
    console.log(`updated ${handle}`);
    console.log(formatValues(registry.get(handle)!.values));
  } finally {
    registry.close();
  }
}

export async function deleteCommand(handle: string, o: RemoteOptions & { dir: string }): Promise<void> {
  validateHandleOrPrefixHandle(handle);
  if (isRemote(o)) {
    const { admin, close } = remoteAdmin(o);
    try {
      await admin.delete(handle);
    } finally {
      await close();
    }
    console.log(`deleted ${handle} on ${remoteName(o)}`);
    return;
  }
  const registry = openRegistry(o.dir);
  try {
    registry.delete(handle);
    console.log(`deleted ${handle}`);
  } finally {
    registry.close();
  }
}

export async function listCommand(prefix: string, o: RemoteOptions & { dir: string; limit?: number }): Promise<void> {
  const p = prefix.replace(/^0\.NA\//i, '');
  if (isRemote(o)) {
    const { admin, close } = remoteAdmin(o);
    try {
      for (const h of await admin.list(p)) console.log(h);
    } finally {
      await close();
    }
    return;
  }
  const registry = openRegistry(o.dir);
  try {
    let after = '';
    let printed = 0;
    const limit = o.limit ?? Infinity;
    for (;;) {
      const page = registry.list(p, { after, limit: 10000 });
      for (const h of page) {
        if (printed++ >= limit) return;
        console.log(h.handle);
      }
      if (page.length < 10000) return;
      after = page[page.length - 1]!.key;
    }
  } finally {
    registry.close();
  }
}

export function keysGenerateCommand(o: { out: string; bits: number; passphraseEnv?: string; force: boolean; pem: boolean }): void {
  if (![2048, 3072, 4096].includes(o.bits)) throw new UsageError('--bits must be 2048, 3072 or 4096');
  const pubFile = `${o.out}.pub.bin`;
  for (const f of [o.out, pubFile]) if (existsSync(f) && !o.force) throw new UsageError(`${f} exists; use --force to replace it`);
  let passphrase: string | undefined;
  if (o.passphraseEnv !== undefined) {
    passphrase = process.env[o.passphraseEnv];
    if (!passphrase) throw new UsageError(`the environment variable ${o.passphraseEnv} holds no passphrase`);
  }
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: o.bits });
  const priv = o.pem
    ? Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem', ...(passphrase ? { cipher: 'aes-256-cbc', passphrase } : {}) }) as string)
    : encodeKeyFile(privateKey, passphrase);
  writeFileSync(o.out, priv, { mode: 0o600 });
  const pub = encodePublicKey(publicKey);
  writeFileSync(pubFile, pub);
  console.log(`private key: ${o.out} (${o.pem ? 'PEM' : "the reference's key file format"}${passphrase ? ', encrypted' : ''})`);
  console.log(`public key:  ${pubFile} (HS_PUBKEY data, ${pub.length} bytes)`);
  console.log('to make it an identity, add it as an HS_PUBKEY value, for example:');
  console.log(`  idres update 0.NA/PREFIX --hex 301:HS_PUBKEY=${pub.toString('hex')}`);
}

function validateHandleOrPrefixHandle(handle: string): void {
  if (/^0\.NA\/.+/i.test(handle)) return;
  validateHandle(handle);
}
