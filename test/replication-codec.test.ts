// The replication codec (src/protocol/replication*.ts) against the layouts written out by hand from the
// reference's SDK (docs/replication.md, "The protocol"): request bodies byte for byte, streams byte for byte,
// round trips, streams cut at every byte, bad signatures, and garbage that must give DecodeError and nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { DecodeError } from '../src/protocol/errors.js';
import { OpCode, OpFlag, ResponseCode } from '../src/protocol/constants.js';
import { decodePacket, encodePacket } from '../src/protocol/message.js';
import { Responder } from '../src/protocol/responder.js';
import { Writer } from '../src/protocol/writer.js';
import { writeValue } from '../src/protocol/values.js';
import { makeValue } from '../src/model/value.js';
import { seededRandom } from '../src/demo/products.js';
import {
  DumpStreamReader,
  DumpStreamWriter,
  TLS_STREAM_MARKER,
  TxnAction,
  TxnStreamReader,
  TxnStreamStatus,
  TxnStreamWriter,
  decodeDumpHandlesRequest,
  decodeNextTxnIdResponse,
  decodeRetrieveTxnRequest,
  decodeStreamOpening,
  encodeDumpHandlesRequest,
  encodeNextTxnIdResponse,
  encodeRetrieveTxnRequest,
  keySigner,
  keyVerifier,
  openStreamedResponse,
  streamOpeningBody,
  type DumpStreamRecord,
  type WriterFraming,
  type TxnStreamRecord,
} from '../src/protocol/replication.js';

// ---------------------------------------------------------------------------------------------------------
// Field builders for the hand-written layouts

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const u8 = (n: number) => n.toString(16).padStart(2, '0');
const i32 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
const i64 = (n: number) => BigInt.asUintN(64, BigInt(n)).toString(16).padStart(16, '0');
const str = (b: Buffer | string) => {
  const x = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
  return i32(x.length) + x.toString('hex');
};

/** A deterministic "signature" for byte-exact checks: SHA-1 of the block (the reference signs SHA1withRSA/DSA). */
const fakeSign = (data: Buffer) => createHash('sha1').update(data).digest();
const fakeVerify = (data: Buffer, sig: Buffer) => fakeSign(data).equals(sig);
const sigOf = (blockHex: string) => str(fakeSign(hex(blockHex)));

const valueBytes = (index: number, type: string, data: string) => {
  const w = new Writer(64);
  writeValue(w, makeValue(index, type, data));
  return Buffer.from(w.finish());
};
const V1 = valueBytes(1, 'URL', 'https://example.cn/a');
const V2 = valueBytes(100, 'EMAIL', 'a@example.cn');

function isDecodeError(fn: () => unknown, code?: number): void {
  assert.throws(fn, (e: unknown) => e instanceof DecodeError && (code === undefined || e.responseCode === code));
}

// ---------------------------------------------------------------------------------------------------------
// Request and response bodies

test('RETRIEVE_TXN_LOG body at 2.9 and later: form byte 0, lastTxnId 8, lastQueryDate 8, hash type 1, server count 4, server number 4', () => {
  const req = { lastTxnId: 5, lastQueryDate: 1_700_000_000_000, hashType: 2, numServers: 3, serverNum: 1 };
  const expected = hex(u8(0) + i64(5) + i64(1_700_000_000_000) + u8(2) + i32(3) + i32(1));
  assert.equal(expected.length, 26);
  assert.deepEqual(encodeRetrieveTxnRequest(req), expected);
  assert.deepEqual(encodeRetrieveTxnRequest(req, [2, 9]), expected);
  assert.deepEqual(decodeRetrieveTxnRequest(expected), req);
  // Before 2.9 there is no form byte.
  const old = hex(i64(5) + i64(1_700_000_000_000) + u8(2) + i32(3) + i32(1));
  assert.deepEqual(encodeRetrieveTxnRequest(req, [2, 8]), old);
  assert.deepEqual(decodeRetrieveTxnRequest(old, [2, 8]), req);
  // The largest id a number holds exactly; bytes after the fields are ignored as in every body.
  const max = { ...req, lastTxnId: Number.MAX_SAFE_INTEGER };
  assert.deepEqual(decodeRetrieveTxnRequest(Buffer.concat([encodeRetrieveTxnRequest(max), hex('ffff')])), max);
});

