import { DecodeError } from './errors.js';
import { BlockStreamReader, BlockWriter, type Parsed, type ReaderFraming, type StreamCursor, type StreamSign, type StreamVerify, type WriterFraming } from './replication-framing.js';
import { StreamLimits, framingOf, readValues, readerFramingOf, utf8Text, writeValues } from './replication-records.js';
import { TxnAction, checkDate, checkTxnId, writeI64 } from './replication-requests.js';
import { Writer } from './writer.js';

// The transaction stream, the answer to RETRIEVE_TXN_LOG (docs/replication.md, "The protocol"), inside the
// block framing of replication-framing.ts: a header block, then one block per record, each one's signature
// checked before the reader returns it.

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

const Txn = { END: 0, HANDLE: 1, QUEUE_NAME: 2, QUEUE_END: 3 } as const;

const hasValues = (action: number): boolean => action === TxnAction.CREATE_HANDLE || action === TxnAction.UPDATE_HANDLE;

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
        return { record: { type: 'queue', name: utf8Text(c.byteString('queue name', StreamLimits.QUEUE_NAME), 'queue name') }, signed: true, last: false };
      case Txn.QUEUE_END:
        return { record: { type: 'queueEnd', lastTimestamp: c.i64('queue timestamp') }, signed: true, last: false };
      default:
        throw new DecodeError(`unknown transaction stream record type ${type}`);
    }
  }
}

