// The administrative CLI as a manufacturer runs it: register, update, list and delete on a remote node over
// the wire with a key, keys made by `idres keys generate` (plain and passphrase-protected), and clear errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { cli, startTestNode, type TestNode } from './helpers/node.js';
import { execFile } from 'node:child_process';
import { cliPath } from './helpers/paths.js';
import { decodeKeyFile, readPrivateKey } from '../src/protocol/keyfile.js';
import { decodePublicKey } from '../src/protocol/pubkey.js';

let t: TestNode;
let remote: string[];

before(async () => {
  t = await startTestNode({ prefixes: ['88.118.8'] });
  remote = ['--server', `127.0.0.1:${t.server.port}`, '--auth', '0.NA/88.118.8:300', '--key', path.join(t.dir, 'keys', 'admin-88.118.8.key.pem')];
});
after(() => t.stop());

function cliEnv(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env }, timeout: 30000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('register, update, list and delete on a remote node with the prefix administrator key', async () => {
  let r = await cli(['register', '88.118.8/REMOTE-1', '--value', 'URL=https://example.cn/r1', ...remote]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /registered 88\.118\.8\/REMOTE-1 on/);
  assert.equal(t.node.registry!.getValues('88.118.8/REMOTE-1')!.find((v) => v.index === 1)!.data.toString(), 'https://example.cn/r1');
  r = await cli(['update', '88.118.8/REMOTE-1', '--value', '1:URL=https://example.cn/r1b', '--value', '2:EMAIL=a@b.cn', ...remote, '--session']);
  assert.equal(r.code, 0, r.stderr);
  r = await cli(['update', '88.118.8/REMOTE-1', '--remove', '2', ...remote]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(t.node.registry!.getValues('88.118.8/REMOTE-1')!.map((v) => [v.index, v.data.toString()]).slice(0, 1), [[1, 'https://example.cn/r1b']]);
  assert.equal(t.node.registry!.getValues('88.118.8/REMOTE-1')!.some((v) => v.index === 2), false);
  r = await cli(['list', '88.118.8', ...remote]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.split('\n').includes('88.118.8/REMOTE-1'));
  r = await cli(['delete', '88.118.8/REMOTE-1', ...remote]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(t.node.registry!.exists('88.118.8/REMOTE-1'), false);
});

test('refusals are one clear line and exit 2: no credentials, a key that is not the identity, a missing handle', async () => {
  let r = await cli(['delete', '88.118.8/NOPE', '--server', `127.0.0.1:${t.server.port}`]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /asks for authentication/);
  const other = path.join(path.dirname(t.dir), 'other.key');
  assert.equal((await cli(['keys', 'generate', '--out', other])).code, 0);
  // As the reference: permission and existence are checked before the signature, so 403 needs a real target.
  assert.equal((await cli(['register', '88.118.8/KEEP', '--value', 'URL=https://example.cn/keep', ...remote])).code, 0);
  r = await cli(['delete', '88.118.8/KEEP', '--server', `127.0.0.1:${t.server.port}`, '--auth', '0.NA/88.118.8:300', '--key', other]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /403 AUTHENTICATION_FAILED/);
  assert.equal(t.node.registry!.exists('88.118.8/KEEP'), true);
  r = await cli(['delete', '88.118.8/NOPE', ...remote]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /100 HANDLE_NOT_FOUND/);
  r = await cli(['register', '88.118.8/X', '--value', 'URL=x', '--server', `127.0.0.1:${t.server.port}`, '--auth', 'not-an-identity', '--key', other]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /is not HANDLE:INDEX/);
});

test('keys generate: a reference key file (encrypted with a passphrase) whose public half, registered as HS_PUBKEY, is an identity', async () => {
  const base = path.dirname(t.dir);
  const keyFile = path.join(base, 'operator.key');
  let r = await cliEnv(['keys', 'generate', '--out', keyFile, '--passphrase-env', 'OP_PASS'], { OP_PASS: 'geheim' });
  assert.equal(r.code, 0, r.stderr);
  const file = readFileSync(keyFile);
  assert.equal(file.readUInt32BE(0), 4, 'PBKDF2 + AES, as the reference writes encrypted keys');
  const pub = readFileSync(`${keyFile}.pub.bin`);
  assert.deepEqual(decodePublicKey(pub).export({ format: 'jwk' }).n, decodeKeyFile(file, 'geheim').export({ format: 'jwk' }).n);
  // The operator becomes an identity with its own handle, and the administrator of a product.
  r = await cli(['register', '88.118.8/OPERATOR', '--hex', `300:HS_PUBKEY=${pub.toString('hex')}`, '--no-admin', ...remote]);
  assert.equal(r.code, 0, r.stderr);
  const adminHex = Buffer.concat([Buffer.from([0x0f, 0xff]), lenStr('88.118.8/OPERATOR'), Buffer.from([0, 0, 1, 0x2c])]).toString('hex');
  r = await cli(['register', '88.118.8/PRODUCT', '--value', 'URL=https://example.cn/p', '--hex', `100:HS_ADMIN=${adminHex}`, ...remote]);
  assert.equal(r.code, 0, r.stderr);
  const op = ['--server', `127.0.0.1:${t.server.port}`, '--auth', '88.118.8/OPERATOR:300', '--key', keyFile];
  r = await cliEnv(['update', '88.118.8/PRODUCT', '--value', '1:URL=https://example.cn/p2', ...op], { IDRES_KEY_PASSPHRASE: 'geheim' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(t.node.registry!.getValues('88.118.8/PRODUCT')!.find((v) => v.index === 1)!.data.toString(), 'https://example.cn/p2');
  r = await cliEnv(['update', '88.118.8/PRODUCT', '--value', '1:URL=https://example.cn/p3', ...op], { IDRES_KEY_PASSPHRASE: 'wrong' });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /wrong passphrase/);
  r = await cli(['update', '88.118.8/PRODUCT', '--value', '1:URL=https://example.cn/p3', ...op]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /IDRES_KEY_PASSPHRASE/);
  // The operator administers PRODUCT only: creating under the prefix needs the prefix's HS_ADMIN.
  r = await cliEnv(['register', '88.118.8/NOT-MINE', '--value', 'URL=x', ...op], { IDRES_KEY_PASSPHRASE: 'geheim' });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /400 INVALID_ADMIN/);
});

test('init writes the prefix administrator key in the reference formats too: admpriv.bin holds the PEM key, admpub.bin is HS_PUBKEY 300', () => {
  const pem = readFileSync(path.join(t.dir, 'keys', 'admin-88.118.8.key.pem'));
  const priv = decodeKeyFile(readFileSync(path.join(t.dir, 'keys', 'admin-88.118.8.admpriv.bin')));
  assert.deepEqual(priv.export({ format: 'jwk' }), readPrivateKey(pem).export({ format: 'jwk' }));
  const pub = readFileSync(path.join(t.dir, 'keys', 'admin-88.118.8.admpub.bin'));
  assert.deepEqual(t.node.registry!.getValues('0.NA/88.118.8')!.find((v) => v.index === 300)!.data, pub);
  assert.equal(pub.length, 289, "an RSA-2048 blob as the reference writes it, trailer included");
});

function lenStr(s: string): Buffer {
  const b = Buffer.from(s);
  const l = Buffer.alloc(4);
  l.writeUInt32BE(b.length);
  return Buffer.concat([l, b]);
}