test('RETRIEVE_TXN_LOG bodies refused: the multi-primary form, unknown forms, ids past 2^53 or negative, no server named, every truncation', () => {
  const json = Buffer.from('{"replicationServerStates":{}}');
  isDecodeError(() => decodeRetrieveTxnRequest(hex(u8(1) + str(json) + u8(0) + i32(1) + i32(0))), ResponseCode.OPERATION_NOT_SUPPORTED);
  isDecodeError(() => decodeRetrieveTxnRequest(hex(u8(2) + i64(0) + i64(0) + u8(0) + i32(1) + i32(0))));
  isDecodeError(() => decodeRetrieveTxnRequest(hex(u8(0) + i64(2 ** 53) + i64(0) + u8(0) + i32(1) + i32(0))));
  isDecodeError(() => decodeRetrieveTxnRequest(hex(u8(0) + 'ffffffffffffffff' + i64(0) + u8(0) + i32(1) + i32(0))));
  isDecodeError(() => decodeRetrieveTxnRequest(hex(u8(0) + i64(1) + '7fffffffffffffff' + u8(0) + i32(1) + i32(0))));
  isDecodeError(() => decodeRetrieveTxnRequest(hex(u8(0) + i64(1) + i64(0) + u8(0) + i32(0) + i32(0))));
  isDecodeError(() => decodeRetrieveTxnRequest(hex(u8(0) + i64(1) + i64(0) + u8(0) + i32(2) + i32(2))));
  isDecodeError(() => decodeRetrieveTxnRequest(hex(u8(0) + i64(1) + i64(0) + u8(0) + i32(2) + i32(-1))));
  const good = encodeRetrieveTxnRequest({ lastTxnId: 1, lastQueryDate: -1, hashType: 0, numServers: 1, serverNum: 0 });
  assert.equal(decodeRetrieveTxnRequest(good).lastQueryDate, -1);
  for (let n = 0; n < good.length; n++) isDecodeError(() => decodeRetrieveTxnRequest(good.subarray(0, n)));
  assert.throws(() => encodeRetrieveTxnRequest({ lastTxnId: -1, lastQueryDate: 0, hashType: 0, numServers: 1, serverNum: 0 }), RangeError);
});

test('DUMP_HANDLES body: hash type 1, server count 4, server number 4, then optionally a starting point (string) and its type 4', () => {
  const plain = { hashType: 1, numServers: 4, serverNum: 3 };
  assert.deepEqual(encodeDumpHandlesRequest(plain), hex(u8(1) + i32(4) + i32(3)));
  assert.deepEqual(decodeDumpHandlesRequest(hex(u8(1) + i32(4) + i32(3))), plain);
  const resumed = { ...plain, startingPoint: { key: Buffer.from('88.118.8/X'), type: 2 } };
  const bytes = hex(u8(1) + i32(4) + i32(3) + str('88.118.8/X') + i32(2));
  assert.deepEqual(encodeDumpHandlesRequest(resumed), bytes);
  assert.deepEqual(decodeDumpHandlesRequest(bytes), resumed);
  for (let n = 0; n < bytes.length; n++) if (n !== 9) isDecodeError(() => decodeDumpHandlesRequest(bytes.subarray(0, n)));
  isDecodeError(() => decodeDumpHandlesRequest(hex(u8(1) + i32(4) + i32(3) + i32(-1) + i32(2))));
  isDecodeError(() => decodeDumpHandlesRequest(hex(u8(1) + i32(4) + i32(3) + i32(0x7fffffff) + i32(2))));
  isDecodeError(() => decodeDumpHandlesRequest(hex(u8(1) + i32(4) + i32(3) + str('x') + i32(4))));
});

