// SM3 and SM2 (src/protocol/sm2.ts), SM2 keys as HS_PUBKEY data (pubkey.ts) and SM2 challenge answers
// (auth-crypto.ts), against published vectors and the national SDK's own keys (test/vectors/sm2/README.md):
// - SM3: GB/T 32905-2016 (GM/T 0004-2012) Appendix A, examples 1 and 2.
// - SM2: GB/T 32918.5-2017 (GM/T 0003.5-2012) Annex A, the signature example on the recommended curve.
// - SM2 with another user ID: OpenSSL's test/evp_extra_test.c, test_EVP_SM2_verify.
// - Keys and a challenge answer in the form teleinfo id-pointer-sdk writes and signs them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type KeyObject, createECDH, createHash, createPrivateKey, createPublicKey, createSign, generateKeyPairSync, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './helpers/paths.js';
import {
  SM2_DEFAULT_USER_ID,
  generateSm2KeyPair,
  isSm2Key,
  sm2PublicKeyFromSpki,
  sm2PublicPoint,
  sm2Sign,
  sm2Verify,
  sm2Z,
  sm3,
} from '../src/protocol/sm2.js';
import { SM2_KEY_TYPE, decodePublicKey, encodePublicKey } from '../src/protocol/pubkey.js';
import { signChallenge, signPubkeyAnswer, verifyPubkeyAnswer } from '../src/protocol/auth-crypto.js';
import { challengeMessage, decodePubkeyResponse, encodePubkeyResponse } from '../src/protocol/auth-bodies.js';
import { DecodeError } from '../src/protocol/errors.js';
import { ResponseCode } from '../src/protocol/constants.js';
import { Writer } from '../src/protocol/writer.js';

const hex = (h: string) => Buffer.from(h.replace(/\s+/g, ''), 'hex');
const utf8 = (s: string) => Buffer.from(s, 'utf8');
const vector = (name: string) => readFileSync(path.join(repoRoot, 'test/vectors/sm2', name));
const spkiOf = (key: KeyObject) => key.export({ type: 'spki', format: 'der' });
const build = (f: (w: Writer) => Writer) => Buffer.from(f(new Writer()).finish());
const sm2PubKeyData = (spki: Uint8Array) => build((w) => w.utf8('SM2_PUB_KEY').u16(0).byteString(spki));

/** The DER SubjectPublicKeyInfo of an SM2 point: id-ecPublicKey with the curve 1.2.156.10197.1.301. */
const SM2_SPKI_PREFIX = hex('3059301306072A8648CE3D020106082A811CCF5501822D034200');
/** An SM2 private key as unencrypted PKCS#8 (RFC 5915 ECPrivateKey inside, no parameters, with the public point). */
function sm2Pkcs8(d: Buffer, point: Buffer): KeyObject {
  const der = Buffer.concat([hex('308187020100301306072A8648CE3D020106082A811CCF5501822D046D306B0201010420'), d, hex('A144034200'), point]);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

/** A DER INTEGER's content for an unsigned 32-byte value (a leading 00 when the top bit is set). */
function derInt(v: Buffer): Buffer {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0 && !(v[i + 1]! & 0x80)) i++;
  const body = v[i]! & 0x80 ? Buffer.concat([Buffer.from([0]), v.subarray(i)]) : v.subarray(i);
  return Buffer.concat([Buffer.from([2, body.length]), body]);
}
const derSig = (r: Buffer, s: Buffer) => {
  const body = Buffer.concat([derInt(r), derInt(s)]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
};

/** Assert fn throws a DecodeError, and (if given) with one of the codes. */
function throwsDecode(fn: () => unknown, codes: readonly number[], what: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DecodeError, `${what}: threw ${String(err)} instead of a DecodeError`);
    assert.ok(codes.includes(err.responseCode), `${what}: response code ${err.responseCode}, expected one of ${codes.join(', ')}`);
    return true;
  });
}
const INVALID = [ResponseCode.INVALID_VALUE] as const;
/** Framing errors (a length past the end, bytes left over) come from the Reader: PROTOCOL_ERROR, or 202. */
const FRAMING = [ResponseCode.PROTOCOL_ERROR, ResponseCode.INVALID_VALUE] as const;

// ---------------------------------------------------------------------------------------------------------------
// SM3

test('SM3: the two examples of GB/T 32905-2016 Appendix A, in one part or several', () => {
  // Example 1: "abc". Example 2: "abcd" x 16 (512 bits, so padding takes a second block).
  assert.equal(sm3(utf8('abc')).toString('hex'), '66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0');
  const abcd16 = utf8('abcd'.repeat(16));
  const e2 = 'debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732';
  assert.equal(sm3(abcd16).toString('hex'), e2);
  assert.equal(sm3(abcd16.subarray(0, 5), abcd16.subarray(5, 63), abcd16.subarray(63)).toString('hex'), e2);
  assert.equal(sm3().toString('hex'), createHash('sm3').digest('hex'));
  assert.equal(sm3(utf8('abc')).length, 32);
});

