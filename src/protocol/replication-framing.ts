import { type KeyObject, createSign, createVerify } from 'node:crypto';
import { DecodeError } from './errors.js';
import { i64From } from './replication-requests.js';
import { Writer } from './writer.js';

// The framing of the stream that follows the opening message of a RETRIEVE_TXN_LOG or DUMP_HANDLES answer
// on the same TCP connection (docs/replication.md, "The protocol"). The reference calls it a signed stream:
//
//   type i32:  0 signed | -1 unsigned | 0x544C5300 ("TLS\0": the connection turns into TLS here)
//   signed:    hash-id length i32, hash id (ASCII, "SHA1"), then blocks: data, signature length i32, signature
//   unsigned:  blocks of data only (the reader accepts this only over a transport that is already secure)
//
// A signature covers the data of its block alone: every byte written since the previous signature (or since
// the hash id), not the preamble and not the signature frames. The record codecs (replication-stream.ts)
// say where blocks end: after the header and after every record.

export const StreamType = {
  SIGNED: 0,
  UNSIGNED: -1,
  TLS: 0x544c5300,
} as const;

/** What the reference writes for a server that can start TLS: the type word alone; TLS follows. */
export const TLS_STREAM_MARKER = Buffer.from([0x54, 0x4c, 0x53, 0x00]);

/** Signs one block's data; returns the signature bytes as the key's algorithm gives them (RSA PKCS#1 v1.5, DSA DER). */
export type StreamSign = (data: Buffer) => Buffer;
/** Checks one block's signature; hashAlgorithm is the stream's hash id as the sender wrote it. */
export type StreamVerify = (data: Buffer, signature: Buffer, hashAlgorithm: string) => boolean;

export type WriterFraming =
  | {
      kind: 'signed';
      sign: StreamSign;
      hashAlgorithm?: string;
      /**
       * Sign once this many bytes of data have gone unsigned (0: every block, as the reference does). The
       * blocks in between carry an empty signature (length 0): the next real one covers them all. A
       * signature costs a private-key operation, about a millisecond; one per record would cap a first copy
       * near a thousand handles a second.
       */
      signEveryBytes?: number;
    }
  /** The type word -1 and no signatures: for a transport that is secure already (HTTPS). */
  | { kind: 'unsigned' }
  /** Inside TLS, after TLS_STREAM_MARKER: no type word, no signatures. */
  | { kind: 'tls' };

export interface ReaderFraming {
  /** Required to read a signed stream. */
  verify?: StreamVerify;
  /** Accept the unsigned type (the caller knows the transport is secure); refused otherwise. */
  allowUnsigned?: boolean;
  /** The caller has read TLS_STREAM_MARKER and switched to TLS: no type word, no signatures follow. */
  insideTls?: boolean;
}

/**
 * The framing of a stream signed with a server key, as the reference signs with its private key ("SHA1" with
 * RSA or DSA): the hash id goes into the preamble, so it travels with the signing function. With
 * `signEveryBytes`, one signature covers that much data (see WriterFraming).
 */
export function keySigner(key: KeyObject, hashAlgorithm = 'SHA1', signEveryBytes = 0): WriterFraming {
  const hash = nodeHash(hashAlgorithm);
  if (!hash) throw new RangeError(`unknown stream hash ${hashAlgorithm}`);
  return { kind: 'signed', sign: (data) => createSign(hash).update(data).sign(key), hashAlgorithm, signEveryBytes };
}

/** Checks blocks against a server's public key, for the hash ids the reference writes (SHA1, SHA-256). */
export function keyVerifier(key: KeyObject): StreamVerify {
  return (data, signature, hashAlgorithm) => {
    const hash = nodeHash(hashAlgorithm);
    return hash !== undefined && createVerify(hash).update(data).verify(key, signature);
  };
}

function nodeHash(id: string): string | undefined {
  if (/^SHA-?1$/i.test(id)) return 'SHA1';
  if (/^SHA-?256$/i.test(id)) return 'SHA256';
  return undefined;
}

/** Caps on the framing: a hash id is a short name, a signature at most an RSA-16384 one with room. */
const HASH_ID_MAX = 64;
const SIGNATURE_MAX = 16384;
/** Data a reader holds waiting for a deferred signature (a writer signs every 256 KiB or so). */
const MAX_UNVERIFIED_BYTES = 64 * 1024 * 1024;

/**
 * Turns blocks into wire bytes: the preamble before the first, a signature field after each (when signed).
 * A block's signature field is written with the next block (or by end()), once it is known whether the
 * signature is due there: a real one covers every data byte since the previous real one; an empty one
 * defers. A signed stream's last signed block always gets a real signature.
 */
