import { ResponseCode } from '../protocol/constants.js';
import { encodeErrorBody } from '../protocol/bodies.js';
import { ScanRefusal, scanPublicValueList } from '../protocol/value-scan.js';
import { isPrefixHandle } from '../model/handle.js';
import { VALUE_BLOB_FORMAT } from '../store/value-blob.js';
import type { Authority } from './authority.js';
import type { AnswerCache } from './cache/answer-cache.js';

// The miss path without detours (issue 16). A handle's values are stored as the protocol's value list
// (store/value-blob.ts: a format byte, then the count and the values), and an answer to "every value of
// this handle" carries exactly that list after the handle. So a plain resolution with no index or type
// list, for a handle whose values are all public, is answered by writing the response header, the handle
// as asked and the stored list into one buffer: no values decoded into objects, none encoded again, no
// selection. What decides is a walk over the values' fixed fields (protocol/value-scan.ts). Everything
// else (filters, non-public values, prefix handles, bare prefixes, handles this node does not home, strings
// that are not ASCII, a blob the walk will not vouch for) is declined, with the reason, and takes the
// general path (pipeline.ts → authority.ts), whose answer is byte for byte the same
// (test/miss-path.test.ts). The answer goes into the cache as the general path's would, so the next ask is
// a hot hit; when the cache will not keep it, it is answered from this object's own buffer.
//
// One object per pipeline, reused: answer() makes the handle and key strings it must hand SQLite and
// nothing else; its outcome is left in fields, not returned in an object.

/** Why answer() declined (MissStats.declined is indexed by these). */
export const MissDecline = {
  NONE: 0,
  /** The request names indexes or types: a selection is the general path's. */
  FILTERED: 1,
  /** The handle as asked has a byte above 0x7f (the decoder checks its UTF-8). */
  HANDLE_NOT_ASCII: 2,
  /** No slash: a bare prefix (answered as its prefix handle) or the SDK's heartbeat "0". */
  NO_SUFFIX: 3,
  /** 0.NA/…: the delegations answer these. */
  PREFIX_HANDLE: 4,
  /** Not a prefix this node homes: a referral or recursion. */
  NOT_HOMED: 5,
  /** A value an anonymous reader may not see. */
  NOT_PUBLIC: 6,
  /** A type or reference handle that is not ASCII. */
  VALUE_NOT_ASCII: 7,
  /** A stored blob the walk will not vouch for (the general path reports the damage). */
  MALFORMED: 8,
  /** A handle without values (answered 200). */
  NO_VALUES: 9,
} as const;
const DECLINE_REASONS = 10;

/** What the miss path did, for metrics and tests. */
export class MissStats {
  answered = 0;
  readonly declined = new Float64Array(DECLINE_REASONS);
}

export interface BlobMissOptions {
  negativeTtlSeconds: number;
  maxTtlSeconds: number;
}

// A response template (message.ts) is the envelope (20 bytes, the message length at 16), the header (24, the
// body length last, at 40), the body, and the credential's length (4, 0 here): the miss path copies the
// first 44 bytes of an empty answer's template and writes the rest.
const HEAD = 44;
const MESSAGE_LENGTH_AT = 16;
const BODY_LENGTH_AT = 40;

export class BlobMiss {
  readonly stats = new MissStats();
  /** After answer() returned true: the response code, and the packet template at src[start, start + length). */
  responseCode = 0;
  src: Buffer;
  start = 0;
  length = 0;
  /** After answer() returned true: the cache slot it was kept in (read it at once, as getAt's), or -1. */
  slot = -1;
  /** After answer() returned false: why (a MissDecline). */
  declined = 0;

  private readonly head: Buffer;
  private readonly notFound: Buffer;
  private scratch = Buffer.allocUnsafeSlow(16 * 1024);

  constructor(
    private readonly authority: Authority,
    private readonly cache: AnswerCache,
    private readonly opts: BlobMissOptions,
  ) {
    // From the node's responder, so the fields every answer shares (site serial, suggested version) are its.
    this.head = Buffer.from(cache.packetFor(ResponseCode.SUCCESS, Buffer.alloc(0)).subarray(0, HEAD));
    this.notFound = cache.packetFor(ResponseCode.HANDLE_NOT_FOUND, encodeErrorBody(''));
    this.src = this.scratch;
  }

  /** After answer() returned true: the answer's body (a view: read it before the cache next changes). */
  body(): Buffer {
    return this.src.subarray(this.start + HEAD, this.start + this.length - 4);
  }

  /** After answer() returned true: the cache entry the answer was kept as (its serial and freshness), or undefined. */
  keptAs(): { serial: number; freshUntil: number } | undefined {
    return this.slot < 0 ? undefined : { serial: this.cache.serialAt(this.slot), freshUntil: this.cache.freshUntilAt(this.slot) };
  }

