import path from 'node:path';
import { loadConfig, registryOptions } from '../node/config.js';
import { Registry } from '../store/registry.js';

/**
 * The registry of the node in `dir`, opened with the node's own settings (its file, its case folding, the
 * durability of its writes, or of a bulk import's).
 */
export function openRegistry(dir: string, purpose: 'writes' | 'import' = 'writes'): Registry {
  const config = loadConfig(dir);
  return new Registry(path.join(dir, config.database), registryOptions(config, purpose));
}

/** Run `work` on the registry of the node in `dir`, closed after whatever happens. */
export async function withRegistry<T>(dir: string, work: (registry: Registry) => T | Promise<T>): Promise<T> {
  const registry = openRegistry(dir);
  try {
    return await work(registry);
  } finally {
    registry.close();
  }
}
