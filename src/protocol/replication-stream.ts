import { isUtf8 } from 'node:buffer';
import { Limits } from './constants.js';
import { DecodeError } from './errors.js';
import { Reader } from './reader.js';
import { BlockStreamReader, BlockWriter, type Parsed, type ReaderFraming, type StreamCursor, type StreamSign, type StreamVerify, type WriterFraming } from './replication-framing.js';
import { STREAM_HANDLE_MAX, TxnAction, checkDate, checkTxnId, writeI64 } from './replication-requests.js';
import { readValue } from './values.js';
import { Writer } from './writer.js';

// The records of the two replication streams (docs/replication.md, "The protocol"), inside the block framing
// of replication-framing.ts. Every record is one block: the reader checks its signature before returning it.
// Handles are bytes as stored; each value is one value's protocol encoding (values.ts), passed through as it
// is, but checked to be exactly one well-formed value.

/** Caps on what one record may claim, checked before its bytes are waited for. */
export const StreamLimits = {
  HANDLE: STREAM_HANDLE_MAX,
  VALUES: Limits.MAX_VALUES,
  /** One value: what fits in a message. */
  VALUE_BYTES: Limits.MAX_MESSAGE_LENGTH,
  /** All of one record: the handle and its values. */
  RECORD_BYTES: 4 * 1024 * 1024,
  QUEUE_NAME: 4096,
  /** The dump's replication status of other sites (the reference's StreamTable text). */
  STATUS_TEXT: 1024 * 1024,
} as const;

export interface TxnRecord {
  type: 'txn';
  txnId: number;
  handle: Buffer;
  action: number;
  /** Milliseconds since 1970. */
  date: number;
  /** Present for CREATE_HANDLE and UPDATE_HANDLE only: the handle's values as they are now. */
  values?: Buffer[];
}

export type TxnStreamRecord =
  | { type: 'header'; formatVersion: number; status: number }
  | TxnRecord
  /** Format 2: the transactions that follow come from this source server's queue. */
  | { type: 'queue'; name: string }
  /** Format 2: the end of a queue, with the date to ask that source from next time. */
  | { type: 'queueEnd'; lastTimestamp: number }
  /** Format 1 carries the date to send as lastQueryDate next time; format 2 has none. */
  | { type: 'end'; date?: number };

export type DumpStreamRecord =
  | { type: 'header'; formatVersion: number }
  /** Where to pull transactions from after the dump: the date and the last transaction id when it began. */
  | { type: 'serverInfo'; date: number; txnId: number }
  | { type: 'handle'; handle: Buffer; values: Buffer[] }
  | { type: 'homedPrefix'; prefix: Buffer }
  /** The last create or delete of a handle, and the last home or unhome of a prefix (multi-primary bookkeeping). */
  | { type: 'handleDate'; handle: Buffer; date: number; priority: number }
  | { type: 'prefixDate'; prefix: Buffer; date: number; priority: number }
  /** The replication state of other primaries, as the reference's StreamTable text. */
  | { type: 'otherSites'; status: string }
  | { type: 'end' };

const Txn = { END: 0, HANDLE: 1, QUEUE_NAME: 2, QUEUE_END: 3 } as const;
const Dump = { SERVER_INFO: 0, HANDLE: 1, HOMED_PREFIX: 2, HANDLE_DATE: 3, PREFIX_DATE: 4, OTHER_SITES: 5, END: 0xff } as const;

const hasValues = (action: number): boolean => action === TxnAction.CREATE_HANDLE || action === TxnAction.UPDATE_HANDLE;

const framingOf = (f: WriterFraming | StreamSign): WriterFraming => (typeof f === 'function' ? { kind: 'signed', sign: f } : f);
const readerFramingOf = (f: ReaderFraming | StreamVerify): ReaderFraming => (typeof f === 'function' ? { verify: f } : f);

// ---------------------------------------------------------------------------------------------------------
// Writers

export class TxnStreamWriter {
  private readonly out: BlockWriter;
  private formatVersion = 0;

  constructor(framing: WriterFraming | StreamSign) {
    this.out = new BlockWriter(framingOf(framing));
  }

  /** Format 1 answers the single-source request, format 2 the multi-primary one. */
  header(formatVersion: number, status: number): Buffer {
    if (formatVersion !== 1 && formatVersion !== 2) throw new RangeError(`transaction stream format ${formatVersion}`);
    this.formatVersion = formatVersion;
    return this.out.block(new Writer(8).u32(formatVersion).u32(status).finish());
  }

