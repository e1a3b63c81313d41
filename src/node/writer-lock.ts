import { createHash } from 'node:crypto';
import { realpathSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

// One process at a time pulls from a primary into a node folder's registry: of a mirror's `--workers`, one
// runs the mirror loop; `idres mirror promote` pulls by itself only when no node runs there. Two writers
// applying (or re-copying) into one file at once would interleave positions and copies.
//
// The lock is a listening Unix socket named after the folder: the kernel lets one process bind a name, and
// frees it when that process dies, however it dies. On Linux the name is abstract (no file, nothing stale
// to clean up); elsewhere it is a socket file in the folder, taken over when nothing answers on it.

export class WriterLock {
  private constructor(
    private readonly server: net.Server,
    private readonly file: string | undefined,
  ) {}

  /** Take the folder's lock, or undefined when a live process holds it. */
  static async take(dir: string): Promise<WriterLock | undefined> {
    const name = lockName(dir);
    for (let attempt = 0; attempt < 2; attempt++) {
      const server = net.createServer((s) => s.destroy());
      const bound = await new Promise<boolean | 'stale'>((resolve) => {
        server.once('error', (err: NodeJS.ErrnoException) => {
          if (err.code !== 'EADDRINUSE') return resolve(false);
          if (process.platform === 'linux') return resolve(false);
          // A socket file: held only if something still answers on it.
          const probe = net.connect(name);
          probe.once('connect', () => {
            probe.destroy();
            resolve(false);
          });
          probe.once('error', () => resolve('stale'));
        });
        // exclusive: a cluster worker binds the name itself rather than sharing the primary process's handle,
        // which would let every worker "hold" it.
        server.listen({ path: name, exclusive: true }, () => resolve(true));
      });
      if (bound === true) return new WriterLock(server.unref(), process.platform === 'linux' ? undefined : name);
      server.close();
      if (bound === false) return undefined;
      try {
        unlinkSync(name);
      } catch {
        // Gone already: bind again.
      }
    }
    return undefined;
  }

  async release(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.file) {
      try {
        unlinkSync(this.file);
      } catch {
        // Already gone.
      }
    }
  }
}

function lockName(dir: string): string {
  let real = path.resolve(dir);
  try {
    real = realpathSync(real);
  } catch {
    // A folder that does not exist yet locks by its given path.
  }
  if (process.platform === 'linux') return `\0idres-writer-${createHash('sha256').update(real).digest('hex').slice(0, 32)}`;
  return path.join(real, '.writer.sock');
}
