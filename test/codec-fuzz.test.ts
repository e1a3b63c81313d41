// Property-based tests of the wire codec (fast-check). What they show:
//  1. encode then decode gives back what was encoded (values, requests, sites, HS_ADMIN, HS_VLIST, credentials,
//     public keys, whole packets);
//  2. every decoder fed arbitrary bytes returns or throws DecodeError (nothing else), promptly, and reads only the
//     bytes it was given (a view inside a larger buffer decodes exactly like a copy);
//  3. the golden captures truncated at every offset and corrupted at every offset do the same, and a truncated
//     packet or message never decodes as complete;
//  4. length fields that lie (0xffffffff, limit + 1) give a prompt DecodeError without a giant allocation;
//  5. the Reassembler rebuilds fragmented packets whatever the order and duplicates, and stays bounded.
// Runs are random; set FC_SEED to replay the seed a failure reports, FC_SCALE=20 for a longer hunt (runs x 20).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import path from 'node:path';
import * as fc from 'fast-check';
import { golden, repoRoot } from './helpers/paths.js';
import { DecodeError } from '../src/protocol/errors.js';
import { DigestType, ENVELOPE_SIZE, HEADER_SIZE, Limits, OpCode, OpFlag, ResponseCode } from '../src/protocol/constants.js';
import { type Envelope, decodeEnvelope } from '../src/protocol/envelope.js';
import { type Header, type Packet, decodeMessage, decodePacket, encodePacket } from '../src/protocol/message.js';
import {
  decodeChallenge,
  decodeErrorBody,
  decodeReferral,
  decodeResolutionRequest,
  decodeResolutionResponse,
  decodeSiteInfoRequest,
  decodeSiteInfoResponse,
  encodeChallenge,
  encodeErrorBody,
  encodeHandleValues,
  encodeReferral,
  encodeResolutionRequest,
  encodeSiteInfoRequest,
  encodeSiteInfoResponse,
} from '../src/protocol/bodies.js';
import { decodeAdmin, decodeVList, encodeAdmin, encodeVList } from '../src/protocol/admin-data.js';
import { decodeAddress, decodeSite, encodeAddress, encodeSite } from '../src/protocol/site.js';
import { type Credential, decodeCredential, encodeCredential } from '../src/protocol/credential.js';
import { decodePublicKey, encodePublicKey } from '../src/protocol/pubkey.js';
import { Reassembler, fragmentPacket } from '../src/protocol/fragment.js';
import { requestDigest } from '../src/protocol/digest.js';
import { Writer } from '../src/protocol/writer.js';
import {
  DumpStreamReader,
  TxnStreamReader,
  decodeDumpHandlesRequest,
  decodeNextTxnIdResponse,
  decodeRetrieveTxnRequest,
  decodeStreamOpening,
} from '../src/protocol/replication.js';
import { fuzzSign, replicationRequestBodies, replicationStreamSeeds } from '../fuzz/corpus.js';
import type { HandleValue } from '../src/model/value.js';
import type { SiteInfo } from '../src/model/site.js';
import type { AdminRecord } from '../src/model/admin.js';

// ---------------------------------------------------------------------------------------------------------
// Harness

const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined;
const scale = Number(process.env.FC_SCALE) || 1;
const runs = (n: number): { numRuns: number; seed?: number } => {
  const numRuns = Math.ceil(n * scale);
  return seed === undefined ? { numRuns } : { numRuns, seed };
};

type Outcome = { ok: unknown } | { err: string };

/** Every number a decoder returns is a wire integer: 0..2^32-1. No undefined, no NaN. */
function checkShape(x: unknown, where: string): void {
  if (x === undefined) assert.fail(`${where}: undefined in a decoded result`);
  if (typeof x === 'number') {
    assert.ok(Number.isInteger(x) && x >= 0 && x <= 0xffffffff, `${where}: ${x} is not a wire integer`);
  } else if (Array.isArray(x)) {
    for (let i = 0; i < x.length; i++) checkShape(x[i], `${where}[${i}]`);
  } else if (x !== null && typeof x === 'object' && !Buffer.isBuffer(x)) {
    for (const [k, v] of Object.entries(x)) checkShape(v, `${where}.${k}`);
  }
}

/**
 * Run one decoder: it returns or throws DecodeError, within the budget. Stack traces are off while it runs
 * (capturing them is most of the cost of a rejected input); an unexpected error is re-run with them on.
 */
function attempt(name: string, fn: () => unknown): Outcome {
  const limit = Error.stackTraceLimit;
  let out: Outcome;
  Error.stackTraceLimit = 0;
  try {
    out = { ok: fn() };
  } catch (e) {
    Error.stackTraceLimit = limit;
    if (!(e instanceof DecodeError)) {
      let stack = '';
      try {
        fn();
      } catch (again) {
        stack = (again as Error)?.stack ?? '';
      }
      const err = e as Error;
      assert.fail(`${name} threw ${err?.constructor?.name ?? typeof e} (${err?.message}); only DecodeError is allowed\n${stack}`);
    }
    out = { err: e.message };
  } finally {
    Error.stackTraceLimit = limit;
  }
  if ('ok' in out && out.ok !== undefined) checkShape(out.ok, name);
  return out;
}

function throwsDecodeError(name: string, fn: () => unknown): void {
  const o = attempt(name, fn);
  assert.ok('err' in o, `${name} decoded bytes it should have rejected`);
}

/** Every decoder, each taking one buffer. */
const DECODERS: ReadonlyArray<readonly [string, (b: Buffer) => unknown]> = [
  ['decodePacket', (b) => decodePacket(b)],
  ['decodeMessage', (b) => decodeMessage(b)],
  ['decodeEnvelope', (b) => decodeEnvelope(b)],
  ['decodeEnvelope(offset)', (b) => decodeEnvelope(b, b.length % 23)],
  ['decodeResolutionRequest', (b) => decodeResolutionRequest(b)],
  ['decodeResolutionResponse', (b) => decodeResolutionResponse(b, false)],
  ['decodeResolutionResponse(digest)', (b) => decodeResolutionResponse(b, true)],
  ['decodeErrorBody', (b) => decodeErrorBody(b, false)],
  ['decodeErrorBody(digest)', (b) => decodeErrorBody(b, true)],
  ['decodeSiteInfoRequest', (b) => decodeSiteInfoRequest(b)],
  ['decodeSiteInfoResponse', (b) => decodeSiteInfoResponse(b, false)],
  ['decodeSiteInfoResponse(digest)', (b) => decodeSiteInfoResponse(b, true)],
  ['decodeReferral', (b) => decodeReferral(b, false)],
  ['decodeReferral(digest)', (b) => decodeReferral(b, true)],
  ['decodeChallenge', (b) => decodeChallenge(b)],
  ['decodeSite', (b) => decodeSite(b)],
  ['decodeAdmin', (b) => decodeAdmin(b)],
  ['decodeVList', (b) => decodeVList(b)],
  ['decodeCredential', (b) => decodeCredential(b)],
  ['decodePublicKey', (b) => decodePublicKey(b).export({ format: 'jwk' })],
  ['Reassembler.add', (b) => new Reassembler().add('k', b, 0)],
  // What a mirror reads from a primary, and a primary from a mirror (64-bit ids and dates are summarised:
  // the shape check allows wire integers of 32 bits).
  ['decodeRetrieveTxnRequest', (b) => Object.keys(decodeRetrieveTxnRequest(b)).length],
  ['decodeRetrieveTxnRequest(2.8)', (b) => Object.keys(decodeRetrieveTxnRequest(b, [2, 8])).length],
  ['decodeDumpHandlesRequest', (b) => decodeDumpHandlesRequest(b)],
  ['decodeNextTxnIdResponse', (b) => Object.keys(decodeNextTxnIdResponse(b)).length],
  ['decodeNextTxnIdResponse(digest)', (b) => Object.keys(decodeNextTxnIdResponse(b, true)).length],
  ['decodeStreamOpening', (b) => decodeStreamOpening(b, OpCode.RETRIEVE_TXN_LOG, b.length % 2 === 1)],
  ['TxnStreamReader', (b) => readWholeStream(new TxnStreamReader((d, sig) => fuzzSign(d).equals(sig)), b)],
  ['TxnStreamReader(any signature)', (b) => readWholeStream(new TxnStreamReader({ verify: () => true, allowUnsigned: true }), b)],
  ['DumpStreamReader', (b) => readWholeStream(new DumpStreamReader({ verify: () => true, allowUnsigned: true }), b)],
];

/** A stream read to its end: the records' types (their 64-bit fields are not wire integers of 32 bits). */
function readWholeStream(r: TxnStreamReader | DumpStreamReader, b: Buffer): string[] {
  const types = (r.push(b) as Array<{ type: string }>).map((x) => x.type);
  r.finish();
  return types;
}

