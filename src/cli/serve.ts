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
  if (node.dns) console.log(`idres: DNS gateway on ${host} port ${node.dns.port} (UDP and TCP) for ${node.config.dns.zones.join(', ')}`);
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
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  return node;
}
