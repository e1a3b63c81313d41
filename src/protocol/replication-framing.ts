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
  | { kind: 'signed'; sign: StreamSign; hashAlgorithm?: string }
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
 * RSA or DSA): the hash id goes into the preamble, so it travels with the signing function.
 */
export function keySigner(key: KeyObject, hashAlgorithm = 'SHA1'): WriterFraming {
  const hash = nodeHash(hashAlgorithm);
  if (!hash) throw new RangeError(`unknown stream hash ${hashAlgorithm}`);
  return { kind: 'signed', sign: (data) => createSign(hash).update(data).sign(key), hashAlgorithm };
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

/** Turns blocks into wire bytes: the preamble before the first, a signature after each (when signed). */
export class BlockWriter {
  private started = false;

  constructor(private readonly framing: WriterFraming) {}

  /** One block; `signed` false for the one byte the reference leaves unsigned (the dump's last record). */
  block(data: Buffer, signed = true): Buffer {
    const w = new Writer(data.length + 64);
    if (!this.started) {
      this.started = true;
      if (this.framing.kind === 'signed') w.u32(StreamType.SIGNED).byteString(Buffer.from(this.framing.hashAlgorithm ?? 'SHA1', 'latin1'));
      else if (this.framing.kind === 'unsigned') w.u32(StreamType.UNSIGNED >>> 0);
    }
    w.bytes(data);
    if (signed && this.framing.kind === 'signed') w.byteString(this.framing.sign(data));
    return Buffer.from(w.finish());
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
      let record: R | undefined;
      let last = false;
      try {
        if (this.phase === 'type') this.readType(c);
        else ({ record, last } = this.readBlock(c));
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
      if (record !== undefined) {
        this.accepted(record);
        out.push(record);
      }
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

  private readBlock(c: StreamCursor): { record: R; last: boolean } {
    const start = c.pos;
    const p = this.parse(c);
    if (p.signed && this.signed) {
      const data = c.buf.subarray(start, c.pos);
      const signature = c.byteString('block signature', SIGNATURE_MAX);
      let good = false;
      try {
        good = this.framing.verify!(data, signature, this.hashAlgorithm);
      } catch {
        good = false; // an unknown hash id or a malformed signature is a bad signature, not a crash
      }
      if (!good) throw new DecodeError('a block of the stream has a bad signature');
    }
    return { record: p.record, last: p.last };
  }
}