/** Each decoder on `bytes`, and on the same bytes as a view inside a larger buffer: the two must agree. */
function allDecoders(bytes: Buffer): void {
  const copy = Buffer.from(bytes);
  const host = Buffer.alloc(bytes.length + 64, 0xa5);
  bytes.copy(host, 32);
  const view = host.subarray(32, 32 + bytes.length);
  for (const [name, fn] of DECODERS) {
    const a = attempt(name, () => fn(copy));
    const b = attempt(`${name} (view)`, () => fn(view));
    assert.deepEqual(b, a, `${name}: a view decodes differently from a copy`);
  }
}

/** What a server or client does with a packet: frame, then every body decoder, the credential, the values' data. */
function deepDecode(packet: Buffer, label = 'packet'): void {
  const p = attempt(`${label}: decodePacket`, () => decodePacket(packet));
  if (!('ok' in p)) return;
  const { body, credential } = p.ok as Packet;
  const values: HandleValue[] = [];
  for (const [name, fn] of DECODERS) {
    if (name === 'decodePacket' || name === 'Reassembler.add') continue;
    const o = attempt(`${label}: ${name}(body)`, () => fn(body));
    const vs = 'ok' in o && o.ok && typeof o.ok === 'object' ? (o.ok as { values?: unknown }).values : undefined;
    if (Array.isArray(vs)) values.push(...(vs as HandleValue[]));
  }
  if (credential.length > 0) attempt(`${label}: decodeCredential`, () => decodeCredential(credential));
  for (const v of values) {
    attempt(`${label}: decodeSite(${v.type})`, () => decodeSite(v.data));
    attempt(`${label}: decodeAdmin(${v.type})`, () => decodeAdmin(v.data));
    attempt(`${label}: decodeVList(${v.type})`, () => decodeVList(v.data));
    attempt(`${label}: decodePublicKey(${v.type})`, () => decodePublicKey(v.data).export({ format: 'jwk' }));
  }
}

const u32be = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const lp = (s: string | Uint8Array): Buffer => {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s);
  return Buffer.concat([u32be(b.length), b]);
};
const build = (f: (w: Writer) => unknown): Buffer => {
  const w = new Writer(64);
  f(w);
  return Buffer.from(w.finish());
};

/** A cheap deterministic filler (xorshift32), for large bodies without generating every byte through fast-check. */
function filler(length: number, seed0: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed0 | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Arbitraries

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
/** Any Unicode text (every code point, no lone surrogates: those are not text). */
const text = (maxLength: number, minLength = 0) => fc.string({ unit: 'binary', minLength, maxLength });
const bytes = (maxLength: number, minLength = 0) => fc.uint8Array({ minLength, maxLength }).map((b) => Buffer.from(b));

/** fc.record with ordinary objects: null-prototype ones never deepStrictEqual what a decoder builds. */
function rec<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true }) as unknown as fc.Arbitrary<T>;
}

const referenceArb = rec({ handle: text(24), index: u32 });
const valueArb: fc.Arbitrary<HandleValue> = rec({
  index: u32,
  timestamp: u32,
  ttlType: fc.constantFrom(0, 1),
  ttl: u32,
  permissions: u8,
  type: fc.oneof(fc.constantFrom('URL', 'EMAIL', 'HS_ADMIN', 'HS_SITE', 'HS_VLIST', 'HS_PUBKEY', ''), text(16)),
  data: bytes(96),
  references: fc.array(referenceArb, { maxLength: 3 }),
});
const valuesArb = fc.array(valueArb, { maxLength: 5 });

const envelopeArb: fc.Arbitrary<Omit<Envelope, 'messageLength'>> = rec({
  major: u8,
  minor: u8,
  compressed: fc.boolean(),
  encrypted: fc.boolean(),
  truncated: fc.boolean(),
  suggestedMajor: fc.integer({ min: 0, max: 3 }),
  suggestedMinor: u8,
  sessionId: u32,
  requestId: u32,
  sequence: u32,
});
const headerArb: fc.Arbitrary<Header> = rec({
  opCode: u32,
  responseCode: u32,
  opFlags: u32,
  siteSerial: u16,
  recursionCount: u8,
  expiration: u32,
});

/** IPv4, IPv6 in every textual form fast-check writes (compressed, leading zeros, IPv4 tail), and edge cases. */
const addressArb = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.constantFrom('::', '::1', '::ffff:10.0.0.1', '::ffff:0:0', '2001:db8::1', 'fe80::1:0:0:0', '1:0:0:1:0:0:0:1', 'FFFF::ABCD', '::0.0.1.0'),
  // Eight groups written out in full, zeros frequent: runs of zeros of every length and position.
  fc.array(fc.oneof(fc.constant(0), fc.constant(0), u16), { minLength: 8, maxLength: 8 }).map((g) => g.map((x) => x.toString(16)).join(':')),
);

const siteArb: fc.Arbitrary<SiteInfo> = rec({
  dataFormatVersion: fc.constantFrom(0, 1),
  protocolMajor: u8,
  protocolMinor: u8,
  serial: u16,
  primary: fc.boolean(),
  multiPrimary: fc.boolean(),
  hashOption: u8,
  hashFilter: bytes(16),
  attributes: fc.array(fc.tuple(text(12), text(24)), { maxLength: 3 }),
  servers: fc.array(
    rec({
      serverId: u32,
      address: addressArb,
      publicKey: bytes(48),
      interfaces: fc.array(rec({ type: u8, protocol: u8, port: u32 }), { maxLength: 3 }),
    }),
    { maxLength: 4 },
  ),
});

const credentialArb: fc.Arbitrary<Credential> = rec({
  version: u8,
  flags: u16,
  signerHandle: text(24),
  signerIndex: u32,
  type: fc.oneof(fc.constantFrom('HS_SIGNED', 'HS_MAC'), text(40)),
  digestAlgorithm: fc.oneof(fc.constantFrom('SHA-256', 'HMAC-SHA256', 'SHA1'), text(40)),
  signature: bytes(300),
});

const adminArb: fc.Arbitrary<AdminRecord> = rec({ permissions: u16, handle: text(24), index: u32 });

/** A request digest as a response carries it: SHA-256 / SHA-1 / old MD5 (via requestDigest), or type-1 MD5. */
const digestArb = fc.oneof(
  fc.tuple(bytes(64), fc.constantFrom<[number, number]>([2, 11], [2, 7], [2, 1], [2, 0])).map(([hb, v]) => requestDigest(hb, v)),
  bytes(16, 16).map((d) => Buffer.concat([Buffer.from([DigestType.MD5]), d])),
);
/** What readDigest should give back for the digest bytes `d`. */
function expectedDigest(d: Buffer): { type: number; digest: Buffer } {
  return d[0] === 0 ? { type: DigestType.OLD_MD5, digest: d.subarray(4) } : { type: d[0]!, digest: d.subarray(1) };
}

/** Bytes made of protocol-shaped pieces (plausible lengths and counts, limits, strings, digest bytes), to get past the first field. */
const tokenArb = fc.oneof(
  fc.integer({ min: 0, max: 48 }).map(u32be),
  fc
    .constantFrom(0xffffffff, 0x80000000, 0x7fffffff, 64, 65, 256, 257, 1024, 1025, 2048, 2049, 4096, 4097, 65536, 65537, Limits.MAX_MESSAGE_LENGTH, Limits.MAX_MESSAGE_LENGTH + 1)
    .map(u32be),
  bytes(24),
  fc.constantFrom(0, 1, 2, 3, 0x80, 0xff).map((x) => Buffer.from([x])),
  text(10).map(lp),
  fc.constantFrom('RSA_PUB_KEY', 'DSA_PUB_KEY', 'HS_SIGNED', 'SHA-256', 'HS_ADMIN', '/', '').map(lp),
);
const structuredBytes = fc.array(tokenArb, { maxLength: 40 }).map((ts) => Buffer.concat(ts));
const fuzzBytes = fc.oneof(bytes(600), structuredBytes);

// ---------------------------------------------------------------------------------------------------------
// 1. Round trips

test('round trip: handle values in a resolution response, with and without a request digest', () => {
  fc.assert(
    fc.property(text(40), valuesArb, fc.option(digestArb, { nil: undefined }), (handle, values, digest) => {
      const body = encodeHandleValues(handle, values);
      if (digest === undefined) {
        assert.deepEqual(decodeResolutionResponse(body, false), { handle, values });
      } else {
        const got = decodeResolutionResponse(Buffer.concat([digest, body]), true);
        assert.deepEqual(got, { digest: expectedDigest(digest), handle, values });
      }
    }),
    runs(300),
  );
});