// ---------------------------------------------------------------------------------------------------------------
// GB/T 32918.5-2017 (GM/T 0003.5-2012) Annex A: digital signature on the recommended curve sm2p256v1.
// Private key dA, ID_A = "1234567812345678" (ENTL_A = 0x0080), M = "message digest"; the published Z_A, e and
// the signature (r, s) made with the example's fixed k.
const ANNEX_A = {
  d: hex('3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8'),
  x: '09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020',
  y: 'CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13',
  id: '1234567812345678',
  message: 'message digest',
  z: 'B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3',
  e: 'F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640',
  r: 'F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3',
  s: 'B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA',
};
const annexPoint = hex('04' + ANNEX_A.x + ANNEX_A.y);
const annexSignature = derSig(hex(ANNEX_A.r), hex(ANNEX_A.s));

test('Annex A: the public point of dA, Z_A and e', () => {
  // The point from dA by an independent route (OpenSSL's ECDH on the SM2 curve).
  const ecdh = createECDH('SM2');
  ecdh.setPrivateKey(ANNEX_A.d);
  assert.deepEqual(ecdh.getPublicKey(), annexPoint);

  const pub = sm2PublicKeyFromSpki(Buffer.concat([SM2_SPKI_PREFIX, annexPoint]));
  assert.equal(isSm2Key(pub), true);
  assert.deepEqual(sm2PublicPoint(pub), annexPoint);
  const priv = sm2Pkcs8(ANNEX_A.d, annexPoint);
  assert.equal(isSm2Key(priv), true);
  assert.deepEqual(sm2PublicPoint(priv), annexPoint);

  assert.equal(SM2_DEFAULT_USER_ID, ANNEX_A.id);
  const z = sm2Z(utf8(ANNEX_A.id), annexPoint);
  assert.equal(z.toString('hex').toUpperCase(), ANNEX_A.z);
  assert.equal(sm3(z, utf8(ANNEX_A.message)).toString('hex').toUpperCase(), ANNEX_A.e);
});

test('Annex A: the published (r, s) verifies, and nothing else does', () => {
  const pub = sm2PublicKeyFromSpki(Buffer.concat([SM2_SPKI_PREFIX, annexPoint]));
  const id = utf8(ANNEX_A.id);
  const m = utf8(ANNEX_A.message);
  assert.equal(sm2Verify(pub, id, m, annexSignature), true);
  assert.equal(sm2Verify(pub, utf8('ALICE123@YAHOO.COM'), m, annexSignature), false);
  assert.equal(sm2Verify(pub, Buffer.alloc(0), m, annexSignature), false);
  assert.equal(sm2Verify(pub, id, utf8('message digesT'), annexSignature), false);
  assert.equal(sm2Verify(pub, id, utf8('message digest '), annexSignature), false);
  // The message is M itself, not a digest of it.
  assert.equal(sm2Verify(pub, id, sm3(m), annexSignature), false);
  // s with its last digit changed (...85BBE1AA instead of ...85BBC1AA), and r and s swapped.
  assert.equal(sm2Verify(pub, id, m, derSig(hex(ANNEX_A.r), hex(ANNEX_A.s.replace(/C1AA$/, 'E1AA')))), false);
  assert.equal(sm2Verify(pub, id, m, derSig(hex(ANNEX_A.s), hex(ANNEX_A.r))), false);
  // Signed with the example's private key (random k this time): verifies under the example's ID only.
  const priv = sm2Pkcs8(ANNEX_A.d, annexPoint);
  const mine = sm2Sign(priv, id, m);
  assert.equal(sm2Verify(pub, id, m, mine), true);
  assert.equal(sm2Verify(pub, utf8('1234567812345679'), m, mine), false);
});

