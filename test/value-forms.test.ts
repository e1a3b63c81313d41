// The readable value forms are one pair: what `resolve` prints in its data column (formatData) reads back
// (parseData, through --value) to the same bytes wherever it carries the whole value, and the JSON forms
// (resolve --json → --json-value) always do. Where the text cannot carry a value, reading it back is refused
// with a pointer to what can, never silently turned into other bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { siteOf } from '../src/admin/delegation.js';
import { ALL_ADMIN_PERMISSIONS, AdminPerm } from '../src/model/admin.js';
import { HashOption } from '../src/model/site.js';
import { type HandleValue, Perm, makeValue } from '../src/model/value.js';
import { encodeAdmin, encodeVList } from '../src/protocol/admin-data.js';
import { valueToJson } from '../src/protocol/json.js';
import { encodePublicKey } from '../src/protocol/pubkey.js';
import { encodeSite } from '../src/protocol/site.js';
import { generateSm2KeyPair } from '../src/protocol/sm2.js';
import { valueFromJson } from '../src/http/values.js';
import { formatPermissions, parsePermissions, PERMISSION_NAMES } from '../src/cli/admin-perms.js';
import { formatData, isWholeForm, parseData } from '../src/cli/value-forms.js';
import { UsageError, parseJsonValueSpec, parseValueSpec, valuesToJson } from '../src/cli/values.js';

const admin = (handle: string, index: number, permissions: number) => makeValue(100, 'HS_ADMIN', encodeAdmin({ handle, index, permissions }));

/** print → parse → the same bytes. */
function roundTrips(v: HandleValue): void {
  const text = formatData(v);
  assert.deepEqual(parseData(v.type, text).data, v.data, `${v.type} printed as ${text}`);
  assert.ok(isWholeForm(v), `${v.type}: ${text}`);
  // And as a command-line spec, the way an operator copies it.
  assert.deepEqual(parseValueSpec(`${v.index}:${v.type}=${text}`).data, v.data);
}

/** resolve --json → --json-value → the same value. */
function jsonRoundTrips(v: HandleValue): void {
  const back = valueFromJson(JSON.parse(JSON.stringify(valueToJson(v))), 'value');
  assert.deepEqual(back.data, v.data, `${v.type} as JSON ${JSON.stringify(valueToJson(v).data)}`);
  assert.equal(back.permissions, v.permissions);
  assert.deepEqual(parseJsonValueSpec(JSON.stringify(valueToJson(v))).data, v.data);
}

test('HS_ADMIN: every permission set prints and reads back, handles with spaces and commas quoted', () => {
  for (const p of [ALL_ADMIN_PERMISSIONS, 0, AdminPerm.ADD_HANDLE | AdminPerm.LIST_HANDLES, 0x7f3, AdminPerm.ADD_NA]) {
    roundTrips(admin('0.NA/88.118.8', 300, p));
    jsonRoundTrips(admin('0.NA/88.118.8', 300, p));
  }
  for (const h of ['88.118.8/OP ERATOR', '88.118.8/a,b', '88.118.8/"q"', '88.118.8/中文']) roundTrips(admin(h, 0, 0x0c0));
  assert.equal(formatData(admin('0.NA/88.118.8', 300, ALL_ADMIN_PERMISSIONS)), '300:0.NA/88.118.8 perms=all');
  assert.equal(formatData(admin('88.118.8/OP', 300, AdminPerm.ADD_VALUE | AdminPerm.READ_VALUE)), '300:88.118.8/OP perms=add-value,read-value');
  // The form the issue writes: perms may be left out (all), names in any case.
  assert.deepEqual(parseData('HS_ADMIN', '300:0.NA/88.118.8').data, encodeAdmin({ handle: '0.NA/88.118.8', index: 300, permissions: ALL_ADMIN_PERMISSIONS }));
  assert.deepEqual(parseData('HS_ADMIN', '300:X/Y perms=ADD_HANDLE,add-na').data, encodeAdmin({ handle: 'X/Y', index: 300, permissions: 0x5 }));
  // The legacy 4-byte layout is read and shown, but its text is not the same bytes: it says so and does not read.
  const legacy = Buffer.concat([Buffer.from([0, 0, 0x0f, 0xff]), encodeAdmin({ handle: 'X/Y', index: 300, permissions: 0 }).subarray(2)]);
  const lv = makeValue(100, 'HS_ADMIN', legacy);
  assert.match(formatData(lv), /^300:X\/Y perms=all \(legacy layout\)$/);
  assert.equal(isWholeForm(lv), false);
  assert.throws(() => parseData('HS_ADMIN', formatData(lv)), UsageError);
});