test('round trip: resolution requests (handle, index list, type list with any Unicode)', () => {
  fc.assert(
    fc.property(text(60), fc.array(u32, { maxLength: 8 }), fc.array(text(20), { maxLength: 8 }), (handle, indexes, types) => {
      const body = encodeResolutionRequest(handle, indexes, types);
      const req = decodeResolutionRequest(body);
      assert.deepEqual({ handle: req.handle, indexes: req.indexes, types: req.types }, { handle, indexes, types });
      assert.deepEqual(req.handleBytes, Buffer.from(handle, 'utf8'));
      // GET_SITE_INFO requests carry one handle the same way.
      assert.equal(decodeSiteInfoRequest(encodeSiteInfoRequest(handle)), handle);
    }),
    runs(300),
  );
});

/** The 16 address bytes of an IPv6 literal, computed independently of the codec (WHATWG URL parser). */
function ipv6Bytes(address: string): Buffer {
  const canon = new URL(`http://[${address}]/`).hostname.slice(1, -1); // hex groups, at most one "::"
  const [head, tail] = canon.includes('::') ? canon.split('::') : [canon, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** The 16 bytes an address must encode to and the text it must decode back as. */
function expectedAddress(address: string): { wire: Buffer; text: string } {
  const wire = isIPv4(address) ? Buffer.concat([Buffer.alloc(12), Buffer.from(address.split('.').map(Number))]) : ipv6Bytes(address);
  const zeros = (n: number) => wire.subarray(0, n).every((x) => x === 0);
  // 12 zero bytes are the IPv4 form (section 5), and ::ffff:a.b.c.d is read as IPv4 too — unless the IPv4 part
  // starts with 0 (0.0.0.0/8 is no usable address), so that ::1 and :: stay IPv6.
  if (wire[12] !== 0 && (zeros(12) || (zeros(10) && wire[10] === 0xff && wire[11] === 0xff))) {
    return { wire, text: wire.subarray(12).join('.') };
  }
  const groups = Array.from({ length: 8 }, (_, i) => wire.readUInt16BE(i * 2).toString(16)).join(':');
  return { wire, text: new URL(`http://[${groups}]/`).hostname.slice(1, -1) };
}

test('round trip: server addresses, IPv4 and IPv6 (RFC 5952 text back)', () => {
  fc.assert(
    fc.property(addressArb, (address) => {
      const exp = expectedAddress(address);
      const wire = encodeAddress(address);
      assert.deepEqual(wire, exp.wire, `encodeAddress(${address})`);
      assert.equal(decodeAddress(wire), exp.text, `decodeAddress of ${address}`);
    }),
    runs(500),
  );
});

test('round trip: HS_SITE records (servers with IPv4/IPv6 addresses, interfaces, attributes), bare and in GET_SITE_INFO responses', () => {
  fc.assert(
    fc.property(siteArb, fc.option(digestArb, { nil: undefined }), (site, digest) => {
      const expected = { ...site, servers: site.servers.map((s) => ({ ...s, address: expectedAddress(s.address).text })) };
      assert.deepEqual(decodeSite(encodeSite(site)), expected);
      const body = encodeSiteInfoResponse(site);
      if (digest === undefined) assert.deepEqual(decodeSiteInfoResponse(body, false), expected);
      else assert.deepEqual(decodeSiteInfoResponse(Buffer.concat([digest, body]), true), expected);
    }),
    runs(300),
  );
});

test('round trip: HS_ADMIN (2-byte and legacy 4-byte permissions) and HS_VLIST', () => {
  fc.assert(
    fc.property(adminArb, u32, (admin, wide) => {
      assert.deepEqual(decodeAdmin(encodeAdmin(admin)), admin);
      const legacy = build((w) => w.u32(wide).utf8(admin.handle).u32(admin.index));
      assert.deepEqual(decodeAdmin(legacy), { ...admin, permissions: wide & 0xffff });
    }),
    runs(300),
  );
  fc.assert(
    fc.property(fc.array(referenceArb, { maxLength: 10 }), (entries) => {
      assert.deepEqual(decodeVList(encodeVList(entries)), entries);
    }),
    runs(300),
  );
});

test('round trip: credentials, bare and as the credential section of a packet', () => {
  fc.assert(
    fc.property(credentialArb, envelopeArb, headerArb, bytes(64), (cred, env, header, body) => {
      const c = encodeCredential(cred);
      assert.deepEqual(decodeCredential(c), cred);
      const p = decodePacket(encodePacket(env, header, body, c));
      assert.deepEqual(decodeCredential(p.credential), cred);
    }),
    runs(300),
  );
});

test('round trip: whole packets (envelope, header, body parts, credential)', () => {
  fc.assert(
    fc.property(envelopeArb, headerArb, fc.array(bytes(300), { maxLength: 4 }), bytes(64), (env, header, parts, cred) => {
      const packet = encodePacket(env, header, parts, cred);
      const body = Buffer.concat(parts);
      const messageLength = HEADER_SIZE + body.length + 4 + cred.length;
      assert.equal(packet.length, ENVELOPE_SIZE + messageLength);
      const p = decodePacket(packet);
      assert.deepEqual(p.envelope, { ...env, messageLength });
      assert.deepEqual(p.header, header);
      assert.deepEqual(p.body, body);
      assert.deepEqual(p.credential, cred);
      assert.deepEqual(p.headerAndBody, packet.subarray(ENVELOPE_SIZE, ENVELOPE_SIZE + HEADER_SIZE + body.length));
      assert.deepEqual(decodeEnvelope(packet), { ...env, messageLength });
    }),
    runs(300),
  );
});

test('round trip: error, referral and challenge bodies, with and without a digest', () => {
  fc.assert(
    fc.property(text(80), fc.option(digestArb, { nil: undefined }), (message, digest) => {
      const body = encodeErrorBody(message);
      if (digest === undefined) assert.deepEqual(decodeErrorBody(body, false), { message });
      else assert.deepEqual(decodeErrorBody(Buffer.concat([digest, body]), true), { digest: expectedDigest(digest), message });
    }),
    runs(200),
  );
  fc.assert(
    fc.property(text(40), valuesArb, fc.boolean(), fc.option(digestArb, { nil: undefined }), (handle, values, withList, digest) => {
      // The value list is optional in a referral: a body that ends after the handle has no values.
      const body = withList ? encodeReferral(handle, values) : build((w) => w.utf8(handle));
      const expected = { handle, values: withList ? values : [] };
      if (digest === undefined) assert.deepEqual(decodeReferral(body, false), expected);
      else assert.deepEqual(decodeReferral(Buffer.concat([digest, body]), true), expected);
    }),
    runs(200),
  );
  fc.assert(
    fc.property(digestArb, bytes(64, 1), (digest, nonce) => {
      assert.deepEqual(decodeChallenge(Buffer.concat([digest, encodeChallenge(nonce)])), { digest: expectedDigest(digest), nonce });
    }),
    runs(200),
  );
});

/** An unsigned big-endian magnitude as the reference writes it: two's complement, minimal. */
function twos(magnitude: Buffer): Buffer {
  return magnitude[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), magnitude]) : magnitude;
}

test('round trip: HS_PUBKEY (RSA) data, including the reference server key', () => {
  const svr = golden('svr1-pubkey.bin');
  assert.deepEqual(encodePublicKey(decodePublicKey(svr)), svr);
  const magnitude = (min: number, max: number) =>
    bytes(max, min).map((b) => {
      b[0] = b[0]! || 1; // minimal: no leading zero byte
      return b;
    });
  fc.assert(
    fc.property(fc.oneof(fc.constant(Buffer.from([1, 0, 1])), magnitude(1, 8)), magnitude(64, 300), (e, n) => {
      const data = build((w) => w.utf8('RSA_PUB_KEY').u16(0).byteString(twos(e)).byteString(twos(n)).u32(0));
      assert.deepEqual(encodePublicKey(decodePublicKey(data)), data);
    }),
    runs(100),
  );
  // A modulus too small to be a key, or a zero exponent, is refused as invalid data rather than passed on.
  for (const [e, n] of [[Buffer.from([1, 0, 1]), Buffer.from([0])], [Buffer.from([0]), Buffer.alloc(128, 0x7f)], [Buffer.from([3]), Buffer.alloc(16, 0x7f)]] as const) {
    const data = build((w) => w.utf8('RSA_PUB_KEY').u16(0).byteString(e).byteString(n).u32(0));
    assert.throws(() => decodePublicKey(data), (err: unknown) => err instanceof DecodeError && err.responseCode === 202);
  }
});

/** Byte sequences that are not UTF-8: a stray continuation byte, 0xff, an overlong form, a surrogate, past U+10FFFF, cut short. */
const badUtf8Arb = fc
  .tuple(
    text(6),
    fc.constantFrom([0x80], [0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]),
    text(6).filter((t) => !/^[\x80-\xbf]/.test(t)),
  )
  .map(([a, bad, b]) => Buffer.concat([Buffer.from(a), Buffer.from(bad), Buffer.from(b)]));

