import cluster, { type Worker } from 'node:cluster';
import dgram from 'node:dgram';
import net from 'node:net';

// Several processes serving one port: the primary forks the workers and keeps them running; each worker is
// a whole node (its own registry connection and cache) bound to the shared port.

export const WORKER_ENV = 'IDRES_WORKER';

export function isWorker(): boolean {
  return cluster.isWorker && process.env[WORKER_ENV] === '1';
}

/**
 * A port that is free for UDP and for TCP now (workers need a fixed one to share, on both): a UDP port the
 * system picks, kept only if TCP can listen on it too, else another. Another process may still take it
 * before the workers bind; this narrows that to the moment between.
 */
export async function freeUdpTcpPort(host: string): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((r) => s.bind(0, host, r));
    const port = s.address().port;
    const tcpFree = await new Promise<boolean>((resolve) => {
      const t = net.createServer();
      t.once('error', () => resolve(false));
      t.listen(port, host, () => t.close(() => resolve(true)));
    });
    await new Promise<void>((r) => s.close(() => r()));
    if (tcpFree || attempt >= 20) return port;
  }
}

export interface PrimaryOptions {
  workers: number;
  port: number;
  /** Called once every worker (each runs this same command line, with IDRES_WORKER=1) is listening. */
  onAllListening: () => void;
  log: (msg: string) => void;
}

/**
 * Fork the workers, wait until every one is listening, replace any that dies unasked (at most once a
 * second), forward SIGUSR2, and stop them all on SIGINT/SIGTERM.
 */
export function runPrimary(o: PrimaryOptions): void {
  // Let the kernel hand out TCP connections rather than the primary passing each one along.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let listening = 0;
  let stopping = false;
  let lastRespawn = 0;
  const fork = (): Worker => {
    const w = cluster.fork({ [WORKER_ENV]: '1', IDRES_PORT: String(o.port) });
    w.on('message', (m: unknown) => {
      if (m === 'listening' && ++listening === o.workers) o.onAllListening();
    });
    return w;
  };
  for (let i = 0; i < o.workers; i++) fork();
  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    o.log(`worker ${w.process.pid} exited (${signal ?? code}); starting another`);
    const wait = Math.max(0, lastRespawn + 1000 - Date.now());
    lastRespawn = Date.now() + wait;
    setTimeout(fork, wait);
  });
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    o.log(`${signal}, stopping ${o.workers} workers`);
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    let left = Object.keys(cluster.workers ?? {}).length;
    if (left === 0) process.exit(0);
    cluster.on('exit', () => {
      if (--left === 0) process.exit(0);
    });
    setTimeout(() => process.exit(1), 10000).unref();
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGUSR2', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGUSR2');
  });
}
