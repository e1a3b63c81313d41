import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { cliPath } from './paths.js';

// `idres serve` in a child process, as an operator runs it: started on a node folder, ready once it has
// printed the port it serves, its JSON log lines (stderr) kept for the test to read, stopped with SIGTERM or
// killed with SIGKILL. Every wait is bounded.

/** One JSON log line of the node (pino: level 30 info, 40 warn, 50 error). */
export interface LogLine {
  level: number;
  event?: string;
  component?: string;
  msg?: string;
  [field: string]: unknown;
}

/** The serve process exited before it was ready because its port was taken by someone else. */
export class AddressInUse extends Error {}

export class ServeProcess {
  private out = '';
  private err = '';
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The Handle port (UDP and TCP) and the HTTP port it printed. */
  port = 0;
  httpPort = 0;

  private constructor(
    readonly dir: string,
    private readonly child: ChildProcess,
  ) {
    child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.err += d.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /**
   * Start `idres serve --dir DIR` with `args` (say --port, --http-port) and wait until it serves (its HTTP
   * face too, unless `withHttp` is false). A process
   * that exits first is an error with its stderr; AddressInUse when its port was taken.
   */
  static async start(dir: string, args: string[] = [], o: { withHttp?: boolean; timeoutMs?: number } = {}): Promise<ServeProcess> {
    const withHttp = o.withHttp ?? true;
    const timeoutMs = o.timeoutMs ?? 20000;
    const child = spawn(process.execPath, [cliPath, 'serve', '--dir', dir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const p = new ServeProcess(dir, child);
    const deadline = Date.now() + timeoutMs;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    void p.exited.then((e) => (exit = e));
    for (;;) {
      const port = / port (\d+) \(UDP and TCP\)/.exec(p.out);
      const http = /HTTP API on http:\/\/[^:]+:(\d+)\//.exec(p.out);
      if (port && (http || !withHttp)) {
        p.port = Number(port[1]);
        p.httpPort = http ? Number(http[1]) : 0;
        return p;
      }
      if (exit) {
        const text = `idres serve --dir ${dir} exited (${exit.code ?? exit.signal}) before serving: ${p.err.slice(-2000)}`;
        throw /EADDRINUSE/.test(p.err) ? new AddressInUse(text) : new Error(text);
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`idres serve --dir ${dir} did not serve within ${timeoutMs} ms: ${p.out}${p.err.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  /** Its JSON log lines so far. */
  logs(): LogLine[] {
    const lines: LogLine[] = [];
    for (const l of this.err.split('\n')) {
      if (!l.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(l) as LogLine);
      } catch {
        // a line being written as we read: the next read has it whole
      }
    }
    return lines;
  }

  /** Its log lines with this event name. */
  events(event: string): LogLine[] {
    return this.logs().filter((l) => l.event === event);
  }

  /** SIGKILL: no chance to finish anything. Resolves once it is gone. */
  async kill(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, as an operator stops it; SIGKILL if it has not exited within `timeoutMs`. Returns the exit code. */
  async stop(timeoutMs = 10000): Promise<number | null> {
    if (this.alive) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const e = await this.exited;
    clearTimeout(timer);
    return e.code;
  }
}

/**
 * A loopback port free for both TCP and UDP right now. Another process may take it before it is used, so a
 * caller binding it must be ready to pick another (AddressInUse).
 */
export async function freeLoopbackPort(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = dgram.createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
    if (attempt >= 20) throw new Error('no free loopback port for both TCP and UDP');
  }
}
