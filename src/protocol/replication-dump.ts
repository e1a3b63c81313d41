import { DecodeError } from './errors.js';
import { BlockStreamReader, BlockWriter, type Parsed, type ReaderFraming, type StreamCursor, type StreamSign, type StreamVerify, type WriterFraming } from './replication-framing.js';
import { StreamLimits, framingOf, readValues, readerFramingOf, utf8Text, writeValues } from './replication-records.js';
import { checkDate, checkTxnId, writeI64 } from './replication-requests.js';
import { Writer } from './writer.js';

// The dump stream, the answer to DUMP_HANDLES (docs/replication.md, "The protocol"): a header block, one
// block per record, and a last byte the reference leaves unsigned.

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

const Dump = { SERVER_INFO: 0, HANDLE: 1, HOMED_PREFIX: 2, HANDLE_DATE: 3, PREFIX_DATE: 4, OTHER_SITES: 5, END: 0xff } as const;

export class DumpStreamWriter {
  private readonly out: BlockWriter;
  private formatVersion = 2;

  constructor(framing: WriterFraming | StreamSign) {
    this.out = new BlockWriter(framingOf(framing));
  }

  /** Format 2 is the reference's current dump; in format 1 the serverInfo record ends the stream. */
  header(formatVersion = 2): Buffer {
    this.formatVersion = formatVersion;
    return this.out.block(new Writer(4).u32(formatVersion).finish());
  }

  serverInfo(date: number, txnId: number): Buffer {
    const w = new Writer(17).u8(Dump.SERVER_INFO);
    writeI64(w, checkDate(date, 'dump date'));
    writeI64(w, checkTxnId(txnId, 'dump transaction id'));
    // In format 1 it is the last record, so its signature cannot wait for another block.
    return this.out.block(w.finish(), true, this.formatVersion < 2);
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

function dated(type: number, key: Buffer, date: number, priority: number): Buffer {
  const w = new Writer(key.length + 20).u8(type).byteString(key);
  writeI64(w, checkDate(date, 'date'));
  return w.u32(priority >>> 0).finish();
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
        return { record: { type: 'otherSites', status: utf8Text(c.byteString('replication status', StreamLimits.STATUS_TEXT), 'replication status') }, signed: true, last: false };
      default:
        throw new DecodeError(`unknown dump stream record type ${type}`);
    }
  }
}