export class BlockWriter {
  private started = false;
  /** Data written since the last real signature (signed streams). */
  private unsigned: Buffer[] = [];
  private unsignedBytes = 0;
  /** The previous block's signature field is still to be written. */
  private owed = false;

  constructor(private readonly framing: WriterFraming) {}

  /**
   * One block. `signed` false for the one byte the reference leaves unsigned (the dump's last record): the
   * blocks before it get their real signature first. `last`: the stream's last signed block, signed now.
   */
  block(data: Buffer, signed = true, last = false): Buffer {
    const w = new Writer(data.length + 64);
    if (!this.started) {
      this.started = true;
      if (this.framing.kind === 'signed') w.u32(StreamType.SIGNED).byteString(Buffer.from(this.framing.hashAlgorithm ?? 'SHA1', 'latin1'));
      else if (this.framing.kind === 'unsigned') w.u32(StreamType.UNSIGNED >>> 0);
    }
    if (this.framing.kind !== 'signed') return Buffer.from(w.bytes(data).finish());
    const every = this.framing.signEveryBytes ?? 0;
    if (this.owed) this.writeSignature(w, !signed || this.unsignedBytes >= every);
    w.bytes(data);
    if (signed) {
      this.unsigned.push(data);
      this.unsignedBytes += data.length;
      this.owed = true;
      if (last) this.writeSignature(w, true);
    }
    return Buffer.from(w.finish());
  }

  private writeSignature(w: Writer, real: boolean): void {
    this.owed = false;
    if (!real) {
      w.u32(0);
      return;
    }
    const signed = this.unsigned.length === 1 ? this.unsigned[0]! : Buffer.concat(this.unsigned, this.unsignedBytes);
    this.unsigned = [];
    this.unsignedBytes = 0;
    w.byteString((this.framing as { sign: StreamSign }).sign(signed));
  }
}

/** Thrown inside a parse when the bytes present end before the record does; caught by the reader. */
const NEED_MORE = Symbol('need more bytes');

/** A cursor over the bytes received so far that tells "not yet" (wait for more) from "wrong" (DecodeError). */
export class StreamCursor {
  pos = 0;
  /** How many bytes the last parse needed to go on: push() does not parse again until they are there. */
  wanted = 0;

  constructor(readonly buf: Buffer) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) {
      this.wanted = this.pos + n;
      throw NEED_MORE;
    }
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  i32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  i64(what: string): number {
    this.need(8);
    const v = i64From(this.buf.readInt32BE(this.pos), this.buf.readUInt32BE(this.pos + 4), what);
    this.pos += 8;
    return v;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** A 4-byte length and that many bytes; the length is checked against max before waiting for the bytes. */
  byteString(what: string, max: number): Buffer {
    const n = this.i32();
    if (n < 0 || n > max) throw new DecodeError(`${what} length ${n} is outside 0..${max}`);
    return this.bytes(n);
  }
}

/** One parsed unit of a stream: what to return (if anything), whether a signature follows, whether it ends the stream. */
export interface Parsed<R> {
  record: R;
  signed: boolean;
  last: boolean;
}

/**
 * Reads a block stream incrementally: push() takes bytes as they arrive, however they are cut, and returns
 * the records completed so far, each one's signature checked before it is returned. Bytes are kept only
 * while a record is incomplete, and a record's lengths are checked against the caps before its bytes are
 * waited for, so what is kept stays under one record's cap plus one chunk.
 */
export abstract class BlockStreamReader<R> {
  private chunks: Buffer[] = [];
  private held = 0;
  private wanted = 0;
  private phase: 'type' | 'blocks' | 'done' | 'tls' = 'type';
  private signed = false;
  private extra: Buffer[] = [];
  /** Records read whose signature is still to come (an empty signature defers it), and their data. */
  private held_: R[] = [];
  private heldData: Buffer[] = [];
  private heldBytes = 0;
  /** The hash id a signed stream names ('' until read, or when unsigned). */
  hashAlgorithm = '';

  constructor(private readonly framing: ReaderFraming) {
    if (framing.insideTls) this.phase = 'blocks';
  }

  /** The whole stream has been read (its end record, verified). */
  get done(): boolean {
    return this.phase === 'done';
  }

  /** The sender switched to TLS: start TLS on the connection, give it leftover(), and read on with insideTls. */
  get tlsRequested(): boolean {
    return this.phase === 'tls';
  }

  /** Bytes received after the TLS marker (the start of the TLS handshake). */
  leftover(): Buffer {
    return Buffer.concat(this.extra);
  }

