import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { CONFIG_FILE, DEFAULT_PORT, loadConfig, registryOptions } from '../node/config.js';
import { initNode } from '../node/init.js';
import { Registry } from '../store/registry.js';
import { generateProducts } from '../demo/products.js';
import { serveCommand } from './serve.js';
import { dirOption } from './options.js';
import { nonNegativeIntOption, portOption } from './numbers.js';

const DEMO_PREFIX = '88.118.8';

/** Create a business node for 88.118.8 with demo products the first time, then serve it. */
export async function quickstartCommand(o: { dir: string; port: number; count: number }): Promise<void> {
  if (!existsSync(path.join(o.dir, CONFIG_FILE))) {
    console.log(`idres: creating a business node for ${DEMO_PREFIX} in ${path.resolve(o.dir)}`);
    initNode({ dir: o.dir, prefixes: [DEMO_PREFIX], roles: ['business'], port: o.port, description: 'idres quickstart node' });
    const config = loadConfig(o.dir);
    const registry = new Registry(path.join(o.dir, config.database), registryOptions(config, 'import'));
    try {
      const products = generateProducts(DEMO_PREFIX, o.count);
      const now = Math.floor(Date.now() / 1000);
      registry.db.transaction(() => {
        for (const p of products) registry.createInTxn(p.handle, p.values, false, now);
      })();
      console.log(`idres: registered ${products.length} demo product identifiers`);
    } finally {
      registry.close();
    }
  }
  const node = (await serveCommand({ dir: o.dir, port: o.port, workers: 1 }))!;
  const sample = node.registry?.list(DEMO_PREFIX, { limit: 1 })[0]?.handle ?? `${DEMO_PREFIX}/PUMP-XB200-0000001`;
  const server = `${node.config.listen.host}:${node.port}`;
  console.log('');
  console.log('Try it, in another terminal:');
  console.log(`  npx idres resolve ${sample} --server ${server}`);
  console.log(`  npx idres resolve ${sample} --server ${server} --type URL --json`);
  console.log(`  npx idres register ${DEMO_PREFIX}/MY-FIRST-0001 --dir ${o.dir} --value URL=https://example.com/p/1`);
  console.log('Stop with Ctrl-C.');
}

/** `idres quickstart`: a business node with demo identifiers. */
export function addQuickstartCommand(program: Command): void {
  program
    .command('quickstart')
    .description('create (once) and run a business node for 88.118.8 with a few thousand demo product identifiers')
    .addOption(dirOption())
    .option('--port <port>', 'UDP and TCP port', portOption('--port'), DEFAULT_PORT)
    .option('--count <n>', 'demo identifiers to register on first run', nonNegativeIntOption('--count'), 2000)
    .action((o) => quickstartCommand({ dir: o.dir, port: o.port, count: o.count }));
}
