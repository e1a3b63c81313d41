// The seeds of the fuzzing campaign: well-formed requests of every kind a node reads (Handle resolution,
// site info, administration, authentication, sessions, the national SDK's login, DNS queries), the reference
// server's and the SDK's captured requests, and the mutations that turn them into hostile input.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import dnsPacket from 'dns-packet';
import { encodeRequest } from '../src/client/request.js';
import { OpCode, OpFlag } from '../src/protocol/constants.js';
import { encodeResolutionRequest, encodeSiteInfoRequest } from '../src/protocol/bodies.js';
import { encodeHandleOnly, encodeHandleWithValues, encodeRemoveValues } from '../src/protocol/admin-bodies.js';
import { encodeChallengeAnswer, encodeLoginRequest, encodeSessionSetupRequest } from '../src/protocol/auth-bodies.js';
import { makeValue } from '../src/model/value.js';
import { Limits } from '../src/protocol/constants.js';
import { seededRandom } from '../src/demo/products.js';
import { Writer } from '../src/protocol/writer.js';
import { writeValue } from '../src/protocol/values.js';
import {
  DumpStreamWriter,
  TxnAction,
  TxnStreamWriter,
  encodeDumpHandlesRequest,
  encodeNextTxnIdResponse,
  encodeRetrieveTxnRequest,
  streamOpeningBody,
} from '../src/protocol/replication.js';

/** The seeded generator of the demo data: the same seed gives the same campaign. */
export const rng = seededRandom;

export const PREFIX = '88.118.8';

/** Well-formed Handle requests of every opcode a node reads, and the captured ones. */
export function handleSeeds(repoRoot: string): Buffer[] {
  const out: Buffer[] = [];
  const req = (opCode: number, body: Buffer, flags = OpFlag.CA | OpFlag.PO, extra: { sessionId?: number } = {}) =>
    out.push(encodeRequest({ opCode, body, flags, requestId: 1, ...extra }));
  for (const h of [`${PREFIX}/FUZZ-1`, `${PREFIX}/NOPE`, `0.NA/${PREFIX}`, PREFIX, '0', '0.NA/88', `99.1/X`]) {
    req(OpCode.RESOLUTION, encodeResolutionRequest(h));
    req(OpCode.RESOLUTION, encodeResolutionRequest(h, [1, 3], ['URL', 'HS_SITE.']), OpFlag.CA);
    req(OpCode.RESOLUTION, encodeResolutionRequest(h, [], [], Buffer.from('token')), OpFlag.REC | OpFlag.CA | OpFlag.PO | 0x4);
    req(OpCode.RESOLUTION, encodeResolutionRequest(h), OpFlag.RD | OpFlag.CT | OpFlag.KC);
  }
  req(OpCode.GET_SITE_INFO, encodeSiteInfoRequest('/'));
  req(OpCode.GET_SITE_INFO, encodeSiteInfoRequest('/'), OpFlag.CA, { sessionId: 10001 });
  const values = [makeValue(1, 'URL', 'https://example.cn/f'), makeValue(2, 'EMAIL', 'f@example.cn')];
  req(OpCode.CREATE_HANDLE, encodeHandleWithValues(`${PREFIX}/FUZZ-NEW`, values), 0);
  req(OpCode.ADD_VALUE, encodeHandleWithValues(`${PREFIX}/FUZZ-1`, values), OpFlag.OW);
  req(OpCode.MODIFY_VALUE, encodeHandleWithValues(`${PREFIX}/FUZZ-1`, values), 0);
  req(OpCode.REMOVE_VALUE, encodeRemoveValues(`${PREFIX}/FUZZ-1`, [1, 2]), 0);
  req(OpCode.DELETE_HANDLE, encodeHandleOnly(`${PREFIX}/FUZZ-1`), 0);
  req(OpCode.LIST_HANDLES, encodeHandleOnly(`0.NA/${PREFIX}`), 0);
  req(OpCode.HOME_NA, encodeHandleOnly(`0.NA/${PREFIX}`), 0);
  req(
    OpCode.RESPONSE_TO_CHALLENGE,
    encodeChallengeAnswer({ authType: 'HS_PUBKEY', identityHandle: `0.NA/${PREFIX}`, identityIndex: 300, signedResponse: Buffer.alloc(80, 7) }),
    OpFlag.RD,
    { sessionId: 12345 },
  );
  req(OpCode.SESSION_SETUP, encodeSessionSetupRequest({ mode: 4, timeoutSeconds: 60, identityHandle: `0.NA/${PREFIX}`, identityIndex: 300, publicKey: Buffer.alloc(40, 3) }), OpFlag.CT);
  req(OpCode.SESSION_TERMINATE, Buffer.alloc(0), 0, { sessionId: 777 });
  req(OpCode.LOGIN_ID_SYSTEM, encodeLoginRequest({ identityHandle: `0.NA/${PREFIX}`, identityIndex: 300 }), OpFlag.REC | OpFlag.RD, { sessionId: 10001 });
  // Replication requests, as a mirror sends them to its primary (the node answers them as it can).
  req(OpCode.GET_NEXT_TXN_ID, encodeHandleOnly('/'), OpFlag.CT);
  for (const body of replicationRequestBodies()) {
    req(body.length > 20 ? OpCode.RETRIEVE_TXN_LOG : OpCode.DUMP_HANDLES, body, OpFlag.CT | OpFlag.RD);
  }
  req(9999, Buffer.alloc(8));
  for (const dir of ['test/vectors/handle-golden', 'test/vectors/handle-golden/admin', 'test/vectors/idis-golden']) {
    const full = path.join(repoRoot, dir);
    for (const f of readdirSync(full)) {
      // Requests only (the reference's NAME.reqN.bin, admin captures sent by the client, the SDK's).
      if (!f.endsWith('.bin') || /resp|\.s2c|pubkey/.test(f)) continue;
      out.push(readFileSync(path.join(full, f)));
    }
  }
  return out;
}

