// An outside client: the requests PYHANDLE makes (test/interop/pyhandle_flow.py, Python `requests`) against a
// real node, with PYHANDLE's default record owner 200:0.NA/PREFIX (an HS_VLIST naming the user). Skipped where
// python3 with requests is not installed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import { ALL_ADMIN_PERMISSIONS } from '../src/model/admin.js';
import { makeValue, Perm } from '../src/model/value.js';
import { encodeAdmin, encodeVList } from '../src/protocol/admin-data.js';
import { startTestNode, type TestNode } from './helpers/node.js';
import { baseOf } from './helpers/http.js';
import { repoRoot } from './helpers/paths.js';

function hasPythonRequests(): boolean {
  try {
    execFileSync('python3', ['-c', 'import requests'], { stdio: 'ignore', timeout: 10000 });
    return true;
  } catch {
    return false;
  }
}

describe('a PYHANDLE-shaped client', { skip: hasPythonRequests() ? false : 'python3 with requests is not installed' }, () => {
  let t: TestNode;
  before(async () => {
    t = await startTestNode({ prefixes: ['21.T11148'] });
    const r = t.node.registry!;
    r.create('21.T11148/USER01', [
      makeValue(300, 'HS_SECKEY', 's3cret', { permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE }),
      makeValue(100, 'HS_ADMIN', encodeAdmin({ handle: '21.T11148/USER01', index: 300, permissions: ALL_ADMIN_PERMISSIONS })),
    ]);
    r.upsertValues('0.NA/21.T11148', [
      makeValue(200, 'HS_VLIST', encodeVList([{ handle: '21.T11148/USER01', index: 300 }])),
      makeValue(101, 'HS_ADMIN', encodeAdmin({ handle: '0.NA/21.T11148', index: 200, permissions: ALL_ADMIN_PERMISSIONS })),
    ]);
    t.node.noticeWrites();
  });
  after(async () => {
    await t.stop();
  });

  test('R1–R8: client creation, register, conflict, read, modify, remove values, wrong password, delete', async () => {
    const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile('python3', [path.join(repoRoot, 'test/interop/pyhandle_flow.py'), baseOf(t.node)], { timeout: 60000 }, (err, stdout, stderr) =>
        resolve({ code: err ? 1 : 0, stdout, stderr }),
      );
    });
    assert.equal(out.code, 0, `${out.stdout}\n${out.stderr}`);
    assert.match(out.stdout, /PYHANDLE-shaped flow: all as expected/);
  });
});