test('GET_NEXT_TXN_ID answer: one 8-byte id, after the request digest when RD; the opening bodies of the streamed answers', () => {
  assert.deepEqual(encodeNextTxnIdResponse(42), hex(i64(42)));
  assert.deepEqual(decodeNextTxnIdResponse(hex(i64(42))), { nextTxnId: 42 });
  const digest = Buffer.alloc(32, 7);
  assert.deepEqual(decodeNextTxnIdResponse(hex(u8(3) + digest.toString('hex') + i64(9)), true), { digest: { type: 3, digest }, nextTxnId: 9 });
  isDecodeError(() => decodeNextTxnIdResponse(hex(i64(-5))));
  isDecodeError(() => decodeNextTxnIdResponse(hex('00000000')));
  assert.deepEqual(streamOpeningBody(OpCode.RETRIEVE_TXN_LOG), hex('00'));
  assert.deepEqual(streamOpeningBody(OpCode.DUMP_HANDLES), Buffer.alloc(0));
  assert.deepEqual(decodeStreamOpening(hex('01'), OpCode.RETRIEVE_TXN_LOG), { keepAlive: true });
  assert.deepEqual(decodeStreamOpening(Buffer.alloc(0), OpCode.DUMP_HANDLES), { keepAlive: false });
  isDecodeError(() => decodeStreamOpening(Buffer.alloc(0), OpCode.RETRIEVE_TXN_LOG));
});

test('the opening message of a streamed answer is an ordinary response: opcode, RequestId, SUCCESS, digest first when RD', () => {
  const body = encodeRetrieveTxnRequest({ lastTxnId: 0, lastQueryDate: 0, hashType: 0, numServers: 1, serverNum: 0 });
  const env = { major: 2, minor: 11, compressed: false, encrypted: false, truncated: false, suggestedMajor: 2, suggestedMinor: 11, sessionId: 9, requestId: 77, sequence: 0 };
  const req = decodePacket(encodePacket(env, { opCode: OpCode.RETRIEVE_TXN_LOG, responseCode: 0, opFlags: OpFlag.RD | OpFlag.KC, siteSerial: 1, recursionCount: 0, expiration: 0 }, body));
  const p = decodePacket(openStreamedResponse(new Responder(3, true, () => 1000), req));
  assert.equal(p.header.opCode, OpCode.RETRIEVE_TXN_LOG);
  assert.equal(p.header.responseCode, ResponseCode.SUCCESS);
  assert.equal(p.envelope.requestId, 77);
  assert.equal(p.header.opFlags & OpFlag.KC, 0);
  assert.deepEqual(decodeStreamOpening(p.body, OpCode.RETRIEVE_TXN_LOG, true), { keepAlive: false });
  assert.equal(p.body.length, 1 + 32 + 1);
});

// ---------------------------------------------------------------------------------------------------------
// Streams, byte for byte

const H = Buffer.from('88.118.8/A');

test('transaction stream, format 1, signed: the bytes field by field', () => {
  const w = new TxnStreamWriter(fakeSign);
  const wire = Buffer.concat([
    w.header(1, TxnStreamStatus.SENDING_TRANSACTIONS),
    w.txn({ txnId: 7, handle: H, action: TxnAction.CREATE_HANDLE, date: 1_700_000_000_123, values: [V1, V2] }),
    w.txn({ txnId: 8, handle: H, action: TxnAction.DELETE_HANDLE, date: 1_700_000_000_456 }),
    w.end(1_700_000_001_000),
  ]);
  const header = i32(1) + i32(2);
  const create = u8(1) + i64(7) + str(H) + u8(1) + i64(1_700_000_000_123) + i32(2) + str(V1) + str(V2);
  const del = u8(1) + i64(8) + str(H) + u8(2) + i64(1_700_000_000_456);
  const end = u8(0) + i64(1_700_000_001_000);
  const expected = i32(0) + str('SHA1') + header + sigOf(header) + create + sigOf(create) + del + sigOf(del) + end + sigOf(end);
  assert.equal(wire.toString('hex'), expected);

  const r = new TxnStreamReader(fakeVerify);
  const got = r.push(wire);
  assert.deepEqual(got, [
    { type: 'header', formatVersion: 1, status: 2 },
    { type: 'txn', txnId: 7, handle: H, action: 1, date: 1_700_000_000_123, values: [V1, V2] },
    { type: 'txn', txnId: 8, handle: H, action: 2, date: 1_700_000_000_456 },
    { type: 'end', date: 1_700_000_001_000 },
  ]);
  assert.equal(r.done, true);
  assert.equal(r.status, TxnStreamStatus.SENDING_TRANSACTIONS);
  assert.equal(r.hashAlgorithm, 'SHA1');
  r.finish();
});

