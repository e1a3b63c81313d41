// The folder's writer lock (src/node/writer-lock.ts): one process at a time pulls into a node folder's
// registry, and the lock of a process that dies, even by SIGKILL, is free at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WriterLock } from '../src/node/writer-lock.js';
import { tempDir } from './helpers/node.js';

const lockModule = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/node/writer-lock.js');

test('one holder per folder; another folder has its own; released, it can be taken again', async () => {
  const a = tempDir('idres-lock-a-');
  const b = tempDir('idres-lock-b-');
  const first = await WriterLock.take(a);
  assert.ok(first, 'a free folder is taken');
  assert.equal(await WriterLock.take(a), undefined, 'held: a second taker is refused');
  const other = await WriterLock.take(b);
  assert.ok(other, 'another folder is not held by the first');
  await first.release();
  const again = await WriterLock.take(a);
  assert.ok(again, 'released: taken again');
  await again.release();
  await other.release();
});

test('held by another process until it is killed with SIGKILL; then free', async () => {
  const dir = tempDir('idres-lock-kill-');
  const holder = spawn(
    process.execPath,
    ['--input-type=module', '-e', `const { WriterLock } = await import(${JSON.stringify(lockModule)}); const l = await WriterLock.take(${JSON.stringify(dir)}); console.log(l ? 'held' : 'refused'); setInterval(() => {}, 1000);`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const said = await new Promise<string>((resolve) => holder.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
  assert.equal(said, 'held');
  assert.equal(await WriterLock.take(dir), undefined, 'the other process holds it');
  const exited = new Promise((resolve) => holder.once('exit', resolve));
  holder.kill('SIGKILL');
  await exited;
  const mine = await WriterLock.take(dir);
  assert.ok(mine, 'free once its holder is dead');
  await mine.release();
});