/** A value written field by field, so a field can be made invalid. */
function rawValue(w: Writer, o: { ttlType?: number; type?: Buffer; ref?: Buffer } = {}): Writer {
  w.u32(1).u32(0).u8(o.ttlType ?? 0).u32(86400).u8(0x0e).byteString(o.type ?? Buffer.from('URL')).byteString(Buffer.from('d'));
  return o.ref ? w.u32(1).byteString(o.ref).u32(1) : w.u32(0);
}

test('well-formed but invalid: text that is not UTF-8, unknown TTL types and site versions, trailing bytes, all DecodeError', () => {
  const siteHead = (w: Writer, version = 1) => w.u16(version).u8(2).u8(11).u16(1).u8(0x80).u8(0).u32(0);
  const cred = (w: Writer, f: { signer?: Buffer; type?: Buffer; alg?: Buffer }) => {
    const alg = f.alg ?? Buffer.from('SHA-256');
    return w.u8(0).u8(0).u16(0).byteString(f.signer ?? Buffer.alloc(0)).u32(1).byteString(f.type ?? Buffer.from('HS_SIGNED')).u32(4 + alg.length + 4).byteString(alg).u32(0);
  };
  const textFields: Array<[string, (bad: Buffer) => unknown]> = [
    ['request handle', (bad) => decodeResolutionRequest(build((w) => w.byteString(bad).u32(0).u32(0)))],
    ['request type', (bad) => decodeResolutionRequest(build((w) => w.utf8('x/y').u32(0).u32(1).byteString(bad)))],
    ['response handle', (bad) => decodeResolutionResponse(build((w) => w.byteString(bad).u32(0)), false)],
    ['value type', (bad) => decodeResolutionResponse(build((w) => rawValue(w.utf8('x/y').u32(1), { type: bad })), false)],
    ['reference handle', (bad) => decodeResolutionResponse(build((w) => rawValue(w.utf8('x/y').u32(1), { ref: bad })), false)],
    ['error message', (bad) => decodeErrorBody(build((w) => w.byteString(bad)), false)],
    ['referral handle', (bad) => decodeReferral(build((w) => w.byteString(bad)), false)],
    ['site info request handle', (bad) => decodeSiteInfoRequest(build((w) => w.byteString(bad)))],
    ['site attribute name', (bad) => decodeSite(build((w) => siteHead(w).u32(1).byteString(bad).utf8('v').u32(0)))],
    ['site attribute value', (bad) => decodeSite(build((w) => siteHead(w).u32(1).utf8('desc').byteString(bad).u32(0)))],
    ['admin handle', (bad) => decodeAdmin(build((w) => w.u16(0xfff).byteString(bad).u32(300)))],
    ['vlist handle', (bad) => decodeVList(build((w) => w.u32(1).byteString(bad).u32(300)))],
    ['credential signer', (bad) => decodeCredential(build((w) => cred(w, { signer: bad })))],
    ['credential type', (bad) => decodeCredential(build((w) => cred(w, { type: bad })))],
    ['credential digest algorithm', (bad) => decodeCredential(build((w) => cred(w, { alg: bad })))],
    ['public key type', (bad) => decodePublicKey(build((w) => w.byteString(bad).u16(0).byteString(Buffer.from([3])).byteString(Buffer.from([0x55])).u32(0)))],
  ];
  fc.assert(
    fc.property(badUtf8Arb, (bad) => {
      for (const [name, fn] of textFields) throwsDecodeError(`${name} not UTF-8`, () => fn(bad));
    }),
    runs(100),
  );
  // The same shapes with good text decode, so the rejections above are for the bad text.
  for (const [name, fn] of textFields.filter(([n]) => n !== 'public key type')) assert.ok('ok' in attempt(name, () => fn(Buffer.from('ok'))), `${name} with good text`);

  fc.assert(
    fc.property(fc.integer({ min: 2, max: 255 }), fc.integer({ min: 2, max: 0xffff }), (ttlType, version) => {
      throwsDecodeError(`TTL type ${ttlType}`, () => decodeResolutionResponse(build((w) => rawValue(w.utf8('x/y').u32(1), { ttlType })), false));
      throwsDecodeError(`site data version ${version}`, () => decodeSite(build((w) => siteHead(w, version).u32(0))));
    }),
    runs(100),
  );
  throwsDecodeError('empty nonce', () => decodeChallenge(Buffer.concat([requestDigest(Buffer.alloc(4), [2, 11]), encodeChallenge(Buffer.alloc(0))])));
  throwsDecodeError('DSA key', () => decodePublicKey(build((w) => w.utf8('DSA_PUB_KEY').u16(0).byteString(Buffer.from([3])).byteString(Buffer.from([0x55])))));
  throwsDecodeError('HS_ADMIN of neither layout', () => decodeAdmin(build((w) => w.u16(0xfff).utf8('0.NA/x').u32(300).u8(0))));

  // Value data and credentials are structures that run to a known end: they reject whatever follows.
  const strictArb = fc.oneof(
    siteArb.map((s): [string, Buffer, (b: Buffer) => unknown] => ['site', encodeSite(s), decodeSite]),
    fc.array(referenceArb, { maxLength: 4 }).map((e): [string, Buffer, (b: Buffer) => unknown] => ['vlist', encodeVList(e), decodeVList]),
    credentialArb.map((c): [string, Buffer, (b: Buffer) => unknown] => ['credential', encodeCredential(c), decodeCredential]),
  );
  fc.assert(
    fc.property(strictArb, bytes(16, 1), ([name, valid, decode], junk) => {
      assert.ok('ok' in attempt(name, () => decode(valid)));
      throwsDecodeError(`${name} + ${junk.length} trailing bytes`, () => decode(Buffer.concat([valid, junk])));
    }),
    runs(300),
  );
  // Message bodies follow the one rule (docs/idis.md): what follows the fields a decoder knows is ignored,
  // as the reference server does, and the body decodes to exactly what it did without it.
  const bodyArb = fc.oneof(
    fc.tuple(text(20), fc.array(u32, { maxLength: 3 }), fc.array(text(8), { maxLength: 3 })).map(([h, i, t]): [string, Buffer, (b: Buffer) => unknown] => [
      'request',
      encodeResolutionRequest(h, i, t),
      (b) => {
        const { keyLength: _k, token: _t, ...r } = decodeResolutionRequest(b);
        return { ...r, handleBytes: Buffer.from(r.handleBytes) };
      },
    ]),
    fc.tuple(text(20), valuesArb).map(([h, v]): [string, Buffer, (b: Buffer) => unknown] => ['response', encodeHandleValues(h, v), (b) => decodeResolutionResponse(b, false)]),
    siteArb.map((s): [string, Buffer, (b: Buffer) => unknown] => ['site info response', encodeSiteInfoResponse(s), (b) => decodeSiteInfoResponse(b, false)]),
    fc.tuple(digestArb, bytes(32, 1)).map(([d, n]): [string, Buffer, (b: Buffer) => unknown] => ['challenge', Buffer.concat([d, encodeChallenge(n)]), decodeChallenge]),
    text(20).map((h): [string, Buffer, (b: Buffer) => unknown] => ['site info request', encodeSiteInfoRequest(h), decodeSiteInfoRequest]),
  );
  fc.assert(
    fc.property(bodyArb, bytes(16, 1), ([name, valid, decode], junk) => {
      const intact = attempt(name, () => decode(valid));
      assert.ok('ok' in intact);
      assert.deepEqual(decode(Buffer.concat([valid, junk])), decode(valid), `${name} + ${junk.length} trailing bytes`);
    }),
    runs(300),
  );
});

// ---------------------------------------------------------------------------------------------------------
// 2. Arbitrary bytes: return or DecodeError, promptly, from the bytes given only

test('arbitrary bytes: every decoder returns or throws DecodeError, and a view decodes like a copy', () => {
  fc.assert(
    fc.property(fuzzBytes, (b) => allDecoders(b)),
    runs(1500),
  );
});

test('arbitrary bodies in valid framing: every body decoder, the credential and value data decoders', () => {
  fc.assert(
    fc.property(envelopeArb, headerArb, fuzzBytes, fc.oneof(fc.constant(Buffer.alloc(0)), fuzzBytes), (env, header, body, cred) => {
      deepDecode(encodePacket(env, header, body, cred));
    }),
    runs(400),
  );
});

