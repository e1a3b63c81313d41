import { serverIndexFor } from '../model/site.js';
import { OpCode, ResponseCode } from '../protocol/constants.js';
import type { Packet } from '../protocol/message.js';
import { MessageStream } from '../protocol/message-stream.js';
import type { ReplyOptions, Responder } from '../protocol/responder.js';
import {
  DumpStreamWriter,
  type StreamSign,
  TxnAction,
  TxnStreamStatus,
  TxnStreamWriter,
  type WriterFraming,
  decodeDumpHandlesRequest,
  decodeRetrieveTxnRequest,
  encodeNextTxnIdResponse,
  openStreamedResponse,
} from '../protocol/replication.js';
import { splitValues } from '../store/value-blob.js';
import type { FeedItem, TxnFeed } from '../store/txn-feed.js';

// A primary's side of replication (docs/replication.md): GET_NEXT_TXN_ID, RETRIEVE_TXN_LOG and DUMP_HANDLES
// answered from the registry's transaction log and rows, as the reference server answers its mirrors. A
// stream is made a page at a time as the mirror's connection takes it (MessageStream), so a mirror far
// behind, or a first copy of millions of handles, never costs the registry in memory.

export interface SourceOptions {
  feed: TxnFeed;
  responder: Responder;
  /** Signs the blocks of a stream with the server's key. */
  sign: WriterFraming | StreamSign;
  /** Log entries one RETRIEVE_TXN_LOG answer carries at most; the mirror asks again for the rest. */
  maxEntriesPerPull?: number;
  /** Stream bytes made before they are handed to the connection. */
  pageBytes?: number;
  now: () => number;
}

const DEFAULT_ENTRIES_PER_PULL = 50_000;
const DEFAULT_PAGE_BYTES = 256 * 1024;

export class ReplicationSource {
  private readonly maxEntries: number;
  private readonly pageBytes: number;
  readonly stats = { pulls: 0, dumps: 0, redumpsAsked: 0, transactionsSent: 0, handlesDumped: 0 };

  constructor(private readonly o: SourceOptions) {
    this.maxEntries = o.maxEntriesPerPull ?? DEFAULT_ENTRIES_PER_PULL;
    this.pageBytes = o.pageBytes ?? DEFAULT_PAGE_BYTES;
  }

  /** The answer to a replication request from a proven replication administrator. */
  answer(req: Packet, opts: ReplyOptions): Buffer | MessageStream {
    const r = this.o.responder;
    switch (req.header.opCode) {
      case OpCode.GET_NEXT_TXN_ID:
        return r.reply(req, ResponseCode.SUCCESS, encodeNextTxnIdResponse(this.o.feed.lastTxnId() + 1), opts);
      case OpCode.RETRIEVE_TXN_LOG:
        return this.retrieve(req, opts);
      default:
        return this.dump(req, opts);
    }
  }

  private retrieve(req: Packet, opts: ReplyOptions): MessageStream {
    const q = decodeRetrieveTxnRequest(req.body, [req.envelope.major, req.envelope.minor]);
    const opening = openStreamedResponse(this.o.responder, req, opts);
    const share = shareOf(q);
    this.stats.pulls++;
    return new MessageStream(req.header.opCode, ResponseCode.SUCCESS, () => {
      const w = new TxnStreamWriter(this.o.sign);
      const feed = this.o.feed;
      const now = this.o.now();
      if (!feed.canFollow(q.lastTxnId)) {
        this.stats.redumpsAsked++;
        return [[opening, w.header(1, TxnStreamStatus.NEED_TO_REDUMP), w.end(q.lastQueryDate)]].values();
      }
      const items = feed.after(q.lastTxnId, this.maxEntries);
      const stats = this.stats;
      return paged(this.pageBytes, [opening, w.header(1, TxnStreamStatus.SENDING_TRANSACTIONS)], function* () {
        for (const item of items) {
          if (!share(item)) continue;
          stats.transactionsSent++;
          yield w.txn(txnRecordOf(item));
        }
        yield w.end(now);
      });
    });
  }

  private dump(req: Packet, opts: ReplyOptions): MessageStream {
    const q = decodeDumpHandlesRequest(req.body);
    const opening = openStreamedResponse(this.o.responder, req, opts);
    const inShare = q.numServers <= 1 ? () => true : (h: string) => serverIndexFor(q.hashType, q.numServers, h) === q.serverNum;
    this.stats.dumps++;
    return new MessageStream(req.header.opCode, ResponseCode.SUCCESS, () => {
      const w = new DumpStreamWriter(this.o.sign);
      const feed = this.o.feed;
      // Where the mirror pulls from afterwards: the log as it is now. Writes made while the dump runs are in
      // the log after this id, and applying them again is harmless (each carries the state to set).
      const txnId = feed.lastTxnId();
      const date = this.o.now();
      const stats = this.stats;
      return paged(this.pageBytes, [opening, w.header(2), w.serverInfo(date, txnId)], function* () {
        for (const p of feed.homedPrefixes()) yield w.homedPrefix(Buffer.from(p, 'utf8'));
        for (const row of feed.rows()) {
          if (!inShare(row.handle)) continue;
          stats.handlesDumped++;
          yield w.handle(Buffer.from(row.handle, 'utf8'), splitValues(row.blob));
        }
        yield w.end();
      });
    });
  }
}

/** Whether an item belongs to the receiving server's share of its site (homing always does). */
function shareOf(q: { hashType: number; numServers: number; serverNum: number }): (item: FeedItem) => boolean {
  if (q.numServers <= 1) return () => true;
  return (item) => (item.kind === 'put' || item.kind === 'delete' ? serverIndexFor(q.hashType, q.numServers, item.handle) === q.serverNum : true);
}

function txnRecordOf(item: FeedItem): { txnId: number; handle: Buffer; action: number; date: number; values?: Buffer[] } {
  // The entry's time at this primary to the millisecond: a mirror times its delay from it.
  const date = item.atMs;
  switch (item.kind) {
    case 'put':
      return { txnId: item.txnId, handle: Buffer.from(item.handle, 'utf8'), action: TxnAction.UPDATE_HANDLE, date, values: splitValues(item.blob) };
    case 'delete':
      return { txnId: item.txnId, handle: Buffer.from(item.handle, 'utf8'), action: TxnAction.DELETE_HANDLE, date };
    case 'home':
      return { txnId: item.txnId, handle: Buffer.from(item.prefix, 'utf8'), action: TxnAction.HOME_NA, date };
    case 'unhome':
      return { txnId: item.txnId, handle: Buffer.from(item.prefix, 'utf8'), action: TxnAction.UNHOME_NA, date };
  }
}

/**
 * Pages for a MessageStream: the first page `head`, then the stream's pieces gathered until a page holds
 * `pageBytes`. The pieces are made lazily, so each page reads the registry only when the connection asks.
 */
function paged(pageBytes: number, head: Buffer[], pieces: () => Generator<Buffer>): Iterator<readonly Buffer[]> {
  return (function* () {
    yield head;
    let page: Buffer[] = [];
    let bytes = 0;
    for (const p of pieces()) {
      page.push(p);
      bytes += p.length;
      if (bytes >= pageBytes) {
        yield page;
        page = [];
        bytes = 0;
      }
    }
    if (page.length) yield page;
  })();
}
