import { writeFileSync, existsSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import type { Command } from 'commander';
import { encodeKeyFile } from '../protocol/keyfile.js';
import { describePublicKey } from '../protocol/json.js';
import { encodePublicKey } from '../protocol/pubkey.js';
import { generateSm2KeyPair } from '../protocol/sm2.js';
import { UsageError, buildValues, completeSpecs, formatValues, printJson, specsFrom, valuesToJson, type SpecSources } from './values.js';
import { type RemoteOptions, isRemote, remoteName, withRemote } from './remote-wire.js';
import { withRegistry } from './open-registry.js';
import { checkHandleArgument } from './register.js';
import { audited } from './local-audit.js';
import { VALUE_FORMS_HELP, collect, dirOption, remoteOf, remoteOptions, valueOptions, valueSourcesOf } from './options.js';
import { nonNegativeIntOption, positiveIntOption, ttlOption } from './numbers.js';

// update, delete and list: on the local registry (the operator of the node, trusted by the file system), or
// on a remote node (over the wire or HTTP) with an administrator's key (the same checks as any Handle client meets).
// keys generate: a key pair in the reference's formats.

export interface UpdateOptions extends RemoteOptions, Required<SpecSources> {
  dir: string;
  remove: string[];
  ttl: number;
  json: boolean;
  showSecrets: boolean;
}

/** Add or replace values (by index) and remove values of an existing identifier. */
export async function updateCommand(handle: string, o: UpdateOptions): Promise<void> {
  checkHandleArgument(handle);
  const specs = specsFrom(o);
  const remove = o.remove.map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--remove "${x}" is not an index`);
    return n;
  });
  if (specs.length === 0 && remove.length === 0) throw new UsageError('give values to set (--value, --private, --hex, --json-value) or indexes to --remove');
  if (specs.some((s) => s.index === undefined)) throw new UsageError('each value of an update names its index, e.g. --value 1:URL=https://…');
  await completeSpecs(specs);
  const values = buildValues(handle, specs, { ttl: o.ttl, admin: false });
  const show = { showSecrets: o.showSecrets };
  if (isRemote(o)) {
    await withRemote(o, async (admin) => {
      if (values.length) await admin.add(handle, values, { overwrite: true });
      if (remove.length) await admin.remove(handle, remove);
    });
    if (o.json) return printJson({ handle, server: remoteName(o), set: valuesToJson(values, show), removed: remove });
    console.log(`updated ${handle} on ${remoteName(o)}`);
    return;
  }
  await withRegistry(o.dir, (registry) => {
    const stored = registry.get(handle);
    if (!stored) throw new UsageError(`${handle} is not registered here`);
    for (const i of remove) if (!stored.values.some((v) => v.index === i)) throw new UsageError(`${handle} has no value at index ${i}`);
    audited(registry, { op: 'update', handle }, () => {
      if (values.length) registry.upsertValues(handle, values);
      if (remove.length) registry.removeValues(handle, remove);
    });
    const after = registry.get(handle)!.values;
    if (o.json) return printJson({ handle, set: valuesToJson(values, show), removed: remove, values: valuesToJson(after, show) });
    console.log(`updated ${handle}`);
    console.log(formatValues(after, show));
  });
}

export async function deleteCommand(handle: string, o: RemoteOptions & { dir: string; json?: boolean }): Promise<void> {
  checkHandleArgument(handle);
  if (isRemote(o)) {
    await withRemote(o, (admin) => admin.delete(handle));
    if (o.json) return printJson({ handle, server: remoteName(o), deleted: true });
    console.log(`deleted ${handle} on ${remoteName(o)}`);
    return;
  }
  await withRegistry(o.dir, (registry) => audited(registry, { op: 'delete', handle }, () => registry.delete(handle)));
  if (o.json) return printJson({ handle, deleted: true });
  console.log(`deleted ${handle}`);
}

export async function listCommand(prefix: string, o: RemoteOptions & { dir: string; limit?: number; json?: boolean }): Promise<void> {
  const p = prefix.replace(/^0\.NA\//i, '');
  if (o.limit !== undefined && (!Number.isInteger(o.limit) || o.limit < 0)) throw new UsageError('--limit must be a whole number');
  // JSON is written as it goes, so a large prefix is listed without holding every handle at once.
  let first = true;
  const out = (h: string) => {
    if (!o.json) return void console.log(h);
    process.stdout.write(`${first ? '' : ',\n'}    ${JSON.stringify(h)}`);
    first = false;
  };
  if (o.json) process.stdout.write(`{\n  "prefix": ${JSON.stringify(p)},\n  "handles": [\n`);
  const end = () => o.json && process.stdout.write(`${first ? '' : '\n'}  ]\n}\n`);
  if (isRemote(o)) {
    for (const h of await withRemote(o, (admin) => admin.list(p))) out(h);
    end();
    return;
  }
  const limit = o.limit ?? Infinity;
  await withRegistry(o.dir, (registry) => {
    let printed = 0;
    for (const h of registry.eachUnder(p)) {
      if (printed++ >= limit) break;
      out(h);
    }
  });
  end();
}

export function keysGenerateCommand(o: { out: string; bits: number; passphraseEnv?: string; force: boolean; pem: boolean; sm2?: boolean; json?: boolean }): void {
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
  const k = describePublicKey(pub)!;
  const format = pem ? 'PKCS#8 PEM' : "the reference's key file format";
  if (o.json) {
    return printJson({
      privateKey: o.out,
      privateKeyFormat: pem ? 'pem' : 'handle-key-file',
      encrypted: passphrase !== undefined,
      publicKey: pubFile,
      algorithm: k.algorithm,
      bits: k.bits,
      fingerprint: k.fingerprint,
      hsPubkey: pub.toString('hex'),
    });
  }
  console.log(`private key: ${o.out} (${o.sm2 ? 'SM2, ' : ''}${format}${passphrase ? ', encrypted' : ''})`);
  console.log(`public key:  ${pubFile} (HS_PUBKEY data, ${pub.length} bytes; ${k.algorithm} ${k.bits}-bit ${k.fingerprint})`);
  console.log('to make it an identity, add it as an HS_PUBKEY value, for example:');
  console.log(`  idres register PREFIX/OPERATOR --value 300:HS_PUBKEY=@${pubFile}`);
  console.log(`and make that identity an administrator:  idres admin grant PREFIX --to 300:PREFIX/OPERATOR --perms …`);
}

/** `idres update`: set or remove values of an identifier. */
export function addUpdateCommand(program: Command): void {
  remoteOptions(valueOptions(program
    .command('update')
    .description('set values (by index) of, or remove values from, an existing identifier: locally or on a remote node')
    .argument('<handle>', 'the identifier (or a prefix handle 0.NA/PREFIX)')
    .addOption(dirOption()), true)
    .option('--remove <index>', 'remove the value at this index (repeatable)', collect, [])
    .option('--ttl <seconds>', 'TTL of the values set', ttlOption('--ttl'), 86400)
    .option('--json', 'print the result as JSON')
    .option('--show-secrets', 'print HS_SECKEY secrets instead of hiding them'))
    .addHelpText('after', VALUE_FORMS_HELP)
    .action((handle, o) =>
      updateCommand(handle, {
        ...remoteOf(o),
        dir: o.dir,
        ...valueSourcesOf(o),
        remove: o.remove,
        ttl: o.ttl,
        json: Boolean(o.json),
        showSecrets: Boolean(o.showSecrets),
      }),
    );
}

/** `idres delete`: delete an identifier. */
export function addDeleteCommand(program: Command): void {
  remoteOptions(program
    .command('delete')
    .description('delete an identifier: locally or on a remote node')
    .argument('<handle>')
    .addOption(dirOption())
    .option('--json', 'print the result as JSON'))
    .action((handle, o) => deleteCommand(handle, { ...remoteOf(o), dir: o.dir, json: Boolean(o.json) }));
}

/** `idres list`: the identifiers under a prefix. */
export function addListCommand(program: Command): void {
  remoteOptions(program
    .command('list')
    .description('list the identifiers under a prefix: locally or on a remote node (LIST_HANDLES)')
    .argument('<prefix>', 'e.g. 88.118.8 (or 0.NA/88.118.8)')
    .addOption(dirOption())
    .option('--limit <n>', 'at most this many (local only)', nonNegativeIntOption('--limit'))
    .option('--json', 'print {"prefix", "handles": [...]}'))
    .action((prefix, o) => listCommand(prefix, { ...remoteOf(o), dir: o.dir, json: Boolean(o.json), ...(o.limit !== undefined ? { limit: o.limit } : {}) }));
}

/** `idres keys generate`: an administrator's key pair. */
export function addKeysCommand(program: Command): void {
  const keys = program.command('keys').description("administrators' keys, in the reference's formats");
  keys
    .command('generate')
    .description('make a key pair: FILE (private: the reference key file, or PEM) and FILE.pub.bin (HS_PUBKEY data); RSA, or SM2 with --sm2')
    .requiredOption('-o, --out <file>', 'where to write the private key')
    .option('--bits <n>', 'RSA modulus size', positiveIntOption('--bits'), 2048)
    .option('--passphrase-env <var>', 'encrypt the private key with the passphrase in this environment variable')
    .option('--pem', 'write the private key as PKCS#8 PEM instead of the reference format')
    .option('--sm2', "an SM2 key (GB/T 32918, the national system's commercial cryptography): PKCS#8 PEM, HS_PUBKEY of type SM2_PUB_KEY")
    .option('--force', 'replace existing files')
    .option('--json', 'print what was written as JSON')
    .action((o) =>
      keysGenerateCommand({ out: o.out, bits: o.bits, force: Boolean(o.force), pem: Boolean(o.pem), sm2: Boolean(o.sm2), json: Boolean(o.json), ...(o.passphraseEnv ? { passphraseEnv: o.passphraseEnv } : {}) }),
    );
}