test('arbitrary bytes after a valid prefix: value lists, sites, credentials, keys cut off and continued with junk', () => {
  const validArb = fc.oneof(
    fc.tuple(text(20), valuesArb).map(([h, v]) => encodeHandleValues(h, v)),
    siteArb.map(encodeSite),
    credentialArb.map(encodeCredential),
    adminArb.map(encodeAdmin),
    fc.array(referenceArb, { maxLength: 4 }).map(encodeVList),
    fc.tuple(text(20), fc.array(u32, { maxLength: 4 }), fc.array(text(8), { maxLength: 4 })).map(([h, i, t]) => encodeResolutionRequest(h, i, t)),
    fc.constant(golden('svr1-pubkey.bin')),
  );
  fc.assert(
    fc.property(validArb, fc.nat(), fuzzBytes, (valid, cut, junk) => {
      allDecoders(Buffer.concat([valid.subarray(0, cut % (valid.length + 1)), junk]));
    }),
    runs(300),
  );
});

test('replication requests and streams cut off and continued with junk, streams fed in arbitrary pieces: DecodeError or records', () => {
  const seeds = [...replicationRequestBodies(), ...replicationStreamSeeds()];
  fc.assert(
    fc.property(fc.constantFrom(...seeds), fc.nat(), fuzzBytes, fc.array(fc.nat({ max: 64 }), { maxLength: 40 }), (valid, cut, junk, cuts) => {
      const b = Buffer.concat([valid.subarray(0, cut % (valid.length + 1)), junk]);
      allDecoders(b);
      // The same bytes in pieces: a reader holds an incomplete record until the rest comes.
      attempt('TxnStreamReader (pieces)', () => {
        const r = new TxnStreamReader({ verify: () => true, allowUnsigned: true });
        let pos = 0;
        for (const n of cuts) {
          r.push(b.subarray(pos, pos + n));
          pos += n;
        }
        r.push(b.subarray(pos));
        r.finish();
        return 0;
      });
    }),
    runs(300),
  );
});

test('arbitrary datagrams into one long-lived Reassembler: return or DecodeError, bounded, whole packets only', () => {
  const maxPending = 4;
  const r = new Reassembler({ maxPending, maxBytes: 64 * 1024, timeoutMs: 50 });
  let now = 0;
  const datagramArb = fc.oneof(
    bytes(600),
    // Shaped like fragments: a plausible MessageLength and sequence, a payload of about the right length.
    fc
      .record({
        env: bytes(20, 20),
        messageLength: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.constantFrom(0xffffffff, Limits.MAX_MESSAGE_LENGTH, Limits.MAX_MESSAGE_LENGTH + 1)),
        seq: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.constant(0xffffffff)),
        payload: fc.integer({ min: 0, max: 500 }),
        seed: u32,
      })
      .map(({ env: e, messageLength, seq, payload, seed: s }) => {
        const env = Buffer.from(e); // generated values are not to be mutated
        env.writeUInt32BE(seq, 12);
        env.writeUInt32BE(messageLength, 16);
        const full = seq * 492 < messageLength ? Math.min(492, messageLength - seq * 492) : payload;
        return Buffer.concat([env, filler(s % 3 === 0 ? payload : full, s)]);
      }),
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), datagramArb, fc.nat({ max: 20 })), { maxLength: 30 }), (cmds) => {
      for (const [key, d, dt] of cmds) {
        now += dt;
        const o = attempt('Reassembler.add', () => r.add(key, d, now));
        if ('ok' in o && o.ok !== undefined) {
          const whole = o.ok as Buffer;
          assert.equal(whole.length, ENVELOPE_SIZE + whole.readUInt32BE(16), 'a returned packet is whole');
        }
        assert.ok(r.size <= maxPending, `pending ${r.size} > ${maxPending}`);
      }
    }),
    runs(200),
  );
});

test('arbitrary RSA numbers in HS_PUBKEY data (empty, zero, huge, leading zeros): a key or DecodeError', () => {
  const number = fc.oneof(bytes(0), fc.constantFrom(Buffer.from([0]), Buffer.alloc(8), Buffer.from([0, 0, 1])), bytes(300), bytes(1100, 1000), bytes(4200, 4000));
  fc.assert(
    fc.property(fc.oneof(fc.constant('RSA_PUB_KEY'), text(8)), u16, number, number, fuzzBytes, (type, flags, e, n, rest) => {
      allDecoders(build((w) => w.utf8(type).u16(flags).byteString(e).byteString(n).bytes(rest)));
    }),
    runs(150),
  );
});

// ---------------------------------------------------------------------------------------------------------
// 3. Golden captures, truncated and corrupted

interface Capture {
  name: string;
  packet: Buffer;
  /** The datagrams it came in (one for a single-datagram message). */
  datagrams: Buffer[];
}

/** Every capture of the reference server as a whole packet; multi-datagram responses reassembled. */
function captures(): Capture[] {
  const dir = path.join(repoRoot, 'test/vectors/handle-golden');
  const groups = new Map<string, Buffer[]>();
  for (const f of readdirSync(dir)) {
    const m = /^(.+\.(?:req|resp))(\d+)\.bin$/.exec(f);
    if (!m) continue;
    const list = groups.get(m[1]!) ?? [];
    list[Number(m[2])] = golden(f);
    groups.set(m[1]!, list);
  }
  const out: Capture[] = [];
  for (const [name, datagrams] of groups) {
    if (datagrams.length === 1) {
      out.push({ name, packet: datagrams[0]!, datagrams });
      continue;
    }
    const r = new Reassembler();
    let packet: Buffer | undefined;
    for (const d of datagrams) packet = r.add(name, d, 0) ?? packet;
    assert.ok(packet, `${name} reassembles`);
    out.push({ name, packet: Buffer.from(packet!), datagrams });
  }
  assert.ok(out.length >= 20, `found ${out.length} captures`);
  return out.sort((a, b) => a.packet.length - b.packet.length);
}
const CAPTURES = captures();

/**
 * The decoder a capture's body is meant for, and whether its layout is prefix-free (then no truncation of it
 * can decode). Error bodies (no trailing-byte check), referrals (optional value list) and site-info requests
 * (empty means "/") are not.
 */
function bodyDecoder(name: string, p: Packet): [string, (b: Buffer) => unknown, boolean] {
  const rd = (p.header.opFlags & OpFlag.RD) !== 0;
  if (name.endsWith('.req')) {
    if (p.header.opCode === OpCode.RESOLUTION) return ['decodeResolutionRequest', decodeResolutionRequest, true];
    return ['decodeSiteInfoRequest', decodeSiteInfoRequest, false];
  }
  const rc = p.header.responseCode;
  if (rc === ResponseCode.SUCCESS && p.header.opCode === OpCode.GET_SITE_INFO) return ['decodeSiteInfoResponse', (b) => decodeSiteInfoResponse(b, rd), true];
  if (rc === ResponseCode.SUCCESS) return ['decodeResolutionResponse', (b) => decodeResolutionResponse(b, rd), true];
  if (rc === ResponseCode.AUTHENTICATION_NEEDED) return ['decodeChallenge', decodeChallenge, true];
  if (rc === ResponseCode.SERVICE_REFERRAL || rc === ResponseCode.PREFIX_REFERRAL) return ['decodeReferral', (b) => decodeReferral(b, rd), false];
  return ['decodeErrorBody', (b) => decodeErrorBody(b, rd), false];
}

test('golden captures truncated at every byte offset: packets and messages never decode, bodies return or DecodeError', () => {
  let bodyCuts = 0;
  for (const { name, packet } of CAPTURES) {
    const p = decodePacket(packet);
    deepDecode(packet, name); // the intact capture decodes cleanly
    // A truncated packet (TCP frame or reassembled datagrams) and a truncated message can never be complete.
    for (let k = 0; k < packet.length; k++) throwsDecodeError(`${name} decodePacket[0,${k})`, () => decodePacket(packet.subarray(0, k)));
    const msg = packet.subarray(ENVELOPE_SIZE);
    for (let k = 0; k < msg.length; k++) {
      // Cut right after its body, a message is whole with no credential (the national SDK's login is sent so).
      if (k === HEADER_SIZE + p.body.length) assert.equal(decodeMessage(msg.subarray(0, k)).credential.length, 0);
      else throwsDecodeError(`${name} decodeMessage[0,${k})`, () => decodeMessage(msg.subarray(0, k)));
    }
    // Nor can one with bytes after its end.
    for (const extra of [1, 3, 4, 17]) {
      const longer = Buffer.concat([packet, Buffer.alloc(extra)]);
      throwsDecodeError(`${name} decodePacket + ${extra}`, () => decodePacket(longer));
      throwsDecodeError(`${name} decodeMessage + ${extra}`, () => decodeMessage(longer.subarray(ENVELOPE_SIZE)));
    }
    // Bodies and credentials cut short: at every offset, except in the middle of the 62 KB body (a stride there).
    const [dname, decode, strict] = bodyDecoder(name, p);
    assert.ok('ok' in attempt(`${name} ${dname}`, () => decode(p.body)), `${name}: ${dname} decodes the intact body`);
    const len = p.body.length;
    for (let k = 0; k < len; k += len > 8192 && k >= 2048 && k < len - 2048 ? 97 : 1) {
      const cut = p.body.subarray(0, k);
      if (strict) throwsDecodeError(`${name} ${dname}[0,${k})`, () => decode(cut));
      else attempt(`${name} ${dname}[0,${k})`, () => decode(cut));
      bodyCuts++;
    }
    for (let k = 0; k < p.credential.length; k++) throwsDecodeError(`${name} decodeCredential[0,${k})`, () => decodeCredential(p.credential.subarray(0, k)));
    // Value data cut short: HS_SITE is prefix-free; HS_ADMIN and HS_PUBKEY need only return or DecodeError.
    if (dname === 'decodeResolutionResponse' || dname === 'decodeReferral') {
      const { values } = decode(p.body) as { values: HandleValue[] };
      for (const v of values.slice(0, 8)) {
        for (let k = 0; k < v.data.length; k++) {
          const d = v.data.subarray(0, k);
          if (v.type.startsWith('HS_SITE')) throwsDecodeError(`${name} decodeSite ${v.type}[0,${k})`, () => decodeSite(d));
          else if (v.type === 'HS_ADMIN') attempt(`${name} decodeAdmin[0,${k})`, () => decodeAdmin(d));
          else if (v.type === 'HS_PUBKEY') attempt(`${name} decodePublicKey[0,${k})`, () => decodePublicKey(d));
        }
      }
    }
  }
  assert.ok(bodyCuts > 1000);
});