  txn(rec: Omit<TxnRecord, 'type'>): Buffer {
    const w = new Writer(64).u8(Txn.HANDLE);
    writeI64(w, checkTxnId(rec.txnId, 'transaction id'));
    w.byteString(rec.handle).u8(rec.action);
    writeI64(w, checkDate(rec.date, 'transaction date'));
    if (hasValues(rec.action)) writeValues(w, rec.values ?? []);
    else if (rec.values?.length) throw new RangeError(`a transaction of action ${rec.action} carries no values`);
    return this.out.block(w.finish());
  }

  queue(name: string): Buffer {
    return this.out.block(new Writer(32).u8(Txn.QUEUE_NAME).utf8(name).finish());
  }

  queueEnd(lastTimestamp: number): Buffer {
    const w = new Writer(9).u8(Txn.QUEUE_END);
    writeI64(w, checkDate(lastTimestamp, 'queue timestamp'));
    return this.out.block(w.finish());
  }

  /** Format 1 must give the date the mirror asks from next time (its own lastQueryDate when redumping). */
  end(date?: number): Buffer {
    const w = new Writer(9).u8(Txn.END);
    if (this.formatVersion === 1) {
      if (date === undefined) throw new RangeError('a format 1 stream ends with a date');
      writeI64(w, checkDate(date, 'end date'));
    } else if (date !== undefined) throw new RangeError('a format 2 stream ends without a date');
    return this.out.block(w.finish(), true, true);
  }
}

export class DumpStreamWriter {
  private readonly out: BlockWriter;

  constructor(framing: WriterFraming | StreamSign) {
    this.out = new BlockWriter(framingOf(framing));
  }

  /** Format 2 is the reference's current dump; in format 1 the serverInfo record ends the stream. */
  header(formatVersion = 2): Buffer {
    return this.out.block(new Writer(4).u32(formatVersion).finish());
  }

  serverInfo(date: number, txnId: number): Buffer {
    const w = new Writer(17).u8(Dump.SERVER_INFO);
    writeI64(w, checkDate(date, 'dump date'));
    writeI64(w, checkTxnId(txnId, 'dump transaction id'));
    return this.out.block(w.finish());
  }

  handle(handle: Buffer, values: readonly Buffer[]): Buffer {
    const w = new Writer(256).u8(Dump.HANDLE).byteString(handle);
    writeValues(w, values);
    return this.out.block(w.finish());
  }

  homedPrefix(prefix: Buffer): Buffer {
    return this.out.block(new Writer(32).u8(Dump.HOMED_PREFIX).byteString(prefix).finish());
  }

  handleDate(handle: Buffer, date: number, priority: number): Buffer {
    return this.out.block(dated(Dump.HANDLE_DATE, handle, date, priority));
  }

  prefixDate(prefix: Buffer, date: number, priority: number): Buffer {
    return this.out.block(dated(Dump.PREFIX_DATE, prefix, date, priority));
  }

  otherSites(status: string): Buffer {
    return this.out.block(new Writer(256).u8(Dump.OTHER_SITES).utf8(status).finish());
  }

  /** The last byte: the reference writes it after the last signature and signs it not. */
  end(): Buffer {
    return this.out.block(Buffer.from([Dump.END]), false);
  }
}

function writeValues(w: Writer, values: readonly Buffer[]): void {
  w.u32(values.length);
  for (const v of values) w.byteString(v);
}

function dated(type: number, key: Buffer, date: number, priority: number): Buffer {
  const w = new Writer(key.length + 20).u8(type).byteString(key);
  writeI64(w, checkDate(date, 'date'));
  return w.u32(priority >>> 0).finish();
}

// ---------------------------------------------------------------------------------------------------------
// Readers

export class TxnStreamReader extends BlockStreamReader<TxnStreamRecord> {
  formatVersion = 0;
  status = 0;

  constructor(framing: ReaderFraming | StreamVerify) {
    super(readerFramingOf(framing));
  }

  protected override accepted(r: TxnStreamRecord): void {
    if (r.type === 'header') {
      this.formatVersion = r.formatVersion;
      this.status = r.status;
    }
  }

