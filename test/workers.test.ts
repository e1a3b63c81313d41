// Several worker processes serving one port: every answer is right over UDP and TCP, a worker that dies is
// replaced, and SIGTERM stops them all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { HandleClient } from '../src/client/handle-client.js';
import { ResponseCode } from '../src/protocol/constants.js';
import { cliPath } from './helpers/paths.js';
import { cli, tempDir } from './helpers/node.js';

test('idres serve --workers 2: one port, answers over UDP and TCP, a dead worker replaced, a clean stop', async () => {
  const dir = path.join(tempDir('idres-workers-'), 'node');
  assert.equal((await cli(['init', '--dir', dir, '--prefix', '88.118.8', '--port', '0'])).code, 0);
  assert.equal((await cli(['register', '88.118.8/W1', '--dir', dir, '--value', 'URL=https://example.cn/w1'])).code, 0);
  const child = spawn(process.execPath, [cliPath, 'serve', '--dir', dir, '--workers', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const client = new HandleClient({ udpTimeoutsMs: [300, 600], tcpTimeoutMs: 3000 });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`not serving: ${out}`)), 20000);
      const check = () => {
        const m = /port (\d+) \(UDP and TCP\) with 2 workers/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(Number(m[1]));
        } else setTimeout(check, 50);
      };
      check();
    });
    const server = { host: '127.0.0.1', port };
    for (let i = 0; i < 10; i++) {
      for (const transport of ['udp', 'tcp'] as const) {
        const r = await client.resolve(server, '88.118.8/W1', { transport });
        assert.equal(r.responseCode, ResponseCode.SUCCESS);
        assert.equal(r.values[0]!.data.toString(), 'https://example.cn/w1');
      }
    }
    // Kill one worker: the primary starts another, and the port keeps answering.
    const workerPid = Number(/worker[^\d]*(\d+)/.exec(await statsLine(child, () => out))![1]);
    process.kill(workerPid, 'SIGKILL');
    await waitFor(() => /exited \(SIGKILL\); starting another/.test(out));
    const again = await client.resolve(server, '88.118.8/W1', { transport: 'tcp' });
    assert.equal(again.responseCode, ResponseCode.SUCCESS);
  } finally {
    client.close();
    const code = await new Promise<number | null>((r) => {
      child.once('exit', (c) => r(c));
      child.kill('SIGTERM');
    });
    assert.equal(code, 0, out);
    rmSync(path.dirname(dir), { recursive: true, force: true });
  }
});

async function waitFor(cond: () => boolean, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function statsLine(child: ReturnType<typeof spawn>, out: () => string): Promise<string> {
  child.kill('SIGUSR2');
  await waitFor(() => /idres stats \{"worker":\d+/.test(out()));
  return /idres stats \{"worker":\d+/.exec(out())![0];
}