test('transaction stream, format 2: queue name and queue end records, an end without a date', () => {
  const w = new TxnStreamWriter(fakeSign);
  const wire = Buffer.concat([
    w.header(2, 2),
    w.queue('0:88.118.8'),
    w.txn({ txnId: 1, handle: H, action: TxnAction.UPDATE_HANDLE, date: 5, values: [V1] }),
    w.queueEnd(99),
    w.end(),
  ]);
  const blocks = [i32(2) + i32(2), u8(2) + str('0:88.118.8'), u8(1) + i64(1) + str(H) + u8(3) + i64(5) + i32(1) + str(V1), u8(3) + i64(99), u8(0)];
  assert.equal(wire.toString('hex'), i32(0) + str('SHA1') + blocks.map((b) => b + sigOf(b)).join(''));
  const got = new TxnStreamReader(fakeVerify).push(wire);
  assert.deepEqual(got.map((x) => x.type), ['header', 'queue', 'txn', 'queueEnd', 'end']);
  assert.deepEqual(got[1], { type: 'queue', name: '0:88.118.8' });
  assert.deepEqual(got[4], { type: 'end' });
  const v1 = new TxnStreamWriter(fakeSign);
  v1.header(1, 2);
  assert.throws(() => v1.end(), RangeError); // format 1 ends with a date
  assert.throws(() => w.end(5), RangeError); // format 2 without
});

test('dump stream: header alone in its block, every record type, and the unsigned 0xFF that ends it', () => {
  const w = new DumpStreamWriter(fakeSign);
  const wire = Buffer.concat([
    w.header(),
    w.otherSites('{"x" = "y"}'),
    w.serverInfo(1_700_000_000_000, 12),
    w.handleDate(H, 3, -1),
    w.prefixDate(Buffer.from('0.NA/88'), 4, 2),
    w.handle(H, [V1, V2]),
    w.homedPrefix(Buffer.from('0.NA/88.118.8')),
    w.end(),
  ]);
  const blocks = [
    i32(2),
    u8(5) + str('{"x" = "y"}'),
    u8(0) + i64(1_700_000_000_000) + i64(12),
    u8(3) + str(H) + i64(3) + i32(-1),
    u8(4) + str('0.NA/88') + i64(4) + i32(2),
    u8(1) + str(H) + i32(2) + str(V1) + str(V2),
    u8(2) + str('0.NA/88.118.8'),
  ];
  assert.equal(wire.toString('hex'), i32(0) + str('SHA1') + blocks.map((b) => b + sigOf(b)).join('') + 'ff');
  const r = new DumpStreamReader(fakeVerify);
  const got = r.push(wire);
  assert.deepEqual(got, [
    { type: 'header', formatVersion: 2 },
    { type: 'otherSites', status: '{"x" = "y"}' },
    { type: 'serverInfo', date: 1_700_000_000_000, txnId: 12 },
    { type: 'handleDate', handle: H, date: 3, priority: -1 },
    { type: 'prefixDate', prefix: Buffer.from('0.NA/88'), date: 4, priority: 2 },
    { type: 'handle', handle: H, values: [V1, V2] },
    { type: 'homedPrefix', prefix: Buffer.from('0.NA/88.118.8') },
    { type: 'end' },
  ] satisfies DumpStreamRecord[]);
  assert.equal(r.done, true);
  // A format 1 dump ends with its server info record.
  const old = new DumpStreamWriter(fakeSign);
  const r1 = new DumpStreamReader(fakeVerify);
  assert.deepEqual(r1.push(Buffer.concat([old.header(1), old.serverInfo(1, 2)])).at(-1), { type: 'serverInfo', date: 1, txnId: 2 });
  assert.equal(r1.done, true);
});