/** Well-formed DNS queries for the gateway. */
export function dnsSeeds(zone: string): Buffer[] {
  const names = [`fuzz-1._.8.118.88.${zone}`, `nope._.8.118.88.${zone}`, zone, `_.8.118.88.${zone}`, 'example.com'];
  const out: Buffer[] = [];
  for (const name of names) {
    for (const type of ['TXT', 'URI', 'NAPTR', 'A', 'SOA', 'ANY'] as const) {
      out.push(dnsPacket.encode({ type: 'query', id: 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: type as 'TXT', name }] }));
    }
  }
  out.push(dnsPacket.encode({ type: 'query', id: 2, questions: [{ type: 'TXT', name: names[0]! }], additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as dnsPacket.Answer] }));
  return out;
}

/** Bodies of the replication requests: RETRIEVE_TXN_LOG at 2.11 and at 2.8, DUMP_HANDLES plain and resumed. */
export function replicationRequestBodies(): Buffer[] {
  return [
    encodeRetrieveTxnRequest({ lastTxnId: 0, lastQueryDate: 0, hashType: 0, numServers: 1, serverNum: 0 }),
    encodeRetrieveTxnRequest({ lastTxnId: 2 ** 40, lastQueryDate: 1_700_000_000_000, hashType: 2, numServers: 3, serverNum: 2 }),
    encodeRetrieveTxnRequest({ lastTxnId: 7, lastQueryDate: -1, hashType: 1, numServers: 2, serverNum: 1 }, [2, 8]),
    encodeDumpHandlesRequest({ hashType: 0, numServers: 1, serverNum: 0 }),
    encodeDumpHandlesRequest({ hashType: 2, numServers: 4, serverNum: 3, startingPoint: { key: Buffer.from(`${PREFIX}/FUZZ-1`), type: 2 } }),
  ];
}

/**
 * What a primary sends a mirror after the opening message (the mirror's decoder input): transaction streams of
 * both formats and a dump, signed with a stand-in signature (the SHA-1 of the block, which fuzzSign checks), and
 * the bodies of the GET_NEXT_TXN_ID answer and of the openings.
 */
export const fuzzSign = (data: Buffer): Buffer => createHash('sha1').update(data).digest();

export function replicationStreamSeeds(): Buffer[] {
  const value = (i: number, type: string, data: string) => {
    const w = new Writer(64);
    writeValue(w, makeValue(i, type, data));
    return Buffer.from(w.finish());
  };
  const h = Buffer.from(`${PREFIX}/FUZZ-1`);
  const vs = [value(1, 'URL', 'https://example.cn/f'), value(100, 'HS_ADMIN', 'x')];
  const t1 = new TxnStreamWriter(fuzzSign);
  const t2 = new TxnStreamWriter({ kind: 'unsigned' });
  const d = new DumpStreamWriter(fuzzSign);
  return [
    Buffer.concat([
      t1.header(1, 2),
      t1.txn({ txnId: 1, handle: h, action: TxnAction.CREATE_HANDLE, date: 1, values: vs }),
      t1.txn({ txnId: 2, handle: h, action: TxnAction.DELETE_HANDLE, date: 2 }),
      t1.end(3),
    ]),
    Buffer.concat([t2.header(2, 2), t2.queue(`0:${PREFIX}`), t2.txn({ txnId: 9, handle: h, action: TxnAction.UPDATE_HANDLE, date: 4, values: vs }), t2.queueEnd(5), t2.end()]),
    Buffer.concat([d.header(), d.otherSites('{}'), d.serverInfo(1, 2), d.handleDate(h, 3, 0), d.handle(h, vs), d.homedPrefix(Buffer.from(`0.NA/${PREFIX}`)), d.end()]),
    encodeNextTxnIdResponse(12345),
    streamOpeningBody(OpCode.RETRIEVE_TXN_LOG),
  ];
}

