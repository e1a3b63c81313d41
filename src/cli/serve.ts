import { IdresNode } from '../node.js';

export async function serveCommand(o: { dir: string; host?: string; port?: number }): Promise<IdresNode> {
  const node = await IdresNode.start(o.dir, {
    ...(o.host !== undefined ? { host: o.host } : {}),
    ...(o.port !== undefined ? { port: o.port } : {}),
  });
  const { host } = node.config.listen;
  console.log(
    `idres: ${node.config.roles.join('+')} node serving ${node.config.prefixes.join(', ') || 'no prefix'} ` +
      `on ${host} port ${node.port} (UDP and TCP)` +
      (node.registry ? `; ${node.registry.count()} handles in the registry` : '; no registry (resolver)'),
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`idres: ${signal}, stopping`);
    node.stop().then(
      () => process.exit(0),
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  // SIGUSR2: one line of counters on stdout (requests, response codes, cache, upstream), for operators.
  process.on('SIGUSR2', () => console.log(`idres stats ${JSON.stringify(node.stats())}`));
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  return node;
}