test('permission names: every bit has one, and a list reads back to its mask', () => {
  assert.equal(PERMISSION_NAMES.length, 12);
  for (let bit = 0; bit < 12; bit++) assert.equal(parsePermissions(formatPermissions(1 << bit)), 1 << bit, PERMISSION_NAMES[bit]);
  for (let m = 0; m <= 0xfff; m += 37) assert.equal(parsePermissions(formatPermissions(m)), m);
  assert.equal(parsePermissions('011111110011'), 0x7f3, 'the REST API bit string');
  assert.throws(() => parsePermissions('add-handle,fly'), /"fly" is not a permission/);
  assert.throws(() => parsePermissions(''), UsageError);
});

test('HS_VLIST: members print as INDEX:HANDLE,… and read back; an empty group is none', () => {
  const list = (entries: Array<{ handle: string; index: number }>) => makeValue(200, 'HS_VLIST', encodeVList(entries));
  const v = list([{ handle: '88.118.8/A', index: 300 }, { handle: '88.118.8/B', index: 301 }]);
  assert.equal(formatData(v), '300:88.118.8/A,301:88.118.8/B');
  roundTrips(v);
  jsonRoundTrips(v);
  roundTrips(list([]));
  roundTrips(list([{ handle: '88.118.8/with,comma', index: 0 }, { handle: '88.118.8/with space', index: 7 }]));
  assert.deepEqual(parseData('HS_VLIST', '300:88.118.8/A, 301:88.118.8/B').data, v.data, 'spaces after commas are fine');
  assert.throws(() => parseData('HS_VLIST', '88.118.8/A'), /not INDEX:HANDLE/);
});

test('HS_SITE: a site as `prefix delegate` builds it prints as servers and options and reads back; with keys it points to keys=fetch or JSON', () => {
  const servers = [{ address: '10.0.0.1', port: 2641 }, { address: '::1', port: 2642 }];
  const plain = makeValue(1, 'HS_SITE', encodeSite(siteOf(servers, { hashOption: HashOption.BY_PREFIX, description: 'site of 88.118.9', serial: 7 })));
  assert.equal(formatData(plain), '10.0.0.1:2641,[::1]:2642 hash=prefix serial=7 desc="site of 88.118.9"');
  roundTrips(plain);
  jsonRoundTrips(plain);
  roundTrips(makeValue(2, 'HS_SITE.PREFIX', encodeSite({ ...siteOf([servers[0]!]), protocolMinor: 10, primary: false, multiPrimary: true })));
  // With the servers' keys (what delegation writes when the servers answer): the text shows them but cannot carry them.
  const key = encodePublicKey(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey);
  const keyed = makeValue(1, 'HS_SITE', encodeSite(siteOf([{ ...servers[0]!, publicKey: key }])));
  assert.match(formatData(keyed), /^10\.0\.0\.1:2641 hash=handle serial=1 \(keys SHA256:[A-Za-z0-9+/]{43}\)$/);
  assert.equal(isWholeForm(keyed), false);
  assert.throws(() => parseData('HS_SITE', formatData(keyed)), /keys=fetch.*--json-value/);
  jsonRoundTrips(keyed);
  assert.equal(typeof parseData('HS_SITE', '10.0.0.1:2641 keys=fetch').complete, 'function');
  assert.throws(() => parseData('HS_SITE', 'example.com:2641'), /not address:port/);
  assert.throws(() => parseData('HS_SITE', '10.0.0.1:2641 hash=random'), /prefix, suffix or handle/);
});