// ---------------------------------------------------------------------------------------------------------
// Real keys, any cut, the other framings

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const dsa = generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 256 });

function sampleTxnStream(sign: ((d: Buffer) => Buffer) | WriterFraming): Buffer {
  const w = new TxnStreamWriter(sign);
  return Buffer.concat([
    w.header(1, 2),
    w.txn({ txnId: 1, handle: H, action: TxnAction.CREATE_HANDLE, date: 10, values: [V1] }),
    w.txn({ txnId: 2, handle: Buffer.from('0.NA/88.118.8'), action: TxnAction.HOME_NA, date: 11 }),
    w.txn({ txnId: 3, handle: Buffer.alloc(0), action: TxnAction.DELETE_ALL, date: 12 }),
    w.end(13),
  ]);
}

test('signed with RSA and with DSA keys (SHA1, as the reference), read whole, byte by byte and cut at every offset', () => {
  for (const key of [rsa, dsa]) {
    const wire = sampleTxnStream(keySigner(key.privateKey));
    const whole = new TxnStreamReader(keyVerifier(key.publicKey)).push(wire);
    assert.equal(whole.length, 5);
    const r = new TxnStreamReader(keyVerifier(key.publicKey));
    const bytewise: TxnStreamRecord[] = [];
    for (let i = 0; i < wire.length; i++) bytewise.push(...r.push(wire.subarray(i, i + 1)));
    assert.deepEqual(bytewise, whole);
    assert.equal(r.done, true);
  }
  const wire = sampleTxnStream(keySigner(rsa.privateKey, 'SHA-256'));
  const whole = new TxnStreamReader(keyVerifier(rsa.publicKey)).push(wire);
  for (let cut = 0; cut <= wire.length; cut++) {
    const r = new TxnStreamReader(keyVerifier(rsa.publicKey));
    assert.deepEqual([...r.push(wire.subarray(0, cut)), ...r.push(wire.subarray(cut))], whole, `cut at ${cut}`);
  }
  // The other server's key does not verify.
  isDecodeError(() => new TxnStreamReader(keyVerifier(dsa.publicKey)).push(wire));
});

test('bad signatures and tampered data are refused, whatever byte is changed after the preamble', () => {
  const wire = sampleTxnStream(fakeSign);
  const preamble = 4 + 4 + 4;
  for (let i = preamble; i < wire.length; i++) {
    const bad = Buffer.from(wire);
    bad[i] ^= 0x40;
    assert.throws(
      () => {
        const r = new TxnStreamReader(fakeVerify);
        r.push(bad);
        r.finish(); // a changed length may leave the reader waiting for bytes that never come
      },
      DecodeError,
      `byte ${i}`,
    );
  }
  // A verifier that throws is a bad signature, not a crash.
  isDecodeError(() =>
    new TxnStreamReader(() => {
      throw new Error('boom');
    }).push(wire),
  );
});

