import net from 'node:net';
import type { Command } from 'commander';
import { loadConfig } from '../node/config.js';
import { IdresNode } from '../node/node.js';
import { freeUdpTcpPort, isWorker, runPrimary } from '../server/workers.js';
import { createLogger } from '../log/logger.js';
import type { LogLevel } from '../log/levels.js';
import { dirOption, logLevelOf, logLevelOption } from './options.js';
import { portOption, workersOption } from './numbers.js';

function httpUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** A TCP port free right now (bound and released). */
function freeTcpPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function serveCommand(o: { dir: string; host?: string; port?: number; httpPort?: number; workers?: number; logLevel?: LogLevel }): Promise<IdresNode | undefined> {
  const config = loadConfig(o.dir);
  const workers = o.workers ?? config.workers;
  const host = o.host ?? config.listen.host;
  if (workers > 1 && !isWorker()) {
    let port = o.port ?? config.listen.port;
    if (port === 0) port = await freeUdpTcpPort(host);
    // The workers share one HTTP port too; fixed here (they inherit the environment) so it can be printed.
    let httpPort = o.httpPort ?? config.http.port;
    if (config.http.enabled) {
      if (httpPort === 0) httpPort = await freeTcpPort(config.http.host ?? host);
      process.env.IDRES_HTTP_PORT = String(httpPort);
    }
    const logger = createLogger({ level: o.logLevel ?? config.log.level }).child({ component: 'workers' });
    runPrimary({
      workers,
      port,
      log: (m) => logger.info({ event: 'workers' }, m),
      onAllListening: () => {
        console.log(`idres: ${config.roles.join('+')} node serving ${config.prefixes.join(', ') || 'no prefix'} on ${host} port ${port} (UDP and TCP) with ${workers} workers`);
        if (config.http.enabled) console.log(`idres: HTTP API on ${httpUrl(config.http.host ?? host, httpPort)}/api/handles/ (redirect front, /metrics, /healthz, /readyz; metrics per worker)`);
      },
    });
    return undefined;
  }
  const node = await IdresNode.start(o.dir, {
    ...(o.host !== undefined ? { host: o.host } : {}),
    ...(isWorker() ? { port: Number(process.env.IDRES_PORT), shared: true } : o.port !== undefined ? { port: o.port } : {}),
    ...(o.httpPort !== undefined ? { httpPort: o.httpPort } : {}),
    ...(o.logLevel ? { logLevel: o.logLevel } : {}),
  });
  if (isWorker()) {
    process.send?.('listening');
    process.on('SIGUSR2', () => console.log(`idres stats ${JSON.stringify({ worker: process.pid, ...node.stats() })}`));
    process.on('SIGHUP', () => node.logging.reopen());
    process.once('SIGTERM', () => node.stop().then(() => process.exit(0)));
    return node;
  }
  console.log(
    `idres: ${node.config.roles.join('+')} node serving ${node.config.prefixes.join(', ') || 'no prefix'} ` +
      `on ${host} port ${node.port} (UDP and TCP)` +
      (node.registry ? '' : '; no registry (resolver)'),
  );
  if (node.http) console.log(`idres: HTTP API on ${httpUrl(node.http.host, node.http.port)}/api/handles/ (redirect front, /metrics, /healthz, /readyz)`);
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
  // SIGUSR2: one line of counters on stdout (requests, response codes, cache, upstream), for operators.
  process.on('SIGUSR2', () => console.log(`idres stats ${JSON.stringify(node.stats())}`));
  // SIGHUP: open the access log's file again (after logrotate moved it).
  process.on('SIGHUP', () => node.logging.reopen());
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  return node;
}

/** `idres serve`: run the node. */
export function addServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the node: answer the Handle protocol on UDP and TCP')
    .addOption(dirOption())
    .option('--listen <address>', 'override the configured listen address')
    .option('--port <port>', 'override the configured port (0: any free port)', portOption('--port'))
    .option('--http-port <port>', 'override the configured HTTP port (0: any free port)', portOption('--http-port'))
    .option('--workers <n>', 'processes serving the port together (default: the configured "workers", 1)', workersOption('--workers'))
    .addOption(logLevelOption())
    .action(async (o) => {
      await serveCommand({ dir: o.dir, host: o.listen, port: o.port, httpPort: o.httpPort, ...(o.workers ? { workers: o.workers } : {}), ...logLevelOf(o) });
    });
}