test('HS_SECKEY: hidden unless asked, private whatever option gave it, and the shown secret reads back', () => {
  const v = makeValue(301, 'HS_SECKEY', 'geheim', { permissions: Perm.ADMIN_READ | Perm.ADMIN_WRITE });
  assert.doesNotMatch(formatData(v), /geheim/);
  assert.match(formatData(v), /secret, 6 bytes/);
  assert.equal(formatData(v, { showSecrets: true }), 'geheim');
  assert.ok(isWholeForm(v, { showSecrets: true }));
  assert.equal(isWholeForm(v), false);
  const spec = parseValueSpec('301:HS_SECKEY=geheim');
  assert.equal(spec.permissions, Perm.ADMIN_READ | Perm.ADMIN_WRITE, 'a --value secret is still private');
  const json = valuesToJson([v])[0]!;
  assert.equal(JSON.stringify(json).includes('geheim'), false);
  assert.equal(valuesToJson([v], { showSecrets: true })[0]!.data.value, 'geheim');
  jsonRoundTrips(v);
});

test('HS_PUBKEY: printed as algorithm, size and fingerprint (RSA, SM2, PEM); read from @FILE in every key form', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'idres-forms-'));
  try {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const sm2 = generateSm2KeyPair();
    const rsaBin = encodePublicKey(rsa.publicKey);
    const sm2Bin = encodePublicKey(sm2.publicKey);
    const rsaV = makeValue(300, 'HS_PUBKEY', rsaBin);
    const sm2V = makeValue(300, 'HS_PUBKEY', sm2Bin);
    assert.match(formatData(rsaV), /^RSA 2048-bit SHA256:[A-Za-z0-9+/]{43}$/);
    assert.match(formatData(sm2V), /^SM2 256-bit SHA256:[A-Za-z0-9+/]{43}$/);
    const pemV = makeValue(300, 'HS_PUBKEY', Buffer.from(rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string));
    assert.equal(formatData(pemV), `${formatData(rsaV)} (PEM)`, 'the same key, whatever its storage, has one fingerprint');
    // The printed form does not carry the key: an HS_PUBKEY comes from a file.
    assert.throws(() => parseData('HS_PUBKEY', formatData(rsaV)), /@FILE/);
    const files: Array<[string, Buffer | string, Buffer]> = [
      ['op.pub.bin', rsaBin, rsaBin],
      ['op.pub.pem', rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string, rsaBin],
      ['op.key.pem', rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, rsaBin],
      ['sm2.key.pem', sm2.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, sm2Bin],
      ['sm2.pub.bin', sm2Bin, sm2Bin],
    ];
    for (const [name, content, expected] of files) {
      const f = path.join(dir, name);
      writeFileSync(f, content);
      assert.deepEqual(parseData('HS_PUBKEY', `@${f}`).data, expected, name);
    }
    writeFileSync(path.join(dir, 'junk'), 'not a key');
    assert.throws(() => parseData('HS_PUBKEY', `@${path.join(dir, 'junk')}`), UsageError);
    assert.throws(() => parseData('HS_PUBKEY', `@${path.join(dir, 'missing')}`), /cannot read the key file/);
    // JSON: RSA in the reference's form as a JWK, the rest (SM2, PEM text) as their bytes; all read back.
    assert.equal(valueToJson(rsaV).data.format, 'key');
    assert.equal(valueToJson(pemV).data.format, 'string');
    for (const v of [rsaV, sm2V, pemV]) jsonRoundTrips(v);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('other types: text reads back as its text; structured values that do not decode are shown as their bytes', () => {
  roundTrips(makeValue(1, 'URL', 'https://example.cn/p?a=1 b'));
  const broken = makeValue(100, 'HS_ADMIN', Buffer.from([1, 2, 3]));
  assert.equal(formatData(broken), `base64:${Buffer.from([1, 2, 3]).toString('base64')}`);
  jsonRoundTrips(broken);
});
