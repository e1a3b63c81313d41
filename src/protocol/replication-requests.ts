import { OpCode, ResponseCode } from './constants.js';
import { versionAtLeast } from './envelope.js';
import { DecodeError } from './errors.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';
import { readDigest } from './bodies.js';
import type { Packet } from './message.js';
import type { ReplyOptions, Responder } from './responder.js';

// The message bodies of the reference server's replication operations (docs/replication.md, "The protocol"):
// GET_NEXT_TXN_ID (1000), RETRIEVE_TXN_LOG (1001), DUMP_HANDLES (1002). None of them is in RFC 3652; the
// layouts are those of the reference implementation. The streamed part that follows the answers to 1001 and
// 1002 is in replication-stream.ts.

/** What a transaction of the reference's transaction log did (its Transaction.ACTION_* codes). */
export const TxnAction = {
  PLACEHOLDER: 0,
  CREATE_HANDLE: 1,
  DELETE_HANDLE: 2,
  UPDATE_HANDLE: 3,
  HOME_NA: 4,
  UNHOME_NA: 5,
  DELETE_ALL: 6,
} as const;

/** The second word of a transaction stream: whether transactions follow or the mirror must dump again. */
export const TxnStreamStatus = {
  NEED_TO_REDUMP: 1,
  SENDING_TRANSACTIONS: 2,
} as const;

/** Where a resumed dump starts (the reference's DumpHandlesRequest startingPointType). */
export const DumpStartingPoint = {
  HANDLE_REPLICATION_DB: 0,
  NA_REPLICATION_DB: 1,
  HANDLE: 2,
  NA: 3,
} as const;

/** The limit of the number of servers in a site a request may name (a site record holds at most this many). */
const MAX_SERVERS = 1 << 20;

/** RETRIEVE_TXN_LOG (1001): "send me every transaction after lastTxnId that hashes to my server". */
export interface RetrieveTxnRequest {
  lastTxnId: number;
  /** Milliseconds since 1970, the date the primary gave at the end of the previous pull (0 at first). */
  lastQueryDate: number;
  /** The requesting site's HashOption (0 by prefix, 1 by suffix, 2 by handle). */
  hashType: number;
  numServers: number;
  serverNum: number;
}

/** DUMP_HANDLES (1002): "send me every handle that hashes to my server" (optionally from where a dump broke off). */
export interface DumpHandlesRequest {
  hashType: number;
  numServers: number;
  serverNum: number;
  startingPoint?: { key: Buffer; type: number };
}

/**
 * From 2.9 on a RETRIEVE_TXN_LOG body starts with a byte: 0 for the single-source form below, 1 for the
 * multi-primary form that carries the replication state of every source site as JSON instead of the two
 * longs. Before 2.9 the byte is absent. The version is the request envelope's.
 */
const PULL_ONE_SOURCE = 0;
const PULL_ALL_SOURCES = 1;

export function encodeRetrieveTxnRequest(r: RetrieveTxnRequest, version: [number, number] = [2, 11]): Buffer {
  const w = new Writer(32);
  if (versionAtLeast(version, 2, 9)) w.u8(PULL_ONE_SOURCE);
  writeI64(w, checkTxnId(r.lastTxnId, 'lastTxnId'));
  writeI64(w, checkDate(r.lastQueryDate, 'lastQueryDate'));
  writeShare(w, r);
  return Buffer.from(w.finish());
}

export function decodeRetrieveTxnRequest(body: Buffer, version: [number, number] = [2, 11]): RetrieveTxnRequest {
  const r = new Reader(body);
  if (versionAtLeast(version, 2, 9)) {
    const form = r.u8('retrieve-transactions form');
    if (form === PULL_ALL_SOURCES) {
      // The multi-primary pull: idres keeps one transaction queue and pulls from one primary.
      throw new DecodeError('RETRIEVE_TXN_LOG of every source site (multi-primary) is not supported', ResponseCode.OPERATION_NOT_SUPPORTED);
    }
    if (form !== PULL_ONE_SOURCE) throw new DecodeError(`unknown RETRIEVE_TXN_LOG form ${form}`);
  }
  const lastTxnId = readTxnId(r, 'lastTxnId');
  const lastQueryDate = readDate(r, 'lastQueryDate');
  const share = readShare(r);
  r.restOfBody();
  return { lastTxnId, lastQueryDate, ...share };
}

export function encodeDumpHandlesRequest(d: DumpHandlesRequest): Buffer {
  const w = new Writer(32);
  writeShare(w, d);
  if (d.startingPoint) w.byteString(d.startingPoint.key).u32(d.startingPoint.type);
  return Buffer.from(w.finish());
}

/**
 * The starting point is there when the body is longer than the nine fixed bytes (the reference decides by
 * the body length). Its key is a handle or a prefix: at most a handle's length.
 */
export function decodeDumpHandlesRequest(body: Buffer): DumpHandlesRequest {
  const r = new Reader(body);
  const share = readShare(r);
  if (r.remaining === 0) return share;
  const key = Buffer.from(r.byteString('dump starting point', STREAM_HANDLE_MAX));
  const type = r.i32('dump starting point type');
  if (type < 0 || type > DumpStartingPoint.NA) throw new DecodeError(`unknown dump starting point type ${type}`);
  r.restOfBody();
  return { ...share, startingPoint: { key, type } };
}