test('golden datagrams truncated at every offset: the Reassembler rejects every one', () => {
  for (const { name, datagrams } of CAPTURES) {
    for (const d of datagrams.slice(0, 3)) {
      for (let k = 0; k < d.length; k++) throwsDecodeError(`${name} Reassembler.add[0,${k})`, () => new Reassembler().add('k', d.subarray(0, k), 0));
    }
  }
});

test('golden captures with each byte corrupted (^0xff, =0x00, =0xff) at every offset: return or DecodeError', () => {
  const small = CAPTURES.filter((c) => c.packet.length <= 1500);
  assert.ok(small.length >= 20);
  for (const { name, packet } of small) {
    const b = Buffer.from(packet);
    for (let i = 0; i < b.length; i++) {
      const orig = b[i]!;
      for (const v of new Set([orig ^ 0xff, 0x00, 0xff])) {
        if (v === orig) continue;
        b[i] = v;
        deepDecode(b, `${name} [${i}]=${v}`);
      }
      b[i] = orig;
    }
  }
  // The datagrams of multi-datagram captures with their envelopes corrupted go through the Reassembler.
  for (const { name, datagrams } of CAPTURES.filter((c) => c.datagrams.length > 1 && c.packet.length <= 1500)) {
    for (let f = 0; f < datagrams.length; f++) {
      for (let i = 0; i < ENVELOPE_SIZE; i++) {
        const r = new Reassembler();
        for (let g = 0; g < datagrams.length; g++) {
          const d = Buffer.from(datagrams[g]!);
          if (g === f) d[i] = d[i]! ^ 0xff;
          const o = attempt(`${name} datagram ${f} [${i}]^0xff: Reassembler.add`, () => r.add('k', d, 0));
          if ('ok' in o && o.ok) deepDecode(o.ok as Buffer, `${name} datagram ${f} [${i}]^0xff reassembled`);
        }
      }
    }
  }
});

test('golden captures (the 62 KB one too) with random multi-byte corruption: return or DecodeError', () => {
  const biggest = CAPTURES[CAPTURES.length - 1]!;
  assert.ok(biggest.packet.length > 60000);
  fc.assert(
    fc.property(fc.constantFrom(...CAPTURES), fc.array(fc.tuple(fc.nat(), u8), { minLength: 1, maxLength: 6 }), (c, edits) => {
      const b = Buffer.from(c.packet);
      for (const [at, v] of edits) b[at % b.length] = v;
      deepDecode(b, c.name);
    }),
    runs(150),
  );
});

// ---------------------------------------------------------------------------------------------------------
// 4. Length fields that lie

const HUGE = [0xffffffff, 0x80000000, 0x7fffffff, 0x10000000];

/**
 * Must throw DecodeError without allocating anything near the size it was told (no time is asserted: a unit
 * test asserts no duration; a decoder checks each length against the bytes present before reading on).
 */
function rejectsPromptly(name: string, fn: () => unknown): void {
  const before = process.memoryUsage().arrayBuffers;
  throwsDecodeError(name, fn);
  const grew = process.memoryUsage().arrayBuffers - before;
  assert.ok(grew < 4 * 1024 * 1024, `${name}: ${grew} bytes allocated`);
}

test('length fields that lie, in the framing: envelope MessageLength, BodyLength, CredentialLength', () => {
  const packet = golden('udp-resolve-ok.req0.bin');
  const bodyLength = packet.readUInt32BE(ENVELOPE_SIZE + 20);
  const patch = (off: number, v: number) => {
    const b = Buffer.from(packet);
    b.writeUInt32BE(v >>> 0, off);
    return b;
  };
  for (const v of [...HUGE, Limits.MAX_MESSAGE_LENGTH + 1]) {
    const b = patch(16, v);
    rejectsPromptly(`MessageLength ${v}: decodeEnvelope`, () => decodeEnvelope(b));
    rejectsPromptly(`MessageLength ${v}: decodePacket`, () => decodePacket(b));
    rejectsPromptly(`MessageLength ${v}: Reassembler.add`, () => new Reassembler().add('k', b, 0));
  }
  // Within the limit but more than is there.
  rejectsPromptly('MessageLength = limit: decodePacket', () => decodePacket(patch(16, Limits.MAX_MESSAGE_LENGTH)));
  rejectsPromptly('MessageLength = limit: Reassembler.add', () => new Reassembler().add('k', patch(16, Limits.MAX_MESSAGE_LENGTH), 0));
  const msgLength = packet.length - ENVELOPE_SIZE;
  for (const v of [...HUGE, msgLength - HEADER_SIZE - 4 + 1]) {
    const b = patch(ENVELOPE_SIZE + 20, v);
    rejectsPromptly(`BodyLength ${v}: decodePacket`, () => decodePacket(b));
    rejectsPromptly(`BodyLength ${v}: decodeMessage`, () => decodeMessage(b.subarray(ENVELOPE_SIZE)));
  }
  for (const v of [...HUGE, 1]) {
    const b = patch(ENVELOPE_SIZE + HEADER_SIZE + bodyLength, v);
    rejectsPromptly(`CredentialLength ${v}: decodePacket`, () => decodePacket(b));
  }
  // Sequence numbers past the fragment count.
  for (const v of [...HUGE, 1]) rejectsPromptly(`SequenceNumber ${v}: Reassembler.add`, () => new Reassembler().add('k', patch(12, v), 0));
  // A message over the limit, every byte present.
  const big = Buffer.alloc(Limits.MAX_MESSAGE_LENGTH + 1);
  big.writeUInt32BE(big.length - HEADER_SIZE - 4, 20);
  rejectsPromptly('a message of limit + 1 bytes: decodeMessage', () => decodeMessage(big));
  const env = Buffer.from(packet.subarray(0, ENVELOPE_SIZE));
  env.writeUInt32BE(big.length, 16);
  const bigPacket = Buffer.concat([env, big]);
  rejectsPromptly('a message of limit + 1 bytes: decodePacket', () => decodePacket(bigPacket));
  // At the limit exactly, the same framing decodes.
  const atLimit = big.subarray(0, Limits.MAX_MESSAGE_LENGTH);
  atLimit.writeUInt32BE(atLimit.length - HEADER_SIZE - 4, 20);
  assert.equal(decodeMessage(atLimit).body.length, Limits.MAX_MESSAGE_LENGTH - HEADER_SIZE - 4);
  // A reassembly bigger than the budget.
  rejectsPromptly('MessageLength over maxBytes: Reassembler.add', () =>
    new Reassembler({ maxBytes: 1000 }).add('k', Buffer.concat([patch(16, 2000).subarray(0, ENVELOPE_SIZE), Buffer.alloc(492)]), 0),
  );
});

