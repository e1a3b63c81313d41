import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { IdresNode, type StartOptions } from '../../src/node/node.js';
import { cliPath } from './paths.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the real idres command (bin/idres.js) in a child process. */
export function cli(args: string[], opts: { timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliPath, ...args], { timeout: opts.timeoutMs ?? 30000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export function tempDir(label = 'idres-test-'): string {
  return mkdtempSync(path.join(tmpdir(), label));
}

export interface TestNode {
  dir: string;
  node: IdresNode;
  server: { host: string; port: number };
  stop(): Promise<void>;
}

/**
 * A node created with `idres init` (through the CLI, as a user would) on an ephemeral loopback port, then
 * started in this process. `patch` edits the written configuration before the start; `start` adds options
 * of IdresNode.start (a clock, a security log sink).
 */
export async function startTestNode(
  opts: { prefixes?: string[]; initArgs?: string[]; patch?: (c: Record<string, unknown>) => void; start?: StartOptions } = {},
): Promise<TestNode> {
  const dir = path.join(tempDir(), 'node');
  const prefixes = opts.prefixes ?? ['88.118.8'];
  const r = await cli(['init', '--dir', dir, '--port', '0', ...prefixes.flatMap((p) => ['--prefix', p]), ...(opts.initArgs ?? [])]);
  if (r.code !== 0) throw new Error(`idres init failed: ${r.stderr}`);
  if (opts.patch) {
    const file = path.join(dir, 'idres.json');
    const c = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    opts.patch(c);
    writeFileSync(file, JSON.stringify(c));
  }
  const node = await IdresNode.start(dir, { log: () => undefined, ...opts.start });
  return {
    dir,
    node,
    server: { host: '127.0.0.1', port: node.port },
    stop: async () => {
      await node.stop();
      rmSync(path.dirname(dir), { recursive: true, force: true });
    },
  };
}