test('another user ID: the SM2 signature of OpenSSL test_EVP_SM2_verify (ID "ALICE123@YAHOO.COM")', () => {
  // openssl/openssl test/evp_extra_test.c: public key, ID, message "message digest" and a DER signature.
  const pem =
    '-----BEGIN PUBLIC KEY-----\n' +
    'MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAEp1KLWq1ZE2jmoAnnBJE1LBGxVr18\n' +
    'YvvqECWCpXfAQ9qUJ+UmthnUPf0iM3SaXKHe6PlLIDyNlWMWb9RUh/yU3g==\n' +
    '-----END PUBLIC KEY-----\n';
  const signature = hex(
    '304402205bdbab814fbb8b69b1059c993bb245064a30155984cdee3060365787ef5cd0be' + '0220438d1fc7777239bb72e1fd0758d582c82dba3b2c4624e350ff04c7a0719fa470',
  );
  const key = decodePublicKey(utf8(pem));
  assert.equal(isSm2Key(key), true);
  const m = utf8('message digest');
  assert.equal(sm2Verify(key, utf8('ALICE123@YAHOO.COM'), m, signature), true);
  assert.equal(sm2Verify(key, utf8('alice123@yahoo.com'), m, signature), false);
  assert.equal(sm2Verify(key, utf8(SM2_DEFAULT_USER_ID), m, signature), false);
});

test("sm2Z checks its inputs: a 65-byte uncompressed point, an ID of at most 8191 bytes (ENTL is 16 bits)", () => {
  const { publicKey } = generateSm2KeyPair();
  const point = sm2PublicPoint(publicKey);
  assert.equal(point.length, 65);
  assert.equal(point[0], 4);
  assert.deepEqual(spkiOf(publicKey).subarray(-65), point);
  assert.equal(sm2Z(Buffer.alloc(8191, 0x61), point).length, 32);
  assert.throws(() => sm2Z(Buffer.alloc(8192, 0x61), point));
  assert.throws(() => sm2Z(utf8('id'), point.subarray(1)));
  assert.throws(() => sm2Z(utf8('id'), Buffer.concat([Buffer.from([2]), point.subarray(1, 33), Buffer.alloc(32)])));
  // Z_A = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA), ENTL the ID's length in bits as two bytes (GB/T 32918.2 §5.5),
  // with the curve's a, b, G from GB/T 32918.5 §3: here for IDs whose ENTL needs the high byte.
  const curve = hex(
    'FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC 28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93' +
      '32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7 BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0',
  );
  for (const n of [0, 1, 31, 32, 33, 100, 8191]) {
    const id = Buffer.alloc(n, 0x41 + (n % 26));
    const entl = Buffer.from([(n * 8) >> 8, (n * 8) & 0xff]);
    const expected = createHash('sm3').update(entl).update(id).update(curve).update(point.subarray(1)).digest();
    assert.deepEqual(sm2Z(id, point), expected, `an ID of ${n} bytes`);
  }
  // Z_A depends on the ID and on the point.
  const other = sm2PublicPoint(generateSm2KeyPair().publicKey);
  assert.notDeepEqual(sm2Z(utf8('a'), point), sm2Z(utf8('b'), point));
  assert.notDeepEqual(sm2Z(utf8('a'), point), sm2Z(utf8('a'), other));
  assert.notDeepEqual(sm2Z(Buffer.alloc(0), point), sm2Z(Buffer.from([0]), point));
});

// ---------------------------------------------------------------------------------------------------------------
// Fresh keys

test('round trip with fresh keys and a handle as the user ID; a wrong ID, message or signature byte is refused', () => {
  const { privateKey, publicKey } = generateSm2KeyPair();
  assert.equal(isSm2Key(privateKey), true);
  assert.equal(isSm2Key(publicKey), true);
  assert.deepEqual(sm2PublicPoint(privateKey), sm2PublicPoint(publicKey));
  const id = utf8('88.888.1024/sm2user1');
  const m = utf8('nonce and request digest');
  const sig = sm2Sign(privateKey, id, m);
  // A DER SEQUENCE of two INTEGERs, each at most 33 bytes.
  assert.equal(sig[0], 0x30);
  assert.equal(sig[1], sig.length - 2);
  assert.ok(sig.length >= 8 && sig.length <= 72, `signature of ${sig.length} bytes`);
  assert.equal(sm2Verify(publicKey, id, m, sig), true);
  assert.equal(sm2Verify(privateKey, id, m, sig), true, 'the private key verifies too');
  assert.equal(sm2Verify(publicKey, utf8('88.888.1024/sm2user2'), m, sig), false);
  assert.equal(sm2Verify(publicKey, utf8(SM2_DEFAULT_USER_ID), m, sig), false);
  assert.equal(sm2Verify(publicKey, Buffer.alloc(0), m, sig), false);
  assert.equal(sm2Verify(publicKey, id, utf8('nonce and request digesT'), sig), false);
  assert.equal(sm2Verify(publicKey, id, Buffer.concat([m, Buffer.alloc(1)]), sig), false);
  assert.equal(sm2Verify(generateSm2KeyPair().publicKey, id, m, sig), false, 'another key');
  for (let i = 0; i < sig.length; i++) {
    const bad = Buffer.from(sig);
    bad[i]! ^= i < 6 ? 0x01 : 0x80;
    assert.equal(sm2Verify(publicKey, id, m, bad), false, `signature byte ${i} changed`);
  }
  // Malformed signatures are "does not verify", not exceptions.
  for (const bad of [Buffer.alloc(0), Buffer.alloc(64, 0x55), sig.subarray(0, sig.length - 1), Buffer.concat([sig, Buffer.alloc(1)]), derSig(Buffer.alloc(32), Buffer.alloc(32))]) {
    assert.equal(sm2Verify(publicKey, id, m, bad), false);
  }
  // The empty ID is an ID like any other.
  const empty = sm2Sign(privateKey, Buffer.alloc(0), m);
  assert.equal(sm2Verify(publicKey, Buffer.alloc(0), m, empty), true);
  assert.equal(sm2Verify(publicKey, id, m, empty), false);
});