/**
 * GET_NEXT_TXN_ID (1000) request: the generic body of the reference, one length-prefixed handle, which the
 * server does not use (encodeHandleOnly of admin-bodies.ts writes it). Its answer is one 8-byte id, after the
 * request digest when RD was asked for.
 */
export function encodeNextTxnIdResponse(nextTxnId: number): Buffer {
  const w = new Writer(8);
  writeI64(w, checkTxnId(nextTxnId, 'next transaction id'));
  return Buffer.from(w.finish());
}

export function decodeNextTxnIdResponse(body: Buffer, hasDigest = false): { digest?: { type: number; digest: Buffer }; nextTxnId: number } {
  const r = new Reader(body);
  const digest = hasDigest ? readDigest(r) : undefined;
  const nextTxnId = readTxnId(r, 'next transaction id');
  r.restOfBody();
  return digest ? { digest, nextTxnId } : { nextTxnId };
}

/**
 * The body of the message that opens a streamed answer (RC SUCCESS, the request's opcode), after the digest
 * when RD was asked for: RETRIEVE_TXN_LOG writes one flag byte (0x01 keep-alive, which idres never sets: the
 * stream ends the connection), DUMP_HANDLES writes nothing.
 */
export function streamOpeningBody(opCode: number, keepAlive = false): Buffer {
  return opCode === OpCode.RETRIEVE_TXN_LOG ? Buffer.from([keepAlive ? 0x01 : 0x00]) : Buffer.alloc(0);
}

/**
 * The whole opening message of a streamed answer, built as every other response (Responder: the request's
 * RequestId, SessionId, opcode and flags less CN/KC, the digest when RD, signed when CT): the stream follows it
 * on the same connection, outside MessageLength.
 */
export function openStreamedResponse(responder: Responder, req: Packet, opts: ReplyOptions = {}): Buffer {
  return responder.reply(req, ResponseCode.SUCCESS, streamOpeningBody(req.header.opCode), opts);
}

export function decodeStreamOpening(body: Buffer, opCode: number, hasDigest = false): { keepAlive: boolean } {
  const r = new Reader(body);
  if (hasDigest) readDigest(r);
  const keepAlive = opCode === OpCode.RETRIEVE_TXN_LOG ? (r.u8('stream flags') & 0x01) !== 0 : false;
  r.restOfBody();
  return { keepAlive };
}


// ---------------------------------------------------------------------------------------------------------
// Shared fields: the requesting server's share of its site, and the 64-bit numbers.

/** The cap on a handle (or prefix) inside replication data: far above any real handle, far below memory. */
export const STREAM_HANDLE_MAX = 65536;

function writeShare(w: Writer, s: { hashType: number; numServers: number; serverNum: number }): void {
  if (!Number.isInteger(s.hashType) || s.hashType < 0 || s.hashType > 0xff) throw new RangeError(`hash type ${s.hashType}`);
  if (!Number.isInteger(s.numServers) || s.numServers < 1 || s.numServers > MAX_SERVERS) throw new RangeError(`server count ${s.numServers}`);
  if (!Number.isInteger(s.serverNum) || s.serverNum < 0 || s.serverNum >= s.numServers) throw new RangeError(`server number ${s.serverNum}`);
  w.u8(s.hashType).u32(s.numServers).u32(s.serverNum);
}

/** Hash type byte, server count, server number: a count below 1 or a number outside it names no server. */
function readShare(r: Reader): { hashType: number; numServers: number; serverNum: number } {
  const hashType = r.u8('hash type');
  const numServers = r.i32('server count');
  const serverNum = r.i32('server number');
  if (numServers < 1 || numServers > MAX_SERVERS) throw new DecodeError(`server count ${numServers} is out of range`);
  if (serverNum < 0 || serverNum >= numServers) throw new DecodeError(`server number ${serverNum} is not one of ${numServers}`);
  return { hashType, numServers, serverNum };
}

export function writeI64(w: Writer, v: number): void {
  w.u32(Math.floor(v / 2 ** 32) >>> 0).u32(v >>> 0);
}

/** A signed big-endian 64-bit integer that must fit a JavaScript number exactly. */
export function readI64(r: Reader, what: string): number {
  return i64From(r.i32(what), r.u32(what), what);
}

/** The 64-bit integer of a signed high word and an unsigned low word, if a JavaScript number holds it exactly. */
export function i64From(hi: number, lo: number, what: string): number {
  const v = hi * 2 ** 32 + lo;
  if (!Number.isSafeInteger(v)) throw new DecodeError(`${what} ${BigInt(hi) * 2n ** 32n + BigInt(lo)} is outside the range of safe integers`);
  return v;
}

/** Transaction ids count up from 1; 0 means "none yet". */
export function readTxnId(r: Reader, what: string): number {
  const v = readI64(r, what);
  if (v < 0) throw new DecodeError(`${what} ${v} is negative`);
  return v;
}

/** Dates are Java milliseconds: any safe integer (the reference writes -1 for "never"). */
export function readDate(r: Reader, what: string): number {
  return readI64(r, what);
}

export function checkTxnId(v: number, what: string): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${what} ${v} is not a transaction id`);
  return v;
}

export function checkDate(v: number, what: string): number {
  if (!Number.isSafeInteger(v)) throw new RangeError(`${what} ${v} is not a date in milliseconds`);
  return v;
}
