import type { AdminRequest } from '../model/admin-request.js';
import { Limits, OpFlag, ResponseCode } from '../protocol/constants.js';
import { encodeCreateResponse, encodeHandleList } from '../protocol/admin-bodies.js';
import type { Packet } from '../protocol/message.js';
import { MessageStream } from '../protocol/message-stream.js';
import type { ReplyOptions } from '../protocol/responder.js';
import type { AdminOutcome, HandleListing } from './operations.js';
import type { Identity } from './permissions.js';
import { type WireContext, type WireMeta, originOf } from './wire-context.js';

// An admin operation carried out for a wire request, and its outcome as the response(s): the created
// handle, a list streamed in chunks, or the error.

/** Handles that LIST_HANDLES puts in one message; the rest follow in more, CN set on all but the last. */
const LIST_CHUNK = 50;

/** Messages of a streamed list made at a time (one read of the registry's keys): other clients are served between pages. */
const LIST_PAGE_MESSAGES = 20;

/** The largest list answered in one message (what the protocol's message limit leaves for the body). */
const LIST_ONE_MESSAGE_BYTES = Limits.MAX_MESSAGE_LENGTH - 1024;

export class WireOperations {
  constructor(private readonly c: WireContext) {}

  /**
   * Carry out an operation (counted) as an identity, or as the sender's address when none is proven, and,
   * when it wrote, drop the cached answers it made stale before it is acknowledged.
   */
  run(adminReq: AdminRequest, identity: Identity | undefined, meta: WireMeta): AdminOutcome {
    this.c.stats.operations++;
    const outcome = this.c.service.execute(adminReq, clientOf(identity, meta), identity, originOf(meta));
    if (outcome.responseCode === ResponseCode.SUCCESS && adminReq.op !== 'list') this.c.opts.noticeWrites?.();
    return outcome;
  }

  /**
   * The response to an admin operation: its body (the handle for CREATE, the list for LIST) or its error. A
   * list is streamed: LIST_CHUNK handles a message, CN on all but the last, made a page at a time as the
   * connection takes them; with `oneMessage` (inside the national SDK's login, whose client reads one
   * message per request) it is one message, or an error when the handles would not fit in one.
   */
  reply(req: Packet, adminReq: AdminRequest | undefined, o: AdminOutcome, opts: ReplyOptions, oneMessage = false): Buffer | MessageStream {
    const responder = this.c.responder;
    if (o.responseCode !== ResponseCode.SUCCESS) return responder.error(req, o.responseCode, o.message, opts);
    const ow = o.overwritten ? { setFlags: (opts.setFlags ?? 0) | OpFlag.OW } : {};
    const mint = adminReq?.op === 'create' && adminReq.mint ? { setFlags: (opts.setFlags ?? 0) | OpFlag.MINT } : {};
    if (adminReq?.op === 'create') return responder.reply(req, ResponseCode.SUCCESS, encodeCreateResponse(o.handle!), { ...opts, ...ow, ...mint });
    if (adminReq?.op === 'list') {
      const listing = o.listing ?? (() => []);
      if (oneMessage) return this.listInOneMessage(req, listing, opts);
      const more = { ...opts, setFlags: (opts.setFlags ?? 0) | OpFlag.CN };
      const message = (handles: readonly string[], last: boolean) => responder.reply(req, ResponseCode.SUCCESS, encodeHandleList(handles), last ? opts : more);
      return new MessageStream(req.header.opCode, ResponseCode.SUCCESS, () => listMessages(listing(LIST_CHUNK * LIST_PAGE_MESSAGES), message));
    }
    return responder.reply(req, ResponseCode.SUCCESS, Buffer.alloc(0), { ...opts, ...ow });
  }

  /** Every handle of a listing in one message, read only as far as the message's bound. */
  private listInOneMessage(req: Packet, listing: HandleListing, opts: ReplyOptions): Buffer {
    const handles: string[] = [];
    let bytes = 4;
    for (const h of listing(LIST_CHUNK * LIST_PAGE_MESSAGES)) {
      bytes += 4 + Buffer.byteLength(h, 'utf8');
      if (bytes > LIST_ONE_MESSAGE_BYTES) {
        return this.c.responder.error(req, ResponseCode.ERROR, `more than ${handles.length} handles do not fit in one message; list them over HTTP or in a Handle session`, opts);
      }
      handles.push(h);
    }
    return this.c.responder.reply(req, ResponseCode.SUCCESS, encodeHandleList(handles), opts);
  }
}

/**
 * LIST_HANDLES' messages, LIST_CHUNK handles each, in pages of LIST_PAGE_MESSAGES. A full chunk goes out
 * once the next handle shows it is not the last; the last message (empty when there are no handles) has no CN.
 */
function* listMessages(handles: Iterable<string>, message: (chunk: readonly string[], last: boolean) => Buffer): Generator<Buffer[]> {
  let page: Buffer[] = [];
  let chunk: string[] = [];
  for (const h of handles) {
    if (chunk.length === LIST_CHUNK) {
      page.push(message(chunk, false));
      chunk = [];
      if (page.length === LIST_PAGE_MESSAGES) {
        yield page;
        page = [];
      }
    }
    chunk.push(h);
  }
  page.push(message(chunk, true));
  yield page;
}

function clientOf(identity: Identity | undefined, meta: WireMeta): string {
  return identity ? `${identity.index}:${identity.handle}` : (meta.peer ?? 'unknown');
}