test("what is signed agrees with OpenSSL's own SM2 (its one-shot sign and verify compute Z_A themselves, with their default ID)", () => {
  // crypto.sign/verify on an SM2 key run OpenSSL's SM2 with Z_A computed inside OpenSSL; sm2Sign/sm2Verify compute
  // Z_A themselves. Whatever ID OpenSSL uses by default (empty in OpenSSL 3), both directions must agree under it.
  const { privateKey, publicKey } = generateSm2KeyPair();
  const m = utf8('a message');
  const native = sign('sm3', m, privateKey);
  const nativeId = ['', SM2_DEFAULT_USER_ID].find((id) => sm2Verify(publicKey, utf8(id), m, native));
  assert.notEqual(nativeId, undefined, "OpenSSL's SM2 signature verifies under neither the empty ID nor 1234567812345678");
  const ours = sm2Sign(privateKey, utf8(nativeId!), m);
  assert.equal(verify('sm3', m, publicKey, ours), true);
  assert.equal(verify('sm3', m, publicKey, sm2Sign(privateKey, utf8(nativeId + 'x'), m)), false);
});

test('a generic EC key on the SM2 curve (fresh from generateKeyPairSync) is not an SM2 key, nor is a P-256, RSA or Ed25519 key', () => {
  const generic = generateKeyPairSync('ec', { namedCurve: 'SM2' });
  assert.equal(generic.privateKey.asymmetricKeyType, 'ec');
  assert.equal(isSm2Key(generic.privateKey), false);
  assert.equal(isSm2Key(generic.publicKey), false);
  // It would sign ECDSA, so sm2Sign refuses it, and sm2Verify refuses to use it.
  assert.throws(() => sm2Sign(generic.privateKey, utf8('id'), utf8('m')), /not an SM2 private key/);
  const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const ed = generateKeyPairSync('ed25519');
  for (const [name, k] of [['P-256', p256], ['RSA', rsa], ['Ed25519', ed]] as const) {
    assert.equal(isSm2Key(k.privateKey), false, `${name} private`);
    assert.equal(isSm2Key(k.publicKey), false, `${name} public`);
    assert.throws(() => sm2Sign(k.privateKey, utf8('id'), utf8('m')), /not an SM2 private key/, name);
    assert.equal(sm2Verify(k.publicKey, utf8('id'), utf8('m'), Buffer.alloc(70)), false, name);
  }
  assert.throws(() => sm2PublicKeyFromSpki(spkiOf(p256.publicKey)), /not an SM2 public key/);
  assert.throws(() => sm2PublicKeyFromSpki(Buffer.from('not DER')));

  // The same key through its SPKI / PKCS#8 is an SM2 key, and signs and verifies as one.
  const pub = sm2PublicKeyFromSpki(spkiOf(generic.publicKey));
  const priv = createPrivateKey({ key: generic.privateKey.export({ type: 'pkcs8', format: 'der' }), format: 'der', type: 'pkcs8' });
  assert.equal(isSm2Key(pub) && isSm2Key(priv), true);
  const sig = sm2Sign(priv, utf8('id'), utf8('m'));
  assert.equal(sm2Verify(pub, utf8('id'), utf8('m'), sig), true);
  assert.equal(sm2Verify(generic.publicKey, utf8('id'), utf8('m'), sig), false, 'the generic EC key is never used to verify');
  // An ECDSA signature by the generic key (e = SM3(M), no Z_A) is not an SM2 signature.
  const ecdsa = createSign('sm3').update(utf8('m')).sign(generic.privateKey);
  assert.equal(sm2Verify(pub, utf8('id'), utf8('m'), ecdsa), false);
});

test('generateSm2KeyPair gives a new key each time', () => {
  const a = generateSm2KeyPair();
  const b = generateSm2KeyPair();
  assert.notDeepEqual(sm2PublicPoint(a.publicKey), sm2PublicPoint(b.publicKey));
  assert.deepEqual(spkiOf(createPublicKey(a.privateKey)), spkiOf(a.publicKey));
});

