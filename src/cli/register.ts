import path from 'node:path';
import { loadConfig } from '../config.js';
import { normalisePrefix, validateHandle } from '../model/handle.js';
import { Registry } from '../store/registry.js';
import { UsageError, buildValues, formatValues, parseValueSpec } from './values.js';
import { type RemoteOptions, isRemote, remoteAdmin, remoteName } from './remote-wire.js';

export interface RegisterOptions extends RemoteOptions {
  dir: string;
  values: string[];
  privateValues: string[];
  hexValues: string[];
  ttl: number;
  admin: boolean;
  overwrite: boolean;
  allowUnhomed: boolean;
}

export async function registerCommand(handle: string, o: RegisterOptions): Promise<void> {
  const parts = validateHandle(handle);
  if (!Number.isInteger(o.ttl) || o.ttl < 0 || o.ttl > 0xffffffff) throw new UsageError(`--ttl must be a number of seconds`);
  const specs = [
    ...o.values.map((s) => parseValueSpec(s)),
    ...o.hexValues.map((s) => parseValueSpec(s, { hex: true })),
    ...o.privateValues.map((s) => parseValueSpec(s, { private: true })),
  ];
  if (specs.length === 0) throw new UsageError('give at least one value, e.g. --value URL=https://example.com/p/1');
  if (isRemote(o)) {
    // On a remote node over the wire: its administrators' permissions decide, as for any Handle client.
    const values = buildValues(handle, specs, { ttl: o.ttl, admin: o.admin });
    const { admin, close } = remoteAdmin(o);
    try {
      const created = await admin.create(handle, values, { overwrite: o.overwrite });
      console.log(`registered ${created} on ${remoteName(o)}`);
      console.log(formatValues(values));
    } finally {
      await close();
    }
    return;
  }
  const config = loadConfig(o.dir);
  const registry = new Registry(path.join(o.dir, config.database), { foldSuffix: config.caseFoldSuffix });
  try {
    const homed = registry.homedPrefixes();
    if (!o.allowUnhomed && !homed.some((p) => normalisePrefix(p) === normalisePrefix(parts.prefix))) {
      throw new UsageError(
        `${parts.prefix} is not homed by this node (it homes ${homed.join(', ') || 'nothing'}); ` +
          `clients would get 301 for it. Use --allow-unhomed to store it anyway.`,
      );
    }
    const values = buildValues(handle, specs, { ttl: o.ttl, admin: o.admin });
    registry.create(handle, values, { overwrite: o.overwrite });
    console.log(`registered ${handle}`);
    console.log(formatValues(registry.get(handle)!.values));
  } finally {
    registry.close();
  }
}