  /**
   * Answer the plain, unauthenticated resolution whose body's key (handle, index list, type list) is
   * buf[start, end), already checked to fit (resolutionKeyEnd), after the cache missed it. True when
   * answered (see responseCode, src, start, length); false with `declined` set when the general path must.
   */
  answer(buf: Buffer, start: number, end: number, nowMs: number): boolean {
    const handleLength = buf.readUInt32BE(start);
    const handleStart = start + 4;
    const handleEnd = handleStart + handleLength;
    if (end !== handleEnd + 8 || buf.readUInt32BE(handleEnd) !== 0) return this.decline(MissDecline.FILTERED);
    for (let i = handleStart; i < handleEnd; i++) if (buf[i]! > 0x7f) return this.decline(MissDecline.HANDLE_NOT_ASCII);
    const handle = buf.toString('latin1', handleStart, handleEnd);
    const slash = handle.indexOf('/');
    if (slash < 0) return this.decline(MissDecline.NO_SUFFIX);
    if (isPrefixHandle(handle)) return this.decline(MissDecline.PREFIX_HANDLE);
    const registry = this.authority.registry;
    // The key's prefix is already in its canonical case (and, ASCII, as long as asked): homes() need not fold it again.
    const key = registry.key(handle);
    if (!this.authority.homes(key.slice(0, slash))) return this.decline(MissDecline.NOT_HOMED);
    const blob = registry.blobAt(key);
    if (blob === undefined) return this.answerNotFound(buf, start, end, key, nowMs);
    if (blob.length < 5 || blob[0] !== VALUE_BLOB_FORMAT) return this.decline(MissDecline.MALFORMED);
    const ttl = scanPublicValueList(blob, 1, blob.length, Math.floor(nowMs / 1000));
    if (ttl < 0) return this.decline(declineOf(ttl));

    // The template: head, body (handle as asked, then the stored list from its count on), empty credential.
    const bodyLength = 4 + handleLength + blob.length - 1;
    const length = HEAD + bodyLength + 4;
    if (length > this.scratch.length) this.scratch = Buffer.allocUnsafeSlow(Math.max(length, 2 * this.scratch.length));
    const out = this.scratch;
    this.head.copy(out, 0);
    out.writeUInt32BE(length - 20, MESSAGE_LENGTH_AT);
    out.writeUInt32BE(bodyLength, BODY_LENGTH_AT);
    buf.copy(out, HEAD, start, handleEnd); // the handle's length and bytes, as asked
    blob.copy(out, HEAD + 4 + handleLength, 1);
    out.writeUInt32BE(0, length - 4);
    return this.answered(buf, start, end, key, ResponseCode.SUCCESS, out, length, ttl, nowMs);
  }

  /** 100 for a handle of a homed prefix that is not there, kept as briefly as the general path keeps it. */
  private answerNotFound(buf: Buffer, start: number, end: number, key: string, nowMs: number): boolean {
    return this.answered(buf, start, end, key, ResponseCode.HANDLE_NOT_FOUND, this.notFound, this.notFound.length, this.opts.negativeTtlSeconds, nowMs);
  }

  /**
   * Keep the template in the cache for its TTL, bounded as the pipeline bounds it (answered from the slab
   * then), or answer from it when the cache will not keep it.
   */
  private answered(buf: Buffer, start: number, end: number, key: string, rc: number, src: Buffer, length: number, ttl: number, nowMs: number): boolean {
    ttl = Math.min(ttl, this.opts.maxTtlSeconds);
    const slot = ttl > 0 ? this.cache.setAt(buf, start, end, key, rc, src, 0, length, nowMs + ttl * 1000, nowMs) : -1;
    this.slot = slot;
    if (slot >= 0) {
      this.src = this.cache.slabAt(slot);
      this.start = this.cache.packetStartAt(slot);
    } else {
      this.src = src;
      this.start = 0;
    }
    this.responseCode = rc;
    this.length = length;
    this.declined = MissDecline.NONE;
    this.stats.answered++;
    return true;
  }

  private decline(reason: number): false {
    this.declined = reason;
    this.stats.declined[reason]!++;
    return false;
  }
}

function declineOf(refusal: number): number {
  switch (refusal) {
    case ScanRefusal.NOT_PUBLIC:
      return MissDecline.NOT_PUBLIC;
    case ScanRefusal.NOT_ASCII:
      return MissDecline.VALUE_NOT_ASCII;
    case ScanRefusal.EMPTY:
      return MissDecline.NO_VALUES;
    default:
      return MissDecline.MALFORMED;
  }
}