const LIES = [0, 1, 2, 3, 4, 0x7f, 0xff, 0x100, 0xffff, 0x10000, Limits.MAX_MESSAGE_LENGTH, Limits.MAX_MESSAGE_LENGTH + 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** One hostile variant of a seed: flipped bits, lying lengths, cuts, junk appended, splices, or pure noise. */
export function mutate(seed: Buffer, other: Buffer, r: () => number): Buffer {
  const pick = Math.floor(r() * 9);
  const b = Buffer.from(seed);
  const at = (n = b.length) => Math.floor(r() * Math.max(1, n));
  switch (pick) {
    case 0: {
      const flips = 1 + at(8);
      for (let i = 0; i < flips && b.length; i++) b[at()] ^= 1 << at(8);
      return b;
    }
    case 1: {
      // A 4-byte field, aligned as the protocol's are, set to a lie; the envelope's own lengths included.
      if (b.length < 4) return b;
      const off = at(b.length >> 2) << 2;
      b.writeUInt32BE(LIES[at(LIES.length)]! >>> 0, Math.min(off, b.length - 4));
      return b;
    }
    case 2:
      return b.subarray(0, at(b.length + 1));
    case 3:
      return Buffer.concat([b, noise(r, 1 + at(64))]);
    case 4: {
      const cut = at(b.length + 1);
      return Buffer.concat([b.subarray(0, cut), other.subarray(at(other.length + 1))]);
    }
    case 5:
      return noise(r, at(600));
    case 6: {
      // A random byte run overwritten.
      const start = at();
      const n = 1 + at(16);
      for (let i = start; i < Math.min(b.length, start + n); i++) b[i] = at(256);
      return b;
    }
    case 7: {
      // Both lengths made consistent with a new body: the message decodes as far as the body's own fields.
      if (b.length < 48) return b;
      const body = noise(r, at(200));
      const out = Buffer.concat([b.subarray(0, 44), body, Buffer.alloc(4)]);
      out.writeUInt32BE(out.length - 20, 16);
      out.writeUInt32BE(body.length, 40);
      return out;
    }
    default:
      return b;
  }
}

/** Seeded random bytes, made once: noise is a copy of a slice of it, which keeps the fuzzer faster than the node. */
let pool: Buffer | undefined;

export function noise(r: () => number, n: number): Buffer {
  if (!pool) {
    const g = rng(0x5eed);
    pool = Buffer.allocUnsafe(1 << 20);
    for (let i = 0; i < pool.length; i += 4) pool.writeUInt32BE(Math.floor(g() * 4294967296) >>> 0, i);
  }
  const start = Math.floor(r() * (pool.length - n));
  return Buffer.from(pool.subarray(start, start + n));
}

/**
 * A message cut into UDP fragments as the protocol does (492 bytes each, every one with the whole length
 * and its sequence number), then some fragments dropped, duplicated, reordered or given a wrong number.
 */
export function hostileFragments(packet: Buffer, r: () => number): Buffer[] {
  if (packet.length < 20) return [packet];
  const message = packet.subarray(20);
  const pieces: Buffer[] = [];
  for (let off = 0, seq = 0; off < Math.max(1, message.length); off += Limits.UDP_FRAGMENT_SIZE, seq++) {
    const chunk = message.subarray(off, off + Limits.UDP_FRAGMENT_SIZE);
    const d = Buffer.concat([packet.subarray(0, 20), chunk]);
    d[2] = d[2]! | 0x20;
    d.writeUInt32BE(seq, 12);
    pieces.push(d);
  }
  const out: Buffer[] = [];
  for (const p of pieces) {
    const x = r();
    if (x < 0.1) continue; // lost
    const q = Buffer.from(p);
    if (x < 0.2) q.writeUInt32BE(Math.floor(r() * 4096), 12); // wrong sequence
    else if (x < 0.25) q.writeUInt32BE(LIES[Math.floor(r() * LIES.length)]! >>> 0, 16); // lying total
    out.push(q);
    if (x > 0.9) out.push(q); // duplicated
  }
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
