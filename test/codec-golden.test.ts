// The codec against byte captures from the reference server (test/vectors/handle-golden): every capture
// decodes to what the reference said it holds, and the deterministic ones re-encode byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { verifyPacket } from '../src/protocol/signing.js';
import { golden } from './helpers/paths.js';
import { decodePacket, encodePacket } from '../src/protocol/message.js';
import {
  decodeChallenge,
  decodeErrorBody,
  decodeReferral,
  decodeResolutionRequest,
  decodeResolutionResponse,
  decodeSiteInfoRequest,
  decodeSiteInfoResponse,
  encodeErrorBody,
  encodeHandleValues,
  encodeResolutionRequest,
  encodeSiteInfoRequest,
  encodeSiteInfoResponse,
} from '../src/protocol/bodies.js';
import { OpCode, OpFlag, ResponseCode } from '../src/protocol/constants.js';
import { decodeAdmin } from '../src/protocol/admin-data.js';
import { decodeSite } from '../src/protocol/site.js';
import { decodePublicKey, encodePublicKey } from '../src/protocol/pubkey.js';
import { decodeCredential } from '../src/protocol/credential.js';
import { Reassembler, fragmentPacket } from '../src/protocol/fragment.js';
import { requestDigest } from '../src/protocol/digest.js';

const reqHeader = (opCode: number, flags = 0x19000000) => ({
  opCode,
  responseCode: 0,
  opFlags: flags,
  siteSerial: 0xffff,
  recursionCount: 0,
  expiration: 0x6b49d200,
});
const env211 = { major: 2, minor: 11, compressed: false, encrypted: false, truncated: false, suggestedMajor: 2, suggestedMinor: 11, sessionId: 0, requestId: 0x1234, sequence: 0 };

test('resolution request: decodes and re-encodes byte for byte', () => {
  const bytes = golden('udp-resolve-ok.req0.bin');
  const p = decodePacket(bytes);
  assert.equal(p.envelope.requestId, 0x1234);
  assert.equal(p.envelope.suggestedMinor, 11);
  assert.equal(p.header.opCode, OpCode.RESOLUTION);
  assert.equal(p.header.opFlags, OpFlag.REC | OpFlag.CA | OpFlag.PO);
  assert.equal(p.header.siteSerial, 0xffff);
  const req = decodeResolutionRequest(p.body);
  assert.deepEqual({ h: req.handle, i: req.indexes, t: req.types }, { h: '88.118.8/ABC123', i: [], t: [] });
  const again = encodePacket(env211, reqHeader(OpCode.RESOLUTION), encodeResolutionRequest(req.handle));
  assert.deepEqual(again, bytes);
});

test('filtered and 303 requests carry their index and type lists', () => {
  const f = decodeResolutionRequest(decodePacket(golden('udp-resolve-filtered.req0.bin')).body);
  assert.deepEqual([f.indexes, f.types], [[2], ['URL']]);
  assert.deepEqual(encodeResolutionRequest(f.handle, f.indexes, f.types), decodePacket(golden('udp-resolve-filtered.req0.bin')).body);
  const r = decodeResolutionRequest(decodePacket(golden('udp-prefix-referral-303.req0.bin')).body);
  assert.equal(r.handle, '0.NA/88.118.8');
  assert.deepEqual(r.types, ['HS_SITE', 'HS_SITE.6', 'HS_SERV', 'HS_NAMESPACE']);
});

