import { normalisePrefix, validateHandle } from '../model/handle.js';
import { UsageError, buildValues, formatValues, specsFrom } from './values.js';
import { type RemoteOptions, isRemote, remoteName, withRemote } from './remote-wire.js';
import { openRegistry } from './open-registry.js';

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
  const specs = specsFrom(o);
  if (specs.length === 0) throw new UsageError('give at least one value, e.g. --value URL=https://example.com/p/1');
  if (isRemote(o)) {
    // On a remote node over the wire: its administrators' permissions decide, as for any Handle client.
    const values = buildValues(handle, specs, { ttl: o.ttl, admin: o.admin });
    const created = await withRemote(o, (admin) => admin.create(handle, values, { overwrite: o.overwrite }));
    console.log(`registered ${created} on ${remoteName(o)}`);
    console.log(formatValues(values));
    return;
  }
  const registry = openRegistry(o.dir);
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
