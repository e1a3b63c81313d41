// Item 5 of the hardening issue: what an acknowledged write survives is a setting, with a safe default.
// SQLite itself is asked (PRAGMA synchronous: 1 NORMAL, 2 FULL, 3 EXTRA) what the node's connection, the
// CLI's and an import's use, so a setting that is validated but never applied cannot pass.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cli, startTestNode, tempDir, type TestNode } from './helpers/node.js';
import { Registry } from '../src/store/registry.js';
import { openRegistry } from '../src/cli/open-registry.js';
import { importFile } from '../src/admin/import.js';
import { validateConfig } from '../src/node/config.js';

const NORMAL = 1;
const FULL = 2;
const EXTRA = 3;

const synchronousOf = (r: Registry) => r.db.pragma('synchronous', { simple: true }) as number;

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function patchConfig(dir: string, patch: (c: Record<string, unknown>) => void): void {
  const file = path.join(dir, 'idres.json');
  const c = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  patch(c);
  writeFileSync(file, JSON.stringify(c));
}

test('a registry opened without a setting commits with FULL; each setting is what SQLite reports', () => {
  const dir = tempDir();
  dirs.push(dir);
  const r = new Registry(path.join(dir, 'a.db'));
  assert.equal(synchronousOf(r), FULL);
  assert.equal(r.db.pragma('journal_mode', { simple: true }), 'wal');
  r.close();
  for (const [mode, expected] of [['normal', NORMAL], ['full', FULL], ['extra', EXTRA]] as const) {
    const x = new Registry(path.join(dir, `${mode}.db`), { synchronous: mode });
    assert.equal(synchronousOf(x), expected, mode);
    x.close();
  }
});

test('a node: FULL by default; durability.synchronous decides', async () => {
  const nodes: TestNode[] = [];
  try {
    nodes.push(await startTestNode());
    assert.equal(synchronousOf(nodes[0]!.node.registry!), FULL);
    assert.deepEqual(nodes[0]!.node.config.durability, { synchronous: 'full', importSynchronous: 'full' });
    nodes.push(await startTestNode({ patch: (c) => ((c.durability = { synchronous: 'normal' })) }));
    assert.equal(synchronousOf(nodes[1]!.node.registry!), NORMAL);
  } finally {
    for (const n of nodes) await n.stop();
  }
});

test("the CLI's writes use durability.synchronous, imports durability.importSynchronous", async () => {
  const dir = path.join(tempDir(), 'node');
  dirs.push(path.dirname(dir));
  const init = await cli(['init', '--dir', dir, '--port', '0', '--prefix', '88.118.8']);
  assert.equal(init.code, 0, init.stderr);
  // What `idres init` writes: the defaults, visible to the operator.
  assert.deepEqual(JSON.parse(readFileSync(path.join(dir, 'idres.json'), 'utf8')).durability, { synchronous: 'full', importSynchronous: 'full' });

  patchConfig(dir, (c) => ((c.durability = { synchronous: 'extra', importSynchronous: 'normal' })));
  const writes = openRegistry(dir);
  assert.equal(synchronousOf(writes), EXTRA);
  writes.close();
  // `idres import` opens its registry this way (src/cli/import.ts); the import engine keeps the setting.
  const imports = openRegistry(dir, 'import');
  assert.equal(synchronousOf(imports), NORMAL);
  const file = path.join(path.dirname(dir), 'rows.ndjson');
  writeFileSync(file, JSON.stringify({ handle: '88.118.8/DUR-1', values: [{ index: 1, type: 'URL', data: { format: 'string', value: 'https://example.cn/1' } }] }) + '\n');
  const seen: number[] = [];
  const r = await importFile(imports, file, { batchSize: 1, onBatch: () => seen.push(synchronousOf(imports)) });
  assert.equal(r.counts.created, 1);
  assert.deepEqual(seen, [NORMAL], 'each batch committed with the import setting');
  imports.close();

  patchConfig(dir, (c) => ((c.durability = { importSynchronous: 'full' })));
  const again = openRegistry(dir, 'import');
  assert.equal(synchronousOf(again), FULL);
  again.close();

  // The real command, end to end, with the setting at NORMAL.
  patchConfig(dir, (c) => ((c.durability = { importSynchronous: 'normal' })));
  writeFileSync(file, JSON.stringify({ handle: '88.118.8/DUR-2', values: [{ index: 1, type: 'URL', data: { format: 'string', value: 'https://example.cn/2' } }] }) + '\n');
  const run = await cli(['import', file, '--dir', dir, '--progress', 'none']);
  assert.equal(run.code, 0, run.stderr + run.stdout);
  const check = openRegistry(dir);
  assert.ok(check.exists('88.118.8/DUR-2'));
  check.close();
});

test('durability settings are validated: normal, full or extra (any case); off is refused', () => {
  assert.equal(validateConfig({ durability: { synchronous: 'FULL' } }).durability.synchronous, 'full');
  assert.equal(validateConfig({ durability: { importSynchronous: 'Normal' } }).durability.importSynchronous, 'normal');
  assert.throws(() => validateConfig({ durability: { synchronous: 'off' } }), /durability\.synchronous must be one of normal, full, extra/);
  assert.throws(() => validateConfig({ durability: { synchronous: 2 } }), /durability\.synchronous/);
  assert.throws(() => validateConfig({ durability: { fsync: true } }), /unknown setting "durability\.fsync"/);
  assert.throws(() => validateConfig({ durability: 'full' }), /durability must be an object/);
});
