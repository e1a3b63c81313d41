import { isUtf8 } from 'node:buffer';
import { Limits } from './constants.js';
import { DecodeError } from './errors.js';

/**
 * A cursor over a byte range. Every read checks the bytes that remain, so a length that lies becomes a
 * DecodeError, never an out-of-range read.
 */
export class Reader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    start = 0,
    readonly end: number = buf.length,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.end - this.pos) {
      throw new DecodeError(`truncated ${what}: need ${n} bytes, ${this.end - this.pos} left`);
    }
  }

  u8(what = 'byte'): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what = 'u16'): number {
    this.need(2, what);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(what = 'u32'): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  i32(what = 'i32'): number {
    this.need(4, what);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** n raw bytes, as a view (no copy). */
  bytes(n: number, what = 'bytes'): Buffer {
    this.need(n, what);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /** A 4-byte length followed by that many bytes, as a view. */
  byteString(what = 'byte string', max: number = Limits.MAX_MESSAGE_LENGTH): Buffer {
    const n = this.u32(`${what} length`);
    if (n > max) throw new DecodeError(`${what} of ${n} bytes exceeds the limit of ${max}`);
    return this.bytes(n, what);
  }

  /** A 4-byte length followed by UTF-8 text; invalid UTF-8 is an error, not a replacement character. */
  utf8(what = 'string', max: number = Limits.MAX_MESSAGE_LENGTH): string {
    const b = this.byteString(what, max);
    if (!isUtf8(b)) throw new DecodeError(`${what} is not valid UTF-8`);
    return b.toString('utf8');
  }

  /** A 4-byte count, checked against a limit and against the bytes left (each item takes at least minItemSize). */
  count(what: string, max: number, minItemSize: number): number {
    const n = this.u32(`${what} count`);
    if (n > max) throw new DecodeError(`${what} count ${n} exceeds the limit of ${max}`);
    if (n * minItemSize > this.end - this.pos) {
      throw new DecodeError(`${what} count ${n} cannot fit in the ${this.end - this.pos} bytes left`);
    }
    return n;
  }

  /**
   * The end of a message body (inside BodyLength): whatever follows the fields its decoder knows, returned
   * as a view and otherwise ignored. This is the one rule for every message body (docs/idis.md): the
   * reference server reads the fields it knows at their offsets and ignores the rest, and extensions such
   * as the national SDK's resolution token live there. Value data (site records, HS_VLIST, keys,
   * credentials) are structures, not bodies, and end exactly (expectEnd).
   */
  restOfBody(): Buffer {
    const rest = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return rest;
  }

  expectEnd(what: string): void {
    if (this.pos !== this.end) {
      throw new DecodeError(`${this.end - this.pos} unexpected trailing bytes after ${what}`);
    }
  }
}