test('length fields that lie, in the bodies: strings, counts and sections at 0xffffffff and at limit + 1', () => {
  const a = (n: number) => 'a'.repeat(n);
  const minimalValue = (w: Writer) => w.u32(1).u32(0).u8(0).u32(0).u8(0).utf8('').byteString(Buffer.alloc(0)).u32(0);
  const cases: Array<[string, () => unknown]> = [];
  const lie = (name: string, fn: (v: number) => unknown) => {
    for (const v of HUGE) cases.push([`${name} = ${v}`, () => fn(v)]);
  };
  // Resolution request.
  lie('request handle length', (v) => decodeResolutionRequest(build((w) => w.u32(v).bytes(Buffer.from('x/y')).u32(0).u32(0))));
  lie('request index count', (v) => decodeResolutionRequest(build((w) => w.utf8('x/y').u32(v).u32(0))));
  lie('request type count', (v) => decodeResolutionRequest(build((w) => w.utf8('x/y').u32(0).u32(v))));
  lie('request type length', (v) => decodeResolutionRequest(build((w) => w.utf8('x/y').u32(0).u32(1).u32(v))));
  cases.push(['request handle of limit + 1 bytes', () => decodeResolutionRequest(encodeResolutionRequest(a(Limits.MAX_HANDLE_LENGTH + 1)))]);
  cases.push(['request with limit + 1 indexes', () => decodeResolutionRequest(encodeResolutionRequest('x/y', new Array<number>(Limits.MAX_VALUES + 1).fill(7)))]);
  cases.push(['request with limit + 1 types', () => decodeResolutionRequest(encodeResolutionRequest('x/y', [], new Array<string>(Limits.MAX_VALUES + 1).fill('')))]);
  // Value lists (resolution responses, referrals).
  lie('value count', (v) => decodeResolutionResponse(build((w) => w.utf8('x/y').u32(v)), false));
  lie('value type length', (v) => decodeResolutionResponse(build((w) => w.utf8('x/y').u32(1).u32(1).u32(0).u8(0).u32(0).u8(0).u32(v)), false));
  lie('value data length', (v) => decodeResolutionResponse(build((w) => w.utf8('x/y').u32(1).u32(1).u32(0).u8(0).u32(0).u8(0).utf8('URL').u32(v)), false));
  lie('value reference count', (v) => decodeReferral(build((w) => w.utf8('').u32(1).u32(1).u32(0).u8(0).u32(0).u8(0).utf8('URL').utf8('d').u32(v)), false));
  lie('response handle length', (v) => decodeResolutionResponse(build((w) => w.u32(v).u32(0)), false));
  lie('referral handle length', (v) => decodeReferral(build((w) => w.u32(v)), false));
  lie('old-format digest length', (v) => decodeResolutionResponse(build((w) => w.u32(v).utf8('x/y').u32(0)), true));
  cases.push(['old-format digest of 65 bytes', () => decodeResolutionResponse(build((w) => w.byteString(Buffer.alloc(65, 1)).utf8('x/y').u32(0)), true)]);
  cases.push([
    'limit + 1 values, every byte present',
    () => decodeResolutionResponse(build((w) => { w.utf8('x/y').u32(Limits.MAX_VALUES + 1); for (let i = 0; i <= Limits.MAX_VALUES; i++) minimalValue(w); }), false),
  ]);
  cases.push(['value type of limit + 1 bytes', () => decodeResolutionResponse(build((w) => w.utf8('x/y').u32(1).u32(1).u32(0).u8(0).u32(0).u8(0).utf8(a(Limits.MAX_HANDLE_LENGTH + 1)).u32(0).u32(0)), false)]);
  cases.push([
    'limit + 1 references, every byte present',
    () => decodeResolutionResponse(build((w) => { w.utf8('x/y').u32(1).u32(1).u32(0).u8(0).u32(0).u8(0).utf8('URL').utf8('d').u32(Limits.MAX_VALUES + 1); for (let i = 0; i <= Limits.MAX_VALUES; i++) w.utf8('').u32(0); }), false),
  ]);
  // Error bodies and challenges.
  lie('error message length', (v) => decodeErrorBody(build((w) => w.u32(v).bytes(Buffer.from('oops'))), false));
  lie('challenge nonce length', (v) => decodeChallenge(Buffer.concat([requestDigest(Buffer.alloc(4), [2, 11]), u32be(v), Buffer.alloc(16)])));
  cases.push(['challenge nonce of 1025 bytes', () => decodeChallenge(Buffer.concat([requestDigest(Buffer.alloc(4), [2, 11]), encodeChallenge(Buffer.alloc(1025, 1))]))]);
  // HS_SITE.
  const siteHead = (w: Writer) => w.u16(1).u8(2).u8(11).u16(1).u8(0x80).u8(0);
  lie('site hash filter length', (v) => decodeSite(build((w) => siteHead(w).u32(v).u32(0).u32(0))));
  lie('site attribute count', (v) => decodeSite(build((w) => siteHead(w).u32(0).u32(v).u32(0))));
  lie('site attribute length', (v) => decodeSite(build((w) => siteHead(w).u32(0).u32(1).u32(v).u32(0))));
  lie('site server count', (v) => decodeSite(build((w) => siteHead(w).u32(0).u32(0).u32(v))));
  lie('site server key length', (v) => decodeSite(build((w) => siteHead(w).u32(0).u32(0).u32(1).u32(1).bytes(Buffer.alloc(16)).u32(v).u32(0))));
  lie('site interface count', (v) => decodeSite(build((w) => siteHead(w).u32(0).u32(0).u32(1).u32(1).bytes(Buffer.alloc(16)).u32(0).u32(v))));
  lie('site info response: site server count', (v) => decodeSiteInfoResponse(build((w) => siteHead(w).u32(0).u32(0).u32(v)), false));
  cases.push(['site hash filter of limit + 1 bytes', () => decodeSite(build((w) => siteHead(w).byteString(Buffer.alloc(Limits.MAX_HANDLE_LENGTH + 1)).u32(0).u32(0)))]);
  cases.push([
    'limit + 1 site attributes, every byte present',
    () => decodeSite(build((w) => { siteHead(w).u32(0).u32(Limits.MAX_VALUES + 1); for (let i = 0; i <= Limits.MAX_VALUES; i++) w.utf8('').utf8(''); w.u32(0); })),
  ]);
  // HS_ADMIN, HS_VLIST.
  lie('admin handle length', (v) => decodeAdmin(build((w) => w.u16(0xfff).u32(v).bytes(Buffer.from('0.NA/x')).u32(300))));
  cases.push(['admin handle of limit + 1 bytes', () => decodeAdmin(encodeAdmin({ permissions: 0xfff, handle: a(Limits.MAX_HANDLE_LENGTH + 1), index: 300 }))]);
  lie('vlist count', (v) => decodeVList(build((w) => w.u32(v).utf8('0.NA/x').u32(300))));
  lie('vlist handle length', (v) => decodeVList(build((w) => w.u32(1).u32(v).u32(300))));
  cases.push(['limit + 1 vlist entries, every byte present', () => decodeVList(encodeVList(new Array(Limits.MAX_VALUES + 1).fill({ handle: '', index: 1 })))]);
  // Credentials.
  const credHead = (w: Writer) => w.u8(0).u8(0).u16(0);
  lie('credential signer length', (v) => decodeCredential(build((w) => credHead(w).u32(v).u32(1))));
  lie('credential type length', (v) => decodeCredential(build((w) => credHead(w).utf8('').u32(1).u32(v))));
  lie('credential signed-info length', (v) => decodeCredential(build((w) => credHead(w).utf8('').u32(1).utf8('HS_SIGNED').u32(v).utf8('SHA-256'))));
  lie('credential digest algorithm length', (v) => decodeCredential(build((w) => credHead(w).utf8('').u32(1).utf8('HS_SIGNED').u32(8).u32(v).u32(0))));
  lie('credential signature length', (v) => decodeCredential(build((w) => credHead(w).utf8('').u32(1).utf8('HS_SIGNED').u32(15).utf8('SHA-256').u32(v))));
  cases.push(['credential type of 257 bytes', () => decodeCredential(encodeCredential({ version: 0, flags: 0, signerHandle: '', signerIndex: 1, type: a(257), digestAlgorithm: 'SHA-256', signature: Buffer.alloc(8) }))]);
  cases.push(['credential signature of 65537 bytes', () => decodeCredential(encodeCredential({ version: 0, flags: 0, signerHandle: '', signerIndex: 1, type: 'HS_SIGNED', digestAlgorithm: 'SHA-256', signature: Buffer.alloc(65537) }))]);
  // HS_PUBKEY.
  lie('public key type length', (v) => decodePublicKey(build((w) => w.u32(v).bytes(Buffer.from('RSA_PUB_KEY')))));
  lie('public key exponent length', (v) => decodePublicKey(build((w) => w.utf8('RSA_PUB_KEY').u16(0).u32(v).bytes(Buffer.from([1, 0, 1])))));
  lie('public key modulus length', (v) => decodePublicKey(build((w) => w.utf8('RSA_PUB_KEY').u16(0).byteString(Buffer.from([1, 0, 1])).u32(v).u32(0))));
  cases.push(['public key exponent of 1025 bytes', () => decodePublicKey(build((w) => w.utf8('RSA_PUB_KEY').u16(0).byteString(Buffer.alloc(1025, 1)).byteString(Buffer.alloc(64, 0xc5)).u32(0)))]);
  cases.push(['public key modulus of 4097 bytes', () => decodePublicKey(build((w) => w.utf8('RSA_PUB_KEY').u16(0).byteString(Buffer.from([1, 0, 1])).byteString(Buffer.alloc(4097, 0xc5)).u32(0)))]);

  for (const [name, fn] of cases) rejectsPromptly(name, fn);
  assert.ok(cases.length > 120);

  // At the limits exactly, the same shapes decode.
  assert.equal(decodeResolutionRequest(encodeResolutionRequest(a(Limits.MAX_HANDLE_LENGTH))).handle.length, Limits.MAX_HANDLE_LENGTH);
  assert.equal(decodeVList(encodeVList(new Array(Limits.MAX_VALUES).fill({ handle: '', index: 1 }))).length, Limits.MAX_VALUES);
  assert.equal(decodeChallenge(Buffer.concat([requestDigest(Buffer.alloc(4), [2, 11]), encodeChallenge(Buffer.alloc(1024, 1))])).nonce.length, 1024);
  assert.equal(decodeResolutionResponse(build((w) => { w.utf8('x/y').u32(Limits.MAX_VALUES); for (let i = 0; i < Limits.MAX_VALUES; i++) minimalValue(w); }), false).values.length, Limits.MAX_VALUES);
});