// ---------------------------------------------------------------------------------------------------------------
// HS_PUBKEY data

test('HS_PUBKEY: an SM2 key is str "SM2_PUB_KEY" | u16 0 | str SPKI DER, and decodes back to the same SM2 key', () => {
  const { publicKey } = generateSm2KeyPair();
  const spki = spkiOf(publicKey);
  assert.equal(spki.length, 91);
  const data = encodePublicKey(publicKey);
  assert.equal(SM2_KEY_TYPE, 'SM2_PUB_KEY');
  assert.deepEqual(data, Buffer.concat([hex('0000000b'), utf8('SM2_PUB_KEY'), hex('0000'), hex('0000005b'), spki]));
  assert.deepEqual(data, sm2PubKeyData(spki));
  const back = decodePublicKey(data);
  assert.equal(isSm2Key(back), true);
  assert.deepEqual(spkiOf(back), spki);
  assert.deepEqual(encodePublicKey(back), data);
  // The decoded key verifies what the private key signs.
  const { privateKey } = generateSm2KeyPair();
  const pair = decodePublicKey(encodePublicKey(createPublicKey(privateKey)));
  assert.equal(sm2Verify(pair, utf8('h'), utf8('m'), sm2Sign(privateKey, utf8('h'), utf8('m'))), true);
});

