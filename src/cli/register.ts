import type { Command } from 'commander';
import { NA_PREFIX, isValidPrefix, normalisePrefix, prefixOfPrefixHandle, validateHandle } from '../model/handle.js';
import { parseIdentity } from '../admin/permissions.js';
import { UsageError, buildValues, completeSpecs, formatValues, printJson, specsFrom, valuesToJson, type SpecSources } from './values.js';
import { type RemoteOptions, isRemote, remoteName, withRemote } from './remote-wire.js';
import { openRegistry } from './open-registry.js';
import { audited } from './local-audit.js';
import { VALUE_FORMS_HELP, dirOption, remoteOf, remoteOptions, valueOptions, valueSourcesOf } from './options.js';
import { ttlOption } from './numbers.js';

export interface RegisterOptions extends RemoteOptions, Required<SpecSources> {
  dir: string;
  ttl: number;
  admin: boolean;
  overwrite: boolean;
  allowUnhomed: boolean;
  json: boolean;
  showSecrets: boolean;
}

/** A handle PREFIX/SUFFIX or a prefix handle 0.NA/PREFIX; the prefix it belongs to, and (prefix handles) the prefix it names. */
export function checkHandleArgument(handle: string): { prefix: string; names?: string } {
  const na = prefixOfPrefixHandle(handle);
  if (na !== undefined) {
    if (!isValidPrefix(na)) throw new UsageError(`"${handle}" is not a valid prefix handle (0.NA/PREFIX)`);
    return { prefix: NA_PREFIX, names: na };
  }
  return { prefix: validateHandle(handle).prefix };
}

export async function registerCommand(handle: string, o: RegisterOptions): Promise<void> {
  const parts = checkHandleArgument(handle);
  if (!Number.isInteger(o.ttl) || o.ttl < 0 || o.ttl > 0xffffffff) throw new UsageError(`--ttl must be a number of seconds`);
  const specs = specsFrom(o);
  if (specs.length === 0) throw new UsageError('give at least one value, e.g. --value URL=https://example.com/p/1');
  await completeSpecs(specs);
  const show = { showSecrets: o.showSecrets };
  if (isRemote(o)) {
    // On a remote node: its administrators' permissions decide, as for any Handle client. Without an
    // HS_ADMIN of its own, the handle is administered by the identity creating it, as the reference's tools do.
    const creator = o.auth !== undefined ? parseIdentity(o.auth) : undefined;
    const values = buildValues(handle, specs, { ttl: o.ttl, admin: o.admin, ...(creator ? { creator } : {}) });
    const created = await withRemote(o, (admin) => admin.create(handle, values, { overwrite: o.overwrite }));
    if (o.json) return printJson({ handle: created, server: remoteName(o), values: valuesToJson(values, show) });
    console.log(`registered ${created} on ${remoteName(o)}`);
    console.log(formatValues(values, show));
    return;
  }
  const registry = openRegistry(o.dir);
  try {
    const homed = registry.homedPrefixes();
    const homes = (p: string) => homed.some((h) => normalisePrefix(h) === normalisePrefix(p));
    // A prefix handle is kept where its prefix, its parent prefix (delegating it) or the root is homed.
    const ok = parts.names !== undefined ? homes(parts.names) || homes(parentOf(parts.names)) || homes(NA_PREFIX) : homes(parts.prefix);
    if (!o.allowUnhomed && !ok) {
      const what = parts.names !== undefined ? `neither ${parts.names} nor its parent prefix ${parentOf(parts.names)} is homed` : `${parts.prefix} is not homed`;
      throw new UsageError(
        `${what} by this node (it homes ${homed.join(', ') || 'nothing'}); ` +
          `clients would get 301 for it. Use --allow-unhomed to store it anyway.`,
      );
    }
    const values = buildValues(handle, specs, { ttl: o.ttl, admin: o.admin });
    audited(registry, { op: 'create', handle, ...(o.overwrite ? { detail: { overwrite: true } } : {}) }, () => registry.create(handle, values, { overwrite: o.overwrite }));
    const stored = registry.get(handle)!.values;
    if (o.json) return printJson({ handle, values: valuesToJson(stored, show) });
    console.log(`registered ${handle}`);
    console.log(formatValues(stored, show));
  } finally {
    registry.close();
  }
}

/** 88.118.9 → 88.118; 88 → 0.NA (the root's). */
function parentOf(prefix: string): string {
  const dot = prefix.lastIndexOf('.');
  return dot > 0 ? prefix.slice(0, dot) : NA_PREFIX;
}

/** `idres register`: one identifier, locally or on a remote node. */
export function addRegisterCommand(program: Command): void {
  remoteOptions(valueOptions(program
    .command('register')
    .description('register one identifier with its values, in the local registry or on a remote node (--server)')
    .argument('<handle>', 'the identifier, PREFIX/SUFFIX, e.g. 88.118.8/PUMP-XB200-0001')
    .addOption(dirOption()), false)
    .option('--ttl <seconds>', 'TTL of the values', ttlOption('--ttl'), 86400)
    .option('--no-admin', 'do not add the default HS_ADMIN value (the prefix administrator; remotely, the --auth identity)')
    .option('--overwrite', 'replace the values of an existing identifier')
    .option('--allow-unhomed', 'register under a prefix this node does not home')
    .option('--json', 'print the result as JSON')
    .option('--show-secrets', 'print HS_SECKEY secrets instead of hiding them'))
    .addHelpText('after', VALUE_FORMS_HELP)
    .action((handle, o) =>
      registerCommand(handle, {
        ...remoteOf(o),
        dir: o.dir,
        ...valueSourcesOf(o),
        ttl: o.ttl,
        admin: o.admin,
        overwrite: Boolean(o.overwrite),
        allowUnhomed: Boolean(o.allowUnhomed),
        json: Boolean(o.json),
        showSecrets: Boolean(o.showSecrets),
      }),
    );
}