test('length fields that lie anywhere: a huge value over any 4 bytes of a valid encoding returns or throws DecodeError, promptly', () => {
  const validArb = fc.oneof(
    fc.tuple(text(20), valuesArb).map(([h, v]): [string, Buffer] => ['resolution response', encodeHandleValues(h, v)]),
    siteArb.map((s): [string, Buffer] => ['site', encodeSite(s)]),
    credentialArb.map((c): [string, Buffer] => ['credential', encodeCredential(c)]),
    fc.array(referenceArb, { maxLength: 4 }).map((e): [string, Buffer] => ['vlist', encodeVList(e)]),
    fc.tuple(text(20), fc.array(u32, { maxLength: 4 }), fc.array(text(8), { maxLength: 4 })).map(([h, i, t]): [string, Buffer] => ['request', encodeResolutionRequest(h, i, t)]),
    fc.tuple(envelopeArb, headerArb, bytes(64), bytes(16)).map(([e, h, b, c]): [string, Buffer] => ['packet', encodePacket(e, h, b, c)]),
  );
  const lieArb = fc.constantFrom(...HUGE, Limits.MAX_HANDLE_LENGTH + 1, Limits.MAX_VALUES + 1, Limits.MAX_MESSAGE_LENGTH + 1, 65537);
  fc.assert(
    fc.property(validArb, fc.nat(), lieArb, ([, valid], at, v) => {
      if (valid.length < 4) return;
      const b = Buffer.from(valid);
      b.writeUInt32BE(v >>> 0, at % (b.length - 3));
      allDecoders(b);
    }),
    runs(200),
  );
});

// ---------------------------------------------------------------------------------------------------------
// 5. Reassembler

/** A random packet of up to ~20 KB as it goes on the wire (SequenceNumber 0, as every sender writes it). */
const packetArb = fc
  .record({ env: envelopeArb, header: headerArb, bodyLength: fc.integer({ min: 0, max: 20000 }), fill: u32, cred: bytes(32) })
  .map(({ env, header, bodyLength, fill, cred }) => encodePacket({ ...env, sequence: 0 }, header, filler(bodyLength, fill), cred));

/** What the Reassembler gives back: the packet itself when it fits one datagram, else with TC cleared. */
function reassembled(packet: Buffer): Buffer {
  const out = Buffer.from(packet);
  if (fragmentPacket(packet).length > 1) out[2] = out[2]! & ~0x20;
  return out;
}

test('Reassembler: fragments of random packets (up to ~20 KB) in random order, with duplicates, interleaved, reproduce each packet', () => {
  fc.assert(
    fc.property(
      fc.array(packetArb, { minLength: 1, maxLength: 3 }),
      fc.array(fc.nat(), { maxLength: 120 }),
      fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 20 }),
      (packets, order, dups) => {
        // Every (key, fragment), shuffled by the sort keys in `order`, then duplicates dropped in anywhere.
        const all = packets.flatMap((p, k) => fragmentPacket(p).map((d) => ({ key: `peer${k}`, k, seq: d.readUInt32BE(12), d })));
        const rank = all.map((_, i) => order[i] ?? i);
        const mixed = all.map((x, i) => ({ x, r: rank[i]! })).sort((a, b) => a.r - b.r).map((y) => y.x);
        for (const [from, to] of dups) mixed.splice(to % (mixed.length + 1), 0, mixed[from % mixed.length]!);
        // Duplicates only until a message completes: after that a stray one rightly starts a new entry (tested below).
        const counts = packets.map((p) => fragmentPacket(p).length);
        const distinct = packets.map(() => new Set<number>());
        const feed = mixed.filter(({ k, seq }) => {
          if (distinct[k]!.size === counts[k]) return false;
          distinct[k]!.add(seq);
          return true;
        });
        const r = new Reassembler();
        const seen = packets.map(() => new Set<number>());
        const done = packets.map(() => 0);
        for (const { key, k, seq, d } of feed) {
          const isNew = !seen[k]!.has(seq);
          seen[k]!.add(seq);
          const out = r.add(key, d, 0);
          if (out) {
            assert.equal(seen[k]!.size, counts[k], 'completes only once every fragment is in');
            assert.ok(isNew, 'a duplicate does not complete a message');
            assert.deepEqual(out, reassembled(packets[k]!));
            assert.deepEqual(decodePacket(out).headerAndBody, decodePacket(packets[k]!).headerAndBody);
            done[k]!++;
          }
          assert.ok(r.size <= packets.length);
        }
        assert.deepEqual(done, packets.map(() => 1), 'each message completes exactly once');
        assert.equal(r.size, 0, 'nothing left pending');
      },
    ),
    runs(60),
  );
});

test('Reassembler: a flood of distinct keys keeps pending entries and bytes bounded; the newest still complete', () => {
  const packet = encodePacket({ major: 2, minor: 11, compressed: false, encrypted: false, truncated: false, suggestedMajor: 2, suggestedMinor: 11, sessionId: 0, requestId: 1, sequence: 0 }, { opCode: 1, responseCode: 1, opFlags: 0, siteSerial: 1, recursionCount: 0, expiration: 0 }, filler(1000, 7));
  const [first, ...rest] = fragmentPacket(packet);
  assert.equal(rest.length, 2);
  // A duplicate that arrives after its message completed does not complete it again; it waits, then expires.
  const late = new Reassembler({ timeoutMs: 100 });
  for (const d of [first!, ...rest]) late.add('late', d, 0);
  assert.equal(late.size, 0);
  assert.equal(late.add('late', rest[0]!, 1), undefined);
  assert.equal(late.size, 1);
  late.sweep(101);
  assert.equal(late.size, 0);

  const maxPending = 16;
  const r = new Reassembler({ maxPending });
  const FLOOD = 5000;
  for (let i = 0; i < FLOOD; i++) {
    assert.equal(r.add(`10.0.${i >> 8}.${i & 255}:2641/${i}`, first!, i), undefined);
    assert.ok(r.size <= maxPending, `${r.size} pending after ${i + 1} keys`);
  }
  assert.equal(r.size, maxPending);
  assert.equal(r.dropped, FLOOD - maxPending);
  // The newest keys complete; the oldest were dropped and start over.
  for (const d of rest) r.add(`10.0.${(FLOOD - 1) >> 8}.${(FLOOD - 1) & 255}:2641/${FLOOD - 1}`, d, FLOOD);
  assert.equal(r.size, maxPending - 1);
  assert.equal(r.add('10.0.0.0:2641/0', rest[0]!, FLOOD), undefined);
  // Expiry empties it.
  r.sweep(FLOOD + 60_000);
  assert.equal(r.size, 0);

  // Bounded in bytes too: 20 KB messages against a 100 KB budget, and one bigger than the budget is refused.
  const big = encodePacket({ major: 2, minor: 11, compressed: false, encrypted: false, truncated: false, suggestedMajor: 2, suggestedMinor: 11, sessionId: 0, requestId: 2, sequence: 0 }, { opCode: 1, responseCode: 1, opFlags: 0, siteSerial: 1, recursionCount: 0, expiration: 0 }, filler(20000, 9));
  const bigFirst = fragmentPacket(big)[0]!;
  const maxBytes = 100_000;
  const rb = new Reassembler({ maxBytes });
  for (let i = 0; i < 500; i++) {
    rb.add(`k${i}`, bigFirst, 0);
    assert.ok(rb.size * big.length <= maxBytes, `${rb.size} pending messages of ${big.length} bytes`);
  }
  assert.equal(rb.size, Math.floor(maxBytes / big.length));
  throwsDecodeError('message over the byte budget', () => new Reassembler({ maxBytes: 10_000 }).add('k', bigFirst, 0));
});