  protected parse(c: StreamCursor): Parsed<TxnStreamRecord> {
    if (this.formatVersion === 0) {
      const formatVersion = c.i32();
      const status = c.i32();
      if (formatVersion !== 1 && formatVersion !== 2) throw new DecodeError(`unknown transaction stream format ${formatVersion}`);
      if (status !== 1 && status !== 2) throw new DecodeError(`unknown transaction stream status ${status}`);
      return { record: { type: 'header', formatVersion, status }, signed: true, last: false };
    }
    const type = c.u8();
    switch (type) {
      case Txn.END:
        return { record: this.formatVersion === 1 ? { type: 'end', date: c.i64('end date') } : { type: 'end' }, signed: true, last: true };
      case Txn.HANDLE: {
        const txnId = c.i64('transaction id');
        if (txnId < 0) throw new DecodeError(`transaction id ${txnId} is negative`);
        const handle = Buffer.from(c.byteString('transaction handle', StreamLimits.HANDLE));
        const action = c.u8();
        const date = c.i64('transaction date');
        const record: TxnRecord = { type: 'txn', txnId, handle, action, date };
        if (hasValues(action)) record.values = readValues(c, handle.length);
        return { record, signed: true, last: false };
      }
      case Txn.QUEUE_NAME:
        return { record: { type: 'queue', name: utf8(c.byteString('queue name', StreamLimits.QUEUE_NAME), 'queue name') }, signed: true, last: false };
      case Txn.QUEUE_END:
        return { record: { type: 'queueEnd', lastTimestamp: c.i64('queue timestamp') }, signed: true, last: false };
      default:
        throw new DecodeError(`unknown transaction stream record type ${type}`);
    }
  }
}

export class DumpStreamReader extends BlockStreamReader<DumpStreamRecord> {
  formatVersion = 0;

  constructor(framing: ReaderFraming | StreamVerify) {
    super(readerFramingOf(framing));
  }

  protected override accepted(r: DumpStreamRecord): void {
    if (r.type === 'header') this.formatVersion = r.formatVersion;
  }

  protected parse(c: StreamCursor): Parsed<DumpStreamRecord> {
    if (this.formatVersion === 0) {
      const formatVersion = c.i32();
      if (formatVersion !== 1 && formatVersion !== 2) throw new DecodeError(`unknown dump stream format ${formatVersion}`);
      return { record: { type: 'header', formatVersion }, signed: true, last: false };
    }
    const type = c.u8();
    switch (type) {
      case Dump.END:
        return { record: { type: 'end' }, signed: false, last: true };
      case Dump.SERVER_INFO: {
        const date = c.i64('dump date');
        const txnId = c.i64('dump transaction id');
        if (txnId < 0) throw new DecodeError(`dump transaction id ${txnId} is negative`);
        // A format 1 dump ends with this record.
        return { record: { type: 'serverInfo', date, txnId }, signed: true, last: this.formatVersion < 2 };
      }
      case Dump.HANDLE: {
        const handle = Buffer.from(c.byteString('dump handle', StreamLimits.HANDLE));
        return { record: { type: 'handle', handle, values: readValues(c, handle.length) }, signed: true, last: false };
      }
      case Dump.HOMED_PREFIX:
        return { record: { type: 'homedPrefix', prefix: Buffer.from(c.byteString('homed prefix', StreamLimits.HANDLE)) }, signed: true, last: false };
      case Dump.HANDLE_DATE:
      case Dump.PREFIX_DATE: {
        const key = Buffer.from(c.byteString('dated key', StreamLimits.HANDLE));
        const date = c.i64('date');
        const priority = c.i32();
        const record: DumpStreamRecord =
          type === Dump.HANDLE_DATE ? { type: 'handleDate', handle: key, date, priority } : { type: 'prefixDate', prefix: key, date, priority };
        return { record, signed: true, last: false };
      }
      case Dump.OTHER_SITES:
        return { record: { type: 'otherSites', status: utf8(c.byteString('replication status', StreamLimits.STATUS_TEXT), 'replication status') }, signed: true, last: false };
      default:
        throw new DecodeError(`unknown dump stream record type ${type}`);
    }
  }
}

/** A count of values, each a length and one value's encoding; the record's total is capped as it is read. */
function readValues(c: StreamCursor, used: number): Buffer[] {
  const n = c.i32();
  if (n < 0 || n > StreamLimits.VALUES) throw new DecodeError(`value count ${n} is outside 0..${StreamLimits.VALUES}`);
  const out = new Array<Buffer>(n);
  let total = used;
  for (let i = 0; i < n; i++) {
    const size = c.i32();
    if (size < 0 || size > StreamLimits.VALUE_BYTES) throw new DecodeError(`value of ${size} bytes is outside 0..${StreamLimits.VALUE_BYTES}`);
    total += 4 + size;
    if (total > StreamLimits.RECORD_BYTES) throw new DecodeError(`a record of more than ${StreamLimits.RECORD_BYTES} bytes`);
    const bytes = c.bytes(size);
    checkOneValue(bytes);
    out[i] = Buffer.from(bytes);
  }
  return out;
}

/** The bytes are exactly one value as values.ts reads it (the reference decodes each; a mirror stores them). */
function checkOneValue(bytes: Buffer): void {
  const r = new Reader(bytes);
  readValue(r);
  r.expectEnd('a value in the stream');
}

function utf8(b: Buffer, what: string): string {
  if (!isUtf8(b)) throw new DecodeError(`${what} is not valid UTF-8`);
  return b.toString('utf8');
}