test('HS_PUBKEY as PEM text: an SM2 SPKI and an RSA SPKI are read, in LF or CRLF form; other keys and bad PEM are 202', () => {
  const sm2 = generateSm2KeyPair().publicKey;
  const pem = sm2.export({ type: 'spki', format: 'pem' }) as string;
  for (const text of [pem, pem.replace(/\n/g, '\r\n'), pem.trimEnd()]) {
    const key = decodePublicKey(utf8(text));
    assert.equal(isSm2Key(key), true);
    assert.deepEqual(spkiOf(key), spkiOf(sm2));
  }
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
  const rsaKey = decodePublicKey(utf8(rsa.export({ type: 'spki', format: 'pem' }) as string));
  assert.equal(rsaKey.asymmetricKeyType, 'rsa');
  assert.deepEqual(spkiOf(rsaKey), spkiOf(rsa));

  const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
  throwsDecode(() => decodePublicKey(utf8(p256)), INVALID, 'P-256 PEM');
  const ed = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string;
  throwsDecode(() => decodePublicKey(utf8(ed)), INVALID, 'Ed25519 PEM');
  // A generic EC key on the SM2 curve written as PEM is an SM2 SPKI: read as SM2.
  const genericPem = generateKeyPairSync('ec', { namedCurve: 'SM2' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
  assert.equal(isSm2Key(decodePublicKey(utf8(genericPem))), true);
  throwsDecode(() => decodePublicKey(utf8('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n')), INVALID, 'garbage PEM');
  throwsDecode(() => decodePublicKey(utf8('-----BEGIN PUBLIC KEY-----\n')), INVALID, 'PEM header only');
  throwsDecode(() => decodePublicKey(utf8(pem.slice(0, 60))), INVALID, 'cut PEM');
  throwsDecode(() => decodePublicKey(utf8(pem.replace('-----END PUBLIC KEY-----', '') + 'A'.repeat(9000))), INVALID, 'PEM over 8 KiB');
  assert.equal(isSm2Key(decodePublicKey(utf8(pem + '\n'.repeat(8192 - pem.length)))), true, 'a PEM of 8 KiB');
  throwsDecode(() => decodePublicKey(utf8(pem + '\n'.repeat(8193 - pem.length))), INVALID, 'a valid PEM padded past 8 KiB');
  const privPem = generateSm2KeyPair().privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  assert.throws(() => decodePublicKey(utf8(privPem)), DecodeError, 'a private key PEM is not HS_PUBKEY data');
});

test('HS_PUBKEY "SM2_PUB_KEY" data that is not an SM2 key is a DecodeError (202); so is every cut or padded form', () => {
  const { publicKey } = generateSm2KeyPair();
  const spki = spkiOf(publicKey);
  const offCurve = Buffer.from(spki);
  offCurve[offCurve.length - 1]! ^= 1;
  const contents: Array<[string, Buffer]> = [
    ['empty SPKI', Buffer.alloc(0)],
    ['garbage', Buffer.alloc(91, 0x55)],
    ['the bare point', sm2PublicPoint(publicKey)],
    ['a point off the curve', offCurve],
    ['a P-256 SPKI', spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey)],
    ['an RSA SPKI', spkiOf(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey)],
    ['an Ed25519 SPKI', spkiOf(generateKeyPairSync('ed25519').publicKey)],
  ];
  for (const [name, inner] of contents) throwsDecode(() => decodePublicKey(sm2PubKeyData(inner)), INVALID, name);

  const data = sm2PubKeyData(spki);
  for (let n = 0; n < data.length; n++) throwsDecode(() => decodePublicKey(data.subarray(0, n)), FRAMING, `cut to ${n} bytes`);
  throwsDecode(() => decodePublicKey(Buffer.concat([data, Buffer.alloc(1)])), FRAMING, 'a trailing byte');
  throwsDecode(() => decodePublicKey(Buffer.concat([data, Buffer.alloc(4)])), FRAMING, 'an RSA-style trailer');
  throwsDecode(() => decodePublicKey(sm2PubKeyData(Buffer.alloc(1025, 0x30))), FRAMING, 'a 1025-byte SPKI');
  const lying = Buffer.from(data);
  lying.writeUInt32BE(0xffffffff, 17);
  throwsDecode(() => decodePublicKey(lying), FRAMING, 'an SPKI length past the end');

  // Any one byte of the SPKI changed: an SM2 key still (same curve, some valid point) or a DecodeError, nothing else.
  for (let i = 0; i < spki.length; i++) {
    const bad = Buffer.from(spki);
    bad[i]! ^= 0xa5;
    let key: KeyObject;
    try {
      key = decodePublicKey(sm2PubKeyData(bad));
    } catch (err) {
      assert.ok(err instanceof DecodeError, `SPKI byte ${i} changed: ${String(err)}`);
      continue;
    }
    assert.equal(isSm2Key(key), true, `SPKI byte ${i} changed decoded to a key that is not SM2`);
  }
});

// ---------------------------------------------------------------------------------------------------------------
// The national SDK's keys (test/vectors/sm2/README.md)

const sdkPublicPem = vector('sdk-sm2user-public.pem').toString('utf8');
const sdkPrivatePem = vector('sdk-sm2user-private.pem').toString('utf8');
/** KeyConverter.toX509Pem: the same base64 lines with CRLF ends and a final CRLF; newIdisPublicKeyValue stores that. */
const asSdkWritesIt = (pem: string) => pem.trim().split('\n').join('\r\n') + '\r\n';
interface SdkAnswer {
  identityHandle: string;
  requestDigestOf: string;
  nonce: string;
  requestDigest: string;
  sm3OfNonceAndDigest: string;
  zA?: string;
  signature: string;
}
const sdkAnswers = (JSON.parse(vector('sdk-sm2user-challenge-answer.json').toString('utf8')) as { answers: SdkAnswer[] }).answers;

test("the SDK's SM2 keys: its PEM (as written and as stored), its SM2_PUB_KEY form and its private key agree", () => {
  const binary = hex(vector('sdk-sm2user-SM2_PUB_KEY.hex').toString('ascii'));
  const fromPem = decodePublicKey(utf8(sdkPublicPem));
  const fromSdkPem = decodePublicKey(utf8(asSdkWritesIt(sdkPublicPem)));
  const fromBinary = decodePublicKey(binary);
  for (const key of [fromPem, fromSdkPem, fromBinary]) assert.equal(isSm2Key(key), true);
  assert.deepEqual(spkiOf(fromSdkPem), spkiOf(fromPem));
  assert.deepEqual(spkiOf(fromBinary), spkiOf(fromPem));
  assert.deepEqual(
    sm2PublicPoint(fromPem),
    hex('041c5923284773341374751ecab5a802a0e3b08f3f8438ea23a3157de71e4ef94333220542c8a5a126167f0788c8b825518299aa03b4793dfd39af7fd31a390335'),
  );
  // Our binary form of the SDK's key is the SDK's binary form, byte for byte.
  assert.deepEqual(encodePublicKey(fromPem), binary);
  assert.deepEqual(encodePublicKey(fromBinary), binary);

  const priv = createPrivateKey(sdkPrivatePem);
  assert.equal(isSm2Key(priv), true);
  assert.deepEqual(sm2PublicPoint(priv), sm2PublicPoint(fromPem));

  // The SDK's CertTest root key pair too.
  const rootPub = decodePublicKey(utf8(asSdkWritesIt(vector('sdk-certtest-root-public.pem').toString('utf8'))));
  const rootPriv = createPrivateKey(vector('sdk-certtest-root-private.pem').toString('utf8'));
  assert.equal(isSm2Key(rootPub) && isSm2Key(rootPriv), true);
  assert.deepEqual(sm2PublicPoint(rootPriv), sm2PublicPoint(rootPub));
  assert.notDeepEqual(sm2PublicPoint(rootPub), sm2PublicPoint(fromPem));

  // The SDK's RSA identity key, stored as PEM text the same way, is read as RSA.
  const rsa = decodePublicKey(utf8(asSdkWritesIt(vector('sdk-admin-rsa-public.pem').toString('utf8'))));
  assert.equal(rsa.asymmetricKeyType, 'rsa');
  assert.equal(rsa.asymmetricKeyDetails?.modulusLength, 2048);
  assert.equal(isSm2Key(rsa), false);
});

test("the SDK's challenge answers (SM2 over SM3(nonce ‖ digest), the handle as user ID) verify, for their handle only", () => {
  const pemData = utf8(asSdkWritesIt(sdkPublicPem));
  const binData = hex(vector('sdk-sm2user-SM2_PUB_KEY.hex').toString('ascii'));
  const key = decodePublicKey(binData);
  assert.equal(sdkAnswers.length, 2);
  for (const c of sdkAnswers) {
    const nonce = hex(c.nonce);
    const digest = hex(c.requestDigest);
    assert.deepEqual(digest, createHash('sha256').update(c.requestDigestOf).digest());
    const message = challengeMessage(nonce, digest);
    assert.deepEqual(message, Buffer.concat([nonce, digest]));
    assert.equal(sm3(message).toString('hex'), c.sm3OfNonceAndDigest);
    if (c.zA) assert.equal(sm2Z(utf8(c.identityHandle), sm2PublicPoint(key)).toString('hex'), c.zA);
    const signature = hex(c.signature);
    // The SDK's signed response: writeByteArray(HASH_ALG_SM3) ‖ writeByteArray(signature).
    const answer = build((w) => w.byteString(utf8('SM3')).byteString(signature));
    assert.deepEqual(encodePubkeyResponse('SM3', signature), answer);

    const handle = c.identityHandle;
    const others = ['88.888.1/sm2user', handle.slice(0, -1), handle + ' ', handle.toUpperCase(), handle.replace('1024', '1025')].filter((h) => h !== handle);
    for (const keyData of [pemData, binData, utf8(sdkPublicPem)]) {
      assert.equal(verifyPubkeyAnswer(keyData, answer, message, handle), true, handle);
      for (const other of others) assert.equal(verifyPubkeyAnswer(keyData, answer, message, other), false, `${handle} checked as ${other}`);
      assert.equal(verifyPubkeyAnswer(keyData, answer, Buffer.concat([nonce, Buffer.alloc(32)]), handle), false);
      assert.equal(verifyPubkeyAnswer(keyData, answer, sm3(message), handle), false, 'the answer signs SM3(message), not the message: the verifier hashes');
    }
    // Directly: SM2 with the handle as ID over the 32 bytes SM3(nonce ‖ digest).
    assert.equal(sm2Verify(key, utf8(handle), sm3(message), signature), true);
    assert.equal(sm2Verify(key, utf8(handle), message, signature), false);
    // The same answer against another SM2 key, or an RSA key, does not verify.
    assert.equal(verifyPubkeyAnswer(encodePublicKey(generateSm2KeyPair().publicKey), answer, message, handle), false);
    assert.equal(verifyPubkeyAnswer(utf8(asSdkWritesIt(vector('sdk-admin-rsa-public.pem').toString('utf8'))), answer, message, handle), false);
  }
});

test("signPubkeyAnswer (and signChallenge) with the SDK's private key sign as the SDK does, and verifyPubkeyAnswer takes it", () => {
  const priv = createPrivateKey(sdkPrivatePem);
  const pub = decodePublicKey(utf8(sdkPublicPem));
  for (const c of sdkAnswers) {
    const handle = c.identityHandle;
    const message = challengeMessage(hex(c.nonce), hex(c.requestDigest));
    for (const version of [[2, 11], [2, 10], [2, 1]] as Array<[number, number]>) {
      const answer = signPubkeyAnswer(priv, message, version, handle);
      const { hashAlg, signature } = decodePubkeyResponse(answer);
      assert.equal(hashAlg.toString('latin1'), 'SM3', `the hash name for ${version.join('.')}`);
      assert.equal(signature[0], 0x30);
      assert.deepEqual(answer, encodePubkeyResponse('SM3', signature));
      // Exactly the SDK's construction, checked with the lower-level verifier.
      assert.equal(sm2Verify(pub, utf8(handle), sm3(message), signature), true);
      assert.equal(verifyPubkeyAnswer(utf8(asSdkWritesIt(sdkPublicPem)), answer, message, handle), true);
      assert.equal(verifyPubkeyAnswer(hex(vector('sdk-sm2user-SM2_PUB_KEY.hex').toString('ascii')), answer, message, handle), true);
      assert.equal(verifyPubkeyAnswer(utf8(sdkPublicPem), answer, message, handle + '2'), false);
      const bare = signChallenge(priv, message, version, handle);
      assert.equal(bare.hashAlg, 'SM3');
      assert.equal(sm2Verify(pub, utf8(handle), sm3(message), bare.signature), true);
    }
  }
});

// ---------------------------------------------------------------------------------------------------------------
// verifyPubkeyAnswer: the hash name goes with the key type

test('verifyPubkeyAnswer: an SM2 key only with "SM3", "SM3" only with an SM2 key, and the answer is bound to the identity', () => {
  const sm2 = generateSm2KeyPair();
  const sm2Data = encodePublicKey(sm2.publicKey);
  const message = challengeMessage(Buffer.alloc(16, 7), createHash('sha256').update('request').digest());
  const a = '88.888.1/alice';
  const b = '88.888.1/bob';

  const good = signPubkeyAnswer(sm2.privateKey, message, [2, 11], a);
  assert.equal(verifyPubkeyAnswer(sm2Data, good, message, a), true);
  assert.equal(verifyPubkeyAnswer(sm2Data, good, message, b), false, 'signed for handle A, checked for handle B');
  assert.equal(verifyPubkeyAnswer(sm2Data, signPubkeyAnswer(sm2.privateKey, message, [2, 11], b), message, a), false);

  // The same SM2 signature under any other hash name.
  const { signature } = decodePubkeyResponse(good);
  for (const name of ['SHA-256', 'SHA256', 'SHA1', 'SHA-1', 'MD5', 'SM2', 'SM3WITHSM2', '']) {
    assert.equal(verifyPubkeyAnswer(sm2Data, encodePubkeyResponse(name, signature), message, a), false, `SM2 key with hash "${name}"`);
  }
  for (const code of [1, 2, 3]) {
    const oneByte = build((w) => w.byteString(Buffer.from([code])).byteString(signature));
    assert.equal(verifyPubkeyAnswer(sm2Data, oneByte, message, a), false, `SM2 key with hash type byte ${code}`);
  }

  // An RSA key: its own answer verifies; relabelled "SM3" it does not, nor does an SM2 answer.
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const rsaData = encodePublicKey(rsa.publicKey);
  const rsaAnswer = signPubkeyAnswer(rsa.privateKey, message, [2, 11], a);
  assert.equal(verifyPubkeyAnswer(rsaData, rsaAnswer, message, a), true);
  assert.equal(decodePubkeyResponse(rsaAnswer).hashAlg.toString('latin1'), 'SHA-256');
  const rsaSignature = decodePubkeyResponse(rsaAnswer).signature;
  assert.equal(verifyPubkeyAnswer(rsaData, encodePubkeyResponse('SM3', rsaSignature), message, a), false, 'RSA key with hash "SM3"');
  assert.equal(verifyPubkeyAnswer(rsaData, good, message, a), false, 'RSA key, SM2 answer');
  // An RSA PEM key with "SM3" too.
  const rsaPem = utf8(rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  assert.equal(verifyPubkeyAnswer(rsaPem, rsaAnswer, message, a), true);
  assert.equal(verifyPubkeyAnswer(rsaPem, encodePubkeyResponse('SM3', rsaSignature), message, a), false);

  // Malformed answers and key data are "does not verify", never an exception.
  for (const bad of [Buffer.alloc(0), good.subarray(0, good.length - 1), Buffer.concat([good, Buffer.alloc(1)]), encodePubkeyResponse('SM3', Buffer.alloc(0))]) {
    assert.equal(verifyPubkeyAnswer(sm2Data, bad, message, a), false);
  }
  for (const badKey of [Buffer.alloc(0), sm2Data.subarray(0, 40), sm2PubKeyData(Buffer.alloc(91, 0x55))]) {
    assert.equal(verifyPubkeyAnswer(badKey, good, message, a), false);
  }
});

test('a compressed SM2 point is refused (202): Z_A needs both coordinates, so such a key could never verify; a private key encodes as its public half', () => {
  const { privateKey, publicKey } = generateSm2KeyPair();
  const pt = sm2PublicPoint(publicKey);
  const compressedSpki = Buffer.concat([Buffer.from('3039301306072A8648CE3D020106082A811CCF5501822D032200', 'hex'), Buffer.from([pt[64]! & 1 ? 3 : 2]), pt.subarray(1, 33)]);
  const data = Buffer.from(new Writer(128).utf8(SM2_KEY_TYPE).u16(0).byteString(compressedSpki).finish());
  assert.throws(() => decodePublicKey(data), (err: unknown) => err instanceof DecodeError && err.responseCode === 202);
  assert.deepEqual(encodePublicKey(privateKey), encodePublicKey(publicKey));
});
