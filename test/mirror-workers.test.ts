// A mirror served by several worker processes: one of them pulls (it holds the folder's writer lock), the
// others answer from what it writes; when the puller is SIGKILLed another takes over, without a re-copy.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { HandleClient } from '../src/client/handle-client.js';
import { cli } from './helpers/node.js';
import { Nodes, at } from './helpers/tiers.js';
import { ServeProcess } from './helpers/serve-process.js';

const PREFIX = '88.118.8';
const nodes = new Nodes();
const client = new HandleClient({ udpTimeoutsMs: [300, 600], tcpTimeoutMs: 3000 });
let mirror: ServeProcess | undefined;
after(async () => {
  await mirror?.stop();
  client.close();
  await nodes.stopAll();
});

/** Resolve at the mirror until every asked answer has the handle (both workers answer the port). */
async function servedEverywhere(port: number, handle: string, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let streak = 0;
  while (streak < 6) {
    if (Date.now() > deadline) assert.fail(`${handle} is not served by every worker of the mirror`);
    const r = await client.resolve({ host: '127.0.0.1', port }, handle).catch(() => undefined);
    streak = r && r.values.length > 0 ? streak + 1 : 0;
    if (streak === 0) await new Promise((res) => setTimeout(res, 50));
  }
}

test('a mirror with --workers 2 pulls in one worker, and in another after that one is SIGKILLed', async () => {
  const primary = await nodes.start('primary', { prefixes: [PREFIX] });
  const dir = path.join(nodes.root, 'mirror');
  const init = await cli(['init', '--dir', dir, '--role', 'mirror', '--primary', at(primary), '--prefix', PREFIX, '--port', '0']);
  assert.equal(init.code, 0, init.stderr);
  mirror = await ServeProcess.start(dir, ['--workers', '2'], { withHttp: false });
  const allow = await cli(['mirror', 'allow', '--dir', path.join(nodes.root, 'primary'), '--site', `127.0.0.1:${mirror.port}`, '--identity', `301:0.NA/${PREFIX}`]);
  assert.equal(allow.code, 0, allow.stderr);
  const register = async (name: string) => assert.equal((await cli(['register', `${PREFIX}/${name}`, '--dir', path.join(nodes.root, 'primary'), '--value', `URL=https://example.cn/${name}`])).code, 0);

  await register('W1');
  await servedEverywhere(mirror.port, `${PREFIX}/W1`);
  assert.equal(mirror.events('replication_copied').length, 1, 'one worker copied the registry, not each');
  assert.equal(mirror.events('mirror_loop_elsewhere').length, 1, 'the other worker serves what the puller writes');

  // SIGKILL every worker in turn: whichever pulled, another (or its replacement) takes over.
  const workers = execFileSync('ps', ['--ppid', String(mirror.pid), '-o', 'pid=']).toString().trim().split(/\s+/).map(Number);
  assert.equal(workers.length, 2, `two workers: ${workers.join(', ')}`);
  for (const [i, w] of workers.entries()) {
    process.kill(w, 'SIGKILL');
    await register(`AFTER-${i}`);
    await servedEverywhere(mirror.port, `${PREFIX}/AFTER-${i}`);
  }
  assert.equal(mirror.events('replication_copied').length, 1, 'no worker copied the registry again');
});