test('resolution response: values, permissions, TTL types, UTF-8 data, HS_ADMIN; re-encodes byte for byte', () => {
  for (const name of ['udp-resolve-ok.resp0.bin', 'tcp-resolve-ok.resp0.bin']) {
    const bytes = golden(name);
    const p = decodePacket(bytes);
    assert.equal(p.header.responseCode, ResponseCode.SUCCESS);
    assert.equal(p.header.opFlags >>> 0, 0x99000000);
    assert.equal(p.header.siteSerial, 1);
    assert.equal(p.header.expiration, 1795934379);
    const res = decodeResolutionResponse(p.body, false);
    assert.equal(res.handle, '88.118.8/ABC123');
    assert.deepEqual(
      res.values.map((v) => [v.index, v.type, v.ttlType, v.ttl, v.timestamp, v.permissions]),
      [
        [1, 'URL', 0, 86400, 1795891146, 0x0e],
        [2, 'EMAIL', 0, 3600, 1795891146, 0x0e],
        [3, 'productName', 1, 1795977546, 1795891146, 0x0e],
        [100, 'HS_ADMIN', 0, 86400, 1795891146, 0x0e],
      ],
    );
    assert.equal(res.values[0]!.data.toString(), 'https://example.com/product/ABC123');
    assert.equal(res.values[2]!.data.toString(), 'Widget 中文');
    assert.deepEqual(decodeAdmin(res.values[3]!.data), { permissions: 0x0fff, handle: '0.NA/88.118.8', index: 300 });
    const again = encodePacket(
      { ...env211 },
      { opCode: 1, responseCode: 1, opFlags: 0x99000000, siteSerial: 1, recursionCount: 0, expiration: 1795934379 },
      encodeHandleValues(res.handle, res.values),
    );
    assert.deepEqual(again, bytes, name);
  }
});

test('RD: the response digest is SHA-256 of the request header and body', () => {
  const req = decodePacket(golden('udp-resolve-rd.req0.bin'));
  const resp = decodePacket(golden('udp-resolve-rd.resp0.bin'));
  assert.ok(req.header.opFlags & OpFlag.RD);
  const res = decodeResolutionResponse(resp.body, true);
  assert.equal(res.digest!.type, 3);
  assert.equal(res.digest!.digest.toString('hex'), 'bb78393267dcb9c2c76c27b90c757acd02a00be9098d36b8b44ea57d8d394e1d');
  assert.deepEqual(requestDigest(req.headerAndBody, [2, 11]).subarray(1), res.digest!.digest);
  assert.equal(res.values.length, 4);
});

test('error responses: 100 (empty message), 200, 301 with its message; re-encode byte for byte', () => {
  for (const [name, rc, msg] of [
    ['udp-resolve-100', 100, ''],
    ['udp-resolve-200', 200, ''],
    ['udp-resolve-301', 301, "That prefix doesn't live here"],
  ] as const) {
    const bytes = golden(`${name}.resp0.bin`);
    const p = decodePacket(bytes);
    assert.equal(p.header.responseCode, rc);
    assert.equal(decodeErrorBody(p.body, false).message, msg);
    const again = encodePacket(env211, { ...p.header }, encodeErrorBody(msg));
    assert.deepEqual(again, bytes, name);
  }
});

test('402 challenge: digest of the request, 16-byte nonce, session id set', () => {
  const req = decodePacket(golden('udp-resolve-402-challenge.req0.bin'));
  const p = decodePacket(golden('udp-resolve-402-challenge.resp0.bin'));
  assert.equal(p.header.responseCode, ResponseCode.AUTHENTICATION_NEEDED);
  assert.equal(p.envelope.sessionId, 1);
  const c = decodeChallenge(p.body);
  assert.equal(c.nonce.toString('hex'), 'a6ae5d795a18678c98d10140336d8dec');
  assert.equal(c.digest.digest.toString('hex'), createHash('sha256').update(req.headerAndBody).digest('hex'));
});

test('GET_SITE_INFO: request "/" and the HS_SITE record; re-encodes byte for byte', () => {
  const req = decodePacket(golden('udp-siteinfo.req0.bin'));
  assert.equal(req.header.opCode, OpCode.GET_SITE_INFO);
  assert.equal(decodeSiteInfoRequest(req.body), '/');
  assert.deepEqual(encodePacket(env211, reqHeader(2), encodeSiteInfoRequest('/')), golden('udp-siteinfo.req0.bin'));
  const bytes = golden('udp-siteinfo.resp0.bin');
  const p = decodePacket(bytes);
  const site = decodeSiteInfoResponse(p.body, false);
  assert.equal(site.dataFormatVersion, 1);
  assert.deepEqual([site.protocolMajor, site.protocolMinor, site.serial, site.primary, site.multiPrimary, site.hashOption], [2, 11, 1, true, false, 2]);
  assert.deepEqual(site.attributes, [['desc', 'Local test site 12641']]);
  assert.equal(site.servers.length, 1);
  const s = site.servers[0]!;
  assert.equal(s.address, '127.0.0.1');
  assert.equal(s.publicKey.length, 289);
  assert.deepEqual(s.interfaces, [
    { type: 3, protocol: 1, port: 12641 },
    { type: 2, protocol: 0, port: 12641 },
  ]);
  // The server's key is a real RSA key, and our HS_PUBKEY encoder writes it back identically.
  const key = decodePublicKey(s.publicKey);
  assert.deepEqual(encodePublicKey(key), s.publicKey);
  assert.deepEqual(encodePacket(env211, { ...p.header }, encodeSiteInfoResponse(site)), bytes);
});