  /**
   * The next unit at the cursor (the cursor throws NEED_MORE when it is incomplete). It must change no state:
   * an incomplete unit is parsed again from its start when more bytes come; accepted() sees it once whole.
   */
  protected abstract parse(c: StreamCursor): Parsed<R>;

  /** Called with each unit once it is whole and its signature checked, before it is returned. */
  protected accepted(_record: R): void {}

  push(chunk: Buffer): R[] {
    if (this.phase === 'tls') {
      this.extra.push(Buffer.from(chunk));
      return [];
    }
    if (this.phase === 'done') {
      if (chunk.length > 0) throw new DecodeError(`${chunk.length} bytes after the end of the stream`);
      return [];
    }
    if (chunk.length === 0) return [];
    this.chunks.push(chunk);
    this.held += chunk.length;
    const out: R[] = [];
    while (this.held >= this.wanted && this.held > 0 && !this.done && !this.tlsRequested) {
      const buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.held);
      const c = new StreamCursor(buf);
      let records: R[] = [];
      let last = false;
      try {
        if (this.phase === 'type') this.readType(c);
        else ({ records, last } = this.readBlock(c));
      } catch (e) {
        if (e !== NEED_MORE) throw e;
        this.chunks = [buf];
        this.wanted = c.wanted;
        return out;
      }
      const rest = buf.subarray(c.pos);
      this.chunks = rest.length ? [rest] : [];
      this.held = rest.length;
      this.wanted = 0;
      for (const r of records) out.push(r);
      if (last) {
        this.phase = 'done';
        if (rest.length > 0) throw new DecodeError(`${rest.length} bytes after the end of the stream`);
      }
    }
    if (this.tlsRequested && this.held > 0) {
      this.extra.push(Buffer.from(Buffer.concat(this.chunks)));
      this.chunks = [];
      this.held = 0;
    }
    return out;
  }

  /** The connection closed: a stream that did not reach its end record is cut short. */
  finish(): void {
    if (this.phase === 'tls') throw new DecodeError('the stream asked for TLS and ended');
    if (this.phase !== 'done') throw new DecodeError('the stream ended before its end record');
  }

  private readType(c: StreamCursor): void {
    const type = c.i32();
    if (type === StreamType.SIGNED) {
      if (!this.framing.verify) throw new DecodeError('a signed stream, and no key to check it with');
      this.hashAlgorithm = c.byteString('stream hash id', HASH_ID_MAX).toString('latin1');
      this.signed = true;
    } else if (type === StreamType.UNSIGNED) {
      if (!this.framing.allowUnsigned) throw new DecodeError('an unsigned stream over an insecure transport');
    } else if (type === StreamType.TLS) {
      this.phase = 'tls';
      return;
    } else {
      throw new DecodeError(`unknown stream type 0x${(type >>> 0).toString(16)}`);
    }
    this.phase = 'blocks';
  }

  private readBlock(c: StreamCursor): { records: R[]; last: boolean } {
    const start = c.pos;
    const p = this.parse(c);
    if (!this.signed) {
      this.accepted(p.record);
      return { records: [p.record], last: p.last };
    }
    if (!p.signed) {
      this.accepted(p.record);
      // The reference's unsigned last byte: nothing may still be waiting for its signature.
      if (this.held_.length > 0) throw new DecodeError('the stream ended with records whose signature never came');
      return { records: [p.record], last: p.last };
    }
    const data = Buffer.from(c.buf.subarray(start, c.pos));
    const signature = c.byteString('block signature', SIGNATURE_MAX);
    if (signature.length === 0) {
      // Deferred: the next real signature covers this block too. The last one never defers.
      if (p.last) throw new DecodeError('the last block of the stream is not signed');
      if (this.heldBytes + data.length > MAX_UNVERIFIED_BYTES) throw new DecodeError(`more than ${MAX_UNVERIFIED_BYTES} bytes of the stream without a signature`);
      this.accepted(p.record);
      this.held_.push(p.record);
      this.heldData.push(data);
      this.heldBytes += data.length;
      return { records: [], last: false };
    }
    const covered = this.heldData.length ? Buffer.concat([...this.heldData, data]) : data;
    let good = false;
    try {
      good = this.framing.verify!(covered, signature, this.hashAlgorithm);
    } catch {
      good = false; // an unknown hash id or a malformed signature is a bad signature, not a crash
    }
    if (!good) throw new DecodeError('a block of the stream has a bad signature');
    this.accepted(p.record);
    const records = [...this.held_, p.record];
    this.held_ = [];
    this.heldData = [];
    this.heldBytes = 0;
    return { records, last: p.last };
  }
}
