import path from 'node:path';
import { type InitOptions, initNode } from '../node/init.js';
import { prefixHandle } from '../model/handle.js';

export function initCommand(o: InitOptions): void {
  const c = initNode(o);
  const dir = path.resolve(o.dir);
  console.log(`Created an idres ${c.roles.join('+')} node in ${dir}`);
  if (c.prefixes.length) {
    console.log(`  homes: ${c.prefixes.join(', ')} (prefix handles ${c.prefixes.map(prefixHandle).join(', ')})`);
    console.log(`  administrator keys: ${path.join(dir, 'keys')}/admin-PREFIX.key.pem — keep them safe`);
  } else {
    console.log('  homes no prefix yet: run init again with --prefix P --force');
  }
  console.log(`  listens on ${c.listen.host} port ${c.listen.port} (UDP and TCP)`);
  if (c.http.enabled) console.log(`  HTTP API on ${c.http.host ?? c.listen.host} port ${c.http.port}${c.http.port === 0 ? ' (any free port)' : ''}`);
  console.log(`Next: idres serve --dir ${o.dir}`);
}
