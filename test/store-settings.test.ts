// The store section of the configuration reaches SQLite: the page cache and the memory map of the registry's
// connection are what idres.json says, and the defaults are the registry's own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_CACHE_MIB, DEFAULT_MMAP_MIB, Registry } from '../src/store/registry.js';
import { defaultConfig, registryOptions, validateConfig } from '../src/node/config.js';
import { tempDir } from './helpers/node.js';

const MIB = 1024 * 1024;

test('store.cacheSizeMiB and store.mmapSizeMiB set the registry connection\'s pragmas; the defaults agree', () => {
  const dir = tempDir('idres-store-');
  try {
    const config = validateConfig({ store: { cacheSizeMiB: 8, mmapSizeMiB: 0 } });
    const sized = new Registry(path.join(dir, 'a.db'), registryOptions(config));
    // A negative cache_size is in KiB.
    assert.equal(sized.db.pragma('cache_size', { simple: true }), -8 * 1024);
    assert.equal(sized.db.pragma('mmap_size', { simple: true }), 0);
    sized.close();

    const defaults = defaultConfig();
    assert.equal(defaults.store.cacheSizeMiB, DEFAULT_CACHE_MIB, 'the schema default is the registry default');
    assert.equal(defaults.store.mmapSizeMiB, DEFAULT_MMAP_MIB);
    const plain = new Registry(path.join(dir, 'b.db'));
    assert.equal(plain.db.pragma('cache_size', { simple: true }), -DEFAULT_CACHE_MIB * 1024);
    // SQLite may cap the map below what is asked (its build's limit), never above.
    const mapped = plain.db.pragma('mmap_size', { simple: true }) as number;
    assert.ok(mapped > 0 && mapped <= DEFAULT_MMAP_MIB * MIB, `mmap_size ${mapped}`);
    plain.close();

    assert.throws(() => validateConfig({ store: { cacheSizeMiB: 0 } }), /store\.cacheSizeMiB/);
    assert.throws(() => validateConfig({ store: { mmapSizeMiB: -1 } }), /store\.mmapSizeMiB/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
