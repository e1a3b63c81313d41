// A primary and a mirror as two `idres serve` processes (so they do not share an event loop), set up with
// the CLI as docs/replication.md "Setting up a mirror" says, and read from the outside: each registry is
// opened read-only beside its node (WAL lets a reader look while the node writes), so the benchmark sees
// the mirror's committed position without asking the mirror anything over the network.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { Registry } from '../src/store/registry.js';
import { POSITION_SETTING } from '../src/store/replication-settings.js';
import { Child, PREFIX, cliPath, freePort, patchConfig } from './common.js';

export const MIRROR_IDENTITY = `301:0.NA/${PREFIX}`;

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Run the idres CLI to its end (bounded: a command that hangs fails the benchmark, it does not stall it). */
export function runCli(args: string[], timeoutMs = 1_800_000): Promise<CliRun> {
  const t0 = performance.now();
  const proc = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`idres ${args.join(' ')}: no end after ${timeoutMs} ms`));
    }, timeoutMs);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

async function mustRun(args: string[]): Promise<CliRun> {
  const r = await runCli(args);
  if (r.code !== 0) throw new Error(`idres ${args.join(' ')} exited with ${r.code}:\n${r.stdout}${r.stderr}`);
  return r;
}

/** A node's registry opened read-only, with the few reads the benchmark polls (prepared once: cheap to poll). */
class Reader {
  private readonly registry: Registry;
  private readonly position: Database.Statement<[string], { value: string }>;

  constructor(dir: string) {
    this.registry = new Registry(path.join(dir, 'registry.db'), { readonly: true });
    this.position = this.registry.db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE name = ?');
  }

  /** On a mirror: the primary's transaction id it has committed up to. */
  mirrorPosition(): number {
    return Number(this.position.get(POSITION_SETTING)?.value ?? 0);
  }

  lastTxnId(): number {
    return this.registry.lastTxnId();
  }

  count(): number {
    return this.registry.count();
  }

  /** Single writes logged after a transaction id: handle → its transaction id. */
  createdSince(txnId: number): Map<string, number> {
    const rows = this.registry.db
      .prepare<[number], { handle: string; txn_id: number }>("SELECT handle, txn_id FROM txn_log WHERE txn_id > ? AND op = 'create'")
      .all(txnId);
    return new Map(rows.map((r) => [r.handle, r.txn_id]));
  }

  close(): void {
    this.registry.close();
  }
}

/** One idres node as a child process, with a read-only view of its registry while it runs. */
class NodeProcess {
  child: Child | undefined;
  private view: Reader | undefined;

  constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  async start(): Promise<void> {
    this.child = await Child.start([cliPath, 'serve', '--dir', this.dir, '--port', String(this.port)], /serving/);
    this.view = new Reader(this.dir);
  }

  get reader(): Reader {
    if (!this.view) throw new Error(`${this.dir} is not running`);
    return this.view;
  }

  async stop(): Promise<void> {
    this.view?.close();
    this.view = undefined;
    await this.child?.stop();
    this.child = undefined;
  }

  /** The HTTP API's base URL, as the node printed it when it started. */
  httpUrl(): string | undefined {
    return /HTTP API on (http:\/\/\S+?)\/api\/handles\//.exec(this.child?.output.join('') ?? '')?.[1];
  }

  rssBytes(): number {
    return this.child?.rssBytes() ?? 0;
  }
}

export class Pair {
  readonly primary: NodeProcess;
  readonly mirror: NodeProcess;

  private constructor(root: string, primaryPort: number, mirrorPort: number) {
    this.primary = new NodeProcess(path.join(root, 'primary'), primaryPort);
    this.mirror = new NodeProcess(path.join(root, 'mirror'), mirrorPort);
  }

  /** Ports for a primary folder made already (root/primary) and a mirror folder to make (root/mirror). */
  static async create(root: string): Promise<Pair> {
    return new Pair(root, await freePort(), await freePort());
  }

  /**
   * The primary serving, a mirror made with `idres init --role mirror` (which asks the primary for its key),
   * started, and allowed with `idres mirror allow`. Returns the moment (performance.now()) the allow ended:
   * from then on the mirror may pull, and its first copy begins at its next poll.
   */
  async setUp(pollMs?: number): Promise<number> {
    await this.primary.start();
    await mustRun([
      'init', '--dir', this.mirror.dir, '--role', 'mirror', '--prefix', PREFIX, '--primary', `127.0.0.1:${this.primary.port}`,
      '--identity', MIRROR_IDENTITY, '--port', String(this.mirror.port), '--no-http',
    ]);
    if (pollMs !== undefined) this.setPollMs(pollMs);
    await this.mirror.start();
    await mustRun(['mirror', 'allow', '--dir', this.primary.dir, '--site', `127.0.0.1:${this.mirror.port}`, '--identity', MIRROR_IDENTITY]);
    return performance.now();
  }

  setPollMs(pollMs: number): void {
    patchConfig(this.mirror.dir, (c) => {
      c.replication = { ...(c.replication as Record<string, unknown>), pollMs };
    });
  }

  /** The mirror stopped and its registry deleted (its keys and configuration stay): the next start copies anew. */
  async forgetMirror(): Promise<void> {
    await this.mirror.stop();
    for (const suffix of ['', '-wal', '-shm']) rmSync(path.join(this.mirror.dir, `registry.db${suffix}`), { force: true });
  }

  /**
   * Poll (every `everyMs`, bounded by `timeoutMs`) until the mirror's committed position has reached the
   * primary's last transaction id and it holds as many handles. `moved` is called at each change of position
   * with the time seen. Returns the moment it was caught up.
   */
  async caughtUp(timeoutMs: number, o: { everyMs?: number; moved?: (at: number, position: number) => void; done?: () => boolean } = {}): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    let last = -1;
    for (;;) {
      const now = performance.now();
      const position = this.mirror.reader.mirrorPosition();
      if (position !== last) {
        o.moved?.(now, position);
        last = position;
      }
      if ((o.done?.() ?? true) && position > 0 && position >= this.primary.reader.lastTxnId() && this.mirror.reader.count() === this.primary.reader.count()) return now;
      if (now > deadline) {
        throw new Error(
          `the mirror did not catch up in ${timeoutMs} ms: position ${position}, primary's last ${this.primary.reader.lastTxnId()}, ` +
            `handles ${this.mirror.reader.count()} against ${this.primary.reader.count()}\n${this.mirror.child?.output.join('').slice(-2000)}`,
        );
      }
      await new Promise((r) => setTimeout(r, o.everyMs ?? 3));
    }
  }

  async stopAll(): Promise<void> {
    await this.mirror.stop();
    await this.primary.stop();
  }
}