test('unsigned streams only when the transport is secure; the TLS marker hands the connection over; inside TLS no signatures', () => {
  const unsigned = new TxnStreamWriter({ kind: 'unsigned' });
  const wire = Buffer.concat([unsigned.header(1, 1), unsigned.end(0)]);
  assert.equal(wire.toString('hex'), i32(-1) + i32(1) + i32(1) + u8(0) + i64(0));
  isDecodeError(() => new TxnStreamReader(fakeVerify).push(wire));
  assert.deepEqual(new TxnStreamReader({ allowUnsigned: true }).push(wire).at(-1), { type: 'end', date: 0 });
  const r = new TxnStreamReader(fakeVerify);
  assert.deepEqual(r.push(Buffer.concat([TLS_STREAM_MARKER, hex('160301')])), []);
  assert.equal(r.tlsRequested, true);
  r.push(hex('00'));
  assert.deepEqual(r.leftover(), hex('16030100'));
  const inside = new TxnStreamWriter({ kind: 'tls' });
  const tlsWire = Buffer.concat([inside.header(1, 2), inside.end(5)]);
  assert.equal(tlsWire.toString('hex'), i32(1) + i32(2) + u8(0) + i64(5));
  assert.deepEqual(new TxnStreamReader({ insideTls: true }).push(tlsWire).length, 2);
  isDecodeError(() => new TxnStreamReader({}).push(sampleTxnStream(fakeSign))); // signed, no key
});

test('what ends a stream: bytes after the end, a connection closed early, unknown record types and formats', () => {
  const wire = sampleTxnStream(fakeSign);
  isDecodeError(() => new TxnStreamReader(fakeVerify).push(Buffer.concat([wire, hex('00')])));
  const done = new TxnStreamReader(fakeVerify);
  done.push(wire);
  isDecodeError(() => done.push(hex('00')));
  const early = new TxnStreamReader(fakeVerify);
  early.push(wire.subarray(0, wire.length - 1));
  isDecodeError(() => early.finish());
  const block = (b: string) => b + sigOf(b);
  const pre = i32(0) + str('SHA1');
  isDecodeError(() => new TxnStreamReader(fakeVerify).push(hex(pre + block(i32(1) + i32(2)) + block(u8(9)))));
  isDecodeError(() => new TxnStreamReader(fakeVerify).push(hex(pre + block(i32(3) + i32(2)))));
  isDecodeError(() => new TxnStreamReader(fakeVerify).push(hex(pre + block(i32(1) + i32(7)))));
  isDecodeError(() => new DumpStreamReader(fakeVerify).push(hex(pre + block(i32(2)) + block(u8(6)))));
  isDecodeError(() => new TxnStreamReader(fakeVerify).push(hex(i32(0x12345678))));
  // A value that is not exactly one value.
  const notValue = u8(1) + i64(1) + str(H) + u8(1) + i64(0) + i32(1) + str(Buffer.concat([V1, hex('00')]));
  isDecodeError(() => new TxnStreamReader(fakeVerify).push(hex(pre + block(i32(1) + i32(2)) + block(notValue))));
});

test('huge lengths are refused before their bytes are waited for, and nothing near their size is allocated', () => {
  const pre = i32(0) + str('SHA1');
  const header = i32(1) + i32(2) + sigOf(i32(1) + i32(2));
  const lies = [
    pre + header + u8(1) + i64(1) + i32(0x7fffffff),
    pre + header + u8(1) + i64(1) + i32(-1),
    pre + header + u8(1) + i64(1) + str(H) + u8(1) + i64(0) + i32(0x7fffffff),
    pre + header + u8(1) + i64(1) + str(H) + u8(1) + i64(0) + i32(1) + i32(0x7fffffff),
    pre + header + u8(2) + i32(0x10000000),
    i32(0) + i32(0x7fffffff),
    pre + i32(1) + i32(2) + i32(0x7fffffff),
  ];
  for (const l of lies) {
    const before = process.memoryUsage().arrayBuffers;
    isDecodeError(() => new TxnStreamReader(fakeVerify).push(hex(l)));
    assert.ok(process.memoryUsage().arrayBuffers - before < 4 * 1024 * 1024);
  }
  // Many values each within its cap, together past the record cap.
  const big = Buffer.alloc(262144);
  const r = new DumpStreamReader(fakeVerify);
  r.push(hex(pre + i32(2) + sigOf(i32(2)) + u8(1) + str(H) + i32(2048)));
  assert.throws(() => {
    for (let i = 0; i < 20; i++) r.push(Buffer.concat([hex(i32(big.length)), big]));
  }, DecodeError);
});