test('303 prefix referral: empty handle and the HS_SITE.PREFIX values of the ancestor', () => {
  const p = decodePacket(golden('udp-prefix-referral-303.resp0.bin'));
  assert.equal(p.header.responseCode, ResponseCode.PREFIX_REFERRAL);
  const ref = decodeReferral(p.body, false);
  assert.equal(ref.handle, '');
  assert.equal(ref.values.length, 1);
  assert.equal(ref.values[0]!.type, 'HS_SITE.PREFIX');
  const site = decodeSite(ref.values[0]!.data);
  assert.equal(site.attributes[0]![1], 'Local test site 23641');
  assert.deepEqual(site.servers[0]!.interfaces.map((i) => i.port), [23641, 23641]);
});

test('multi-fragment responses reassemble in any order, with duplicates', () => {
  for (const [name, n, len] of [
    ['udp-resolve-prefix', 2, 845],
    ['udp-resolve-big', 127, 62076],
  ] as const) {
    const frags = Array.from({ length: n }, (_, i) => golden(`${name}.resp${i}.bin`));
    const shuffled = [...frags].reverse();
    shuffled.splice(3, 0, frags[1]!);
    const r = new Reassembler();
    let whole: Buffer | undefined;
    for (const d of shuffled) {
      const out = r.add('k', d, 0);
      if (out) {
        assert.equal(whole, undefined, 'completes once');
        whole = out;
      }
    }
    assert.ok(whole, `${name} complete`);
    const p = decodePacket(whole!);
    assert.equal(p.envelope.messageLength, len);
    const res = decodeResolutionResponse(p.body, false);
    if (name === 'udp-resolve-big') {
      assert.equal(res.handle, '88.118.8/BIG');
      const desc = res.values.filter((v) => v.type === 'DESC');
      assert.equal(desc.length, 60);
      assert.ok(desc.every((v) => v.data.length >= 150));
      assert.ok(res.values[0]!.data.toString().startsWith('1:abcdefghij'));
      // Our fragmenter cuts the same message into the same pieces (but sets TC, as the RFC asks).
      const ours = fragmentPacket(whole!);
      assert.equal(ours.length, n);
      for (let i = 0; i < n; i++) {
        const theirs = Buffer.from(frags[i]!);
        theirs[2] = theirs[2]! | 0x20;
        assert.deepEqual(ours[i], theirs, `fragment ${i}`);
      }
    } else {
      assert.equal(res.handle, '0.NA/88.118.8');
      assert.deepEqual(res.values.map((v) => v.type), ['HS_SITE', 'HS_ADMIN', 'HS_PUBKEY']);
    }
  }
});

test('certified response: the credential decodes and its signature verifies with the server key', () => {
  const frags = [golden('udp-resolve-certified.resp0.bin'), golden('udp-resolve-certified.resp1.bin')];
  const r = new Reassembler();
  r.add('c', frags[0]!, 0);
  const whole = r.add('c', frags[1]!, 0)!;
  const p = decodePacket(whole);
  assert.equal(p.header.opFlags >>> 0, 0xd8000000);
  const cred = decodeCredential(p.credential);
  assert.equal(cred.type, 'HS_SIGNED');
  assert.equal(cred.digestAlgorithm, 'SHA-256');
  assert.equal(cred.signature.length, 256);
  // 2.8+ signs: version and suggested version (4) | session id | request id | session counter | header | body.
  const key = decodePublicKey(golden('svr1-pubkey.bin'));
  const ok = verifyPacket(whole, p.headerAndBody, cred, key, [2, 11]);
  const tampered = Buffer.from(p.headerAndBody);
  tampered[tampered.length - 1] ^= 1;
  assert.equal(verifyPacket(whole, tampered, cred, key, [2, 11]), false);
  assert.ok(ok, 'signature verifies');
});
