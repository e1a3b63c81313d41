// The README's run command: `idres demo` brings up the whole hierarchy on loopback, says how to resolve an
// identifier, answers through the resolver and by a walk from the top, stops on SIGTERM, and starts again
// from the same folder (delegations follow the new ports). Its disaster-recovery mirror of the top-level node
// answers what the top holds, follows a change written there, and is listed as a site of 88, once per run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { cliPath } from './helpers/paths.js';
import { cli, tempDir } from './helpers/node.js';

interface RunningDemo {
  resolver: string;
  top: string;
  mirror: string;
  sample: string;
  stop(): Promise<number | null>;
}

function startDemo(dir: string): Promise<RunningDemo> {
  const child = spawn(process.execPath, [cliPath, 'demo', '--dir', dir, '--port', '0', '--count', '300'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`demo did not start:\n${out}`));
    }, 30000);
    child.stderr.on('data', (d) => (out += d));
    child.stdout.on('data', (d) => {
      out += d;
      if (!out.includes('Stop with Ctrl-C')) return;
      clearTimeout(timer);
      const addr = (label: string) => new RegExp(`${label}\\s+(127\\.0\\.0\\.1:\\d+)`).exec(out)![1]!;
      resolve({
        resolver: addr('resolver'),
        top: addr('top-level  88'),
        mirror: addr('top-level DR mirror'),
        sample: /npx idres resolve (\S+) --server/.exec(out)![1]!,
        stop: () =>
          new Promise((done) => {
            child.once('exit', (code) => done(code));
            child.kill('SIGTERM');
          }),
      });
    });
    child.once('exit', (code) => reject(new Error(`demo exited with ${code}:\n${out}`)));
  });
}

test('idres demo: the hierarchy answers through the resolver and by a walk from the top', async () => {
  const dir = path.join(tempDir('idres-demo-'), 'demo');
  try {
    for (let run = 0; run < 2; run++) {
      const demo = await startDemo(dir);
      try {
        assert.match(demo.sample, /^88\.118\.8\//);
        const viaResolver = await cli(['resolve', demo.sample, '--server', demo.resolver, '--json']);
        assert.equal(viaResolver.code, 0, viaResolver.stderr);
        const j = JSON.parse(viaResolver.stdout) as { handle: string; values: Array<{ type: string }> };
        assert.equal(j.handle, demo.sample);
        assert.ok(j.values.some((v) => v.type === 'URL'));
        const walked = await cli(['resolve', demo.sample, '--root', demo.top, '--type', 'URL']);
        assert.equal(walked.code, 0, walked.stderr);
        assert.match(walked.stdout, /1 referrals/);

        // The mirror answers a handle held by the top-level node, as the top does.
        const held = await cli(['resolve', '0.NA/88.118', '--server', demo.mirror, '--json']);
        assert.equal(held.code, 0, held.stderr);
        const fromTop = await cli(['resolve', '0.NA/88.118', '--server', demo.top, '--json']);
        assert.deepEqual(JSON.parse(held.stdout), JSON.parse(fromTop.stdout));
        // The top lists it as a mirror site of 88 (this run's port only).
        const sites = JSON.parse((await cli(['resolve', '0.NA/88', '--server', demo.top, '--json'])).stdout) as { values: Array<{ type: string; data: unknown }> };
        const listed = sites.values.filter((v) => v.type === 'HS_SITE').map((v) => JSON.stringify(v.data));
        assert.equal(listed.length, 2, `the top's own site and its mirror's: ${listed.join(' ')}`);
        assert.equal(listed.filter((d) => d.includes(`"port":${demo.mirror.split(':')[1]}`)).length, 1, listed.join(' '));
        // A change written at the top-level reaches it.
        const handle = `88/DR-CHECK-${run}`;
        const reg = await cli(['register', handle, '--dir', path.join(dir, 'top'), '--value', `URL=https://example.cn/dr/${run}`]);
        assert.equal(reg.code, 0, reg.stderr);
        const deadline = Date.now() + 15000;
        for (;;) {
          const r = await cli(['resolve', handle, '--server', demo.mirror, '--type', 'URL']);
          if (r.code === 0) {
            assert.match(r.stdout, new RegExp(`https://example\\.cn/dr/${run}`));
            break;
          }
          if (Date.now() > deadline) assert.fail(`the mirror never had ${handle}: ${r.stdout}${r.stderr}`);
          await new Promise((ok) => setTimeout(ok, 100));
        }
      } finally {
        assert.equal(await demo.stop(), 0, 'exits cleanly on SIGTERM');
      }
    }
  } finally {
    rmSync(path.dirname(dir), { recursive: true, force: true });
  }
});