// ---------------------------------------------------------------------------------------------------------
// Garbage: a seeded loop of mutations, fed in random cuts

test('mutated requests and streams (a few thousand, seeded): every decoder returns or throws DecodeError, nothing else', () => {
  const rnd = seededRandom(Number(process.env.REPL_SEED ?? 0x1001));
  const at = (n: number) => Math.floor(rnd() * Math.max(1, n));
  const seeds = {
    retrieve: encodeRetrieveTxnRequest({ lastTxnId: 3, lastQueryDate: 9, hashType: 1, numServers: 2, serverNum: 1 }),
    dumpReq: encodeDumpHandlesRequest({ hashType: 0, numServers: 3, serverNum: 2, startingPoint: { key: H, type: 0 } }),
    next: encodeNextTxnIdResponse(77),
    txn: Buffer.concat([sampleTxnStream(fakeSign)]),
    dump: (() => {
      const w = new DumpStreamWriter(fakeSign);
      return Buffer.concat([w.header(), w.serverInfo(1, 2), w.handle(H, [V1]), w.homedPrefix(H), w.handleDate(H, 1, 1), w.otherSites('s'), w.end()]);
    })(),
  };
  const LIES = [0, 1, 0x7f, 0xff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];
  const mutate = (b0: Buffer): Buffer => {
    const b = Buffer.from(b0);
    switch (at(6)) {
      case 0:
        for (let i = 0, n = 1 + at(4); i < n && b.length; i++) b[at(b.length)] ^= 1 << at(8);
        return b;
      case 1:
        if (b.length >= 4) b.writeUInt32BE(LIES[at(LIES.length)]! >>> 0, at(b.length - 3));
        return b;
      case 2:
        return b.subarray(0, at(b.length + 1));
      case 3:
        return Buffer.concat([b, Buffer.from(Array.from({ length: 1 + at(16) }, () => at(256)))]);
      case 4:
        return Buffer.from(Array.from({ length: at(80) }, () => at(256)));
      default: {
        const s = at(b.length);
        for (let i = s; i < Math.min(b.length, s + 1 + at(8)); i++) b[i] = at(256);
        return b;
      }
    }
  };
  const onlyDecodeError = (name: string, fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      if (!(e instanceof DecodeError)) assert.fail(`${name} threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
    }
  };
  const feed = (reader: TxnStreamReader | DumpStreamReader, b: Buffer) => {
    let pos = 0;
    while (pos < b.length) {
      const n = 1 + at(b.length - pos);
      reader.push(b.subarray(pos, pos + n));
      pos += n;
    }
    reader.finish();
  };
  for (let i = 0; i < 3000; i++) {
    onlyDecodeError('decodeRetrieveTxnRequest', () => decodeRetrieveTxnRequest(mutate(seeds.retrieve)));
    onlyDecodeError('decodeRetrieveTxnRequest(2.8)', () => decodeRetrieveTxnRequest(mutate(seeds.retrieve), [2, 8]));
    onlyDecodeError('decodeDumpHandlesRequest', () => decodeDumpHandlesRequest(mutate(seeds.dumpReq)));
    onlyDecodeError('decodeNextTxnIdResponse', () => decodeNextTxnIdResponse(mutate(seeds.next), i % 2 === 0));
    onlyDecodeError('TxnStreamReader', () => feed(new TxnStreamReader(fakeVerify), mutate(seeds.txn)));
    onlyDecodeError('TxnStreamReader(any signature)', () => feed(new TxnStreamReader(() => true), mutate(seeds.txn)));
    onlyDecodeError('TxnStreamReader(unsigned)', () => feed(new TxnStreamReader({ allowUnsigned: true, verify: () => true }), mutate(seeds.txn)));
    onlyDecodeError('DumpStreamReader', () => feed(new DumpStreamReader(() => true), mutate(seeds.dump)));
  }
});
