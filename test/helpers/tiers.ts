import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CONFIG_FILE } from '../../src/node/config.js';
import { type InitOptions, initNode } from '../../src/node/init.js';
import { IdresNode, type StartOptions } from '../../src/node/node.js';
import { tempDir } from './node.js';

/** Settings that keep failure paths quick in tests: short upstream timeouts. */
export const FAST_RECURSION = { udpTimeoutsMs: [150, 150], tcpTimeoutMs: 800 };

export class Nodes {
  readonly root = tempDir('idres-tiers-');
  private readonly running = new Set<IdresNode>();

  /** Create a node folder (in process) on an ephemeral port, patch its configuration, start it. */
  async start(name: string, init: Omit<InitOptions, 'dir' | 'port'>, patch?: (c: Record<string, unknown>) => void, port = 0, start: StartOptions = {}): Promise<IdresNode> {
    const dir = path.join(this.root, name);
    initNode({ ...init, dir, port });
    const file = path.join(dir, CONFIG_FILE);
    const c = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    c.recursion = { ...(c.recursion as object), ...FAST_RECURSION };
    patch?.(c);
    writeFileSync(file, JSON.stringify(c));
    return this.startDir(dir, start);
  }

  /** Start a node folder; `start` adds options of IdresNode.start (a clock, say). */
  async startDir(dir: string, start: StartOptions = {}): Promise<IdresNode> {
    const n = await IdresNode.start(dir, { log: () => undefined, ...start });
    this.running.add(n);
    return n;
  }

  async stop(n: IdresNode): Promise<void> {
    if (!this.running.delete(n)) return;
    await n.stop();
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.running].map((n) => n.stop()));
    this.running.clear();
    rmSync(this.root, { recursive: true, force: true });
  }
}

export const at = (n: IdresNode) => `127.0.0.1:${n.port}`;
export const server = (n: IdresNode) => ({ host: '127.0.0.1', port: n.port });
