import { OpCode, OpFlag, ResponseCode, opCodeName } from '../protocol/constants.js';
import { peekRequestId } from '../protocol/envelope.js';
import { DecodeError } from '../protocol/errors.js';
import { type Packet, type ReceivedPacket, decodeReceived } from '../protocol/message.js';
import { decodeResolutionRequest, encodeSiteInfoResponse, resolutionKeyEnd } from '../protocol/bodies.js';
import { MessageStream } from '../protocol/message-stream.js';
import type { SiteInfo } from '../model/site.js';
import { AnswerCache } from '../resolve/cache/answer-cache.js';
import type { ResolutionPipeline } from '../resolve/pipeline.js';
import type { Answer } from '../resolve/answer.js';
import type { ReplyOptions, Responder } from '../protocol/responder.js';
import { AUTH_OPCODES } from '../protocol/opcode-sets.js';
import type { AdminWire } from '../admin/wire.js';
import type { ConnectionScope } from '../admin/sessions.js';
import { HandlerProblems, ProblemLog } from '../log/problems.js';
import { createLogger } from '../log/logger.js';

export type { ConnectionScope };

// The dispatcher of the Handle wire protocol, between the transports (server/udp.ts, server/tcp.ts) and
// the layers that answer: a cached plain resolution straight from its bytes (fromCache), then decode, and
// route by opcode to the resolution pipeline, the admin layer (admin/wire.ts) or the node's site info.
// It sits above resolve/ and admin/ so that neither needs the other.

export interface RequestMeta {
  transport: 'udp' | 'tcp';
  /** The sender's address (for per-client quotas). */
  peer?: string;
  /** The response will be sent over UDP and must not exceed this many message bytes. */
  maxResponseBytes?: number;
  /** What is kept for the TCP connection the request came on (the national SDK's login); absent on UDP. */
  connection?: ConnectionScope;
}

/** A response message, several, or nothing. */
export type Reply = Buffer | Buffer[] | null;

/** A Reply, or many messages made a page at a time as the connection takes them (LIST_HANDLES; TCP only). */
export type StreamReply = Reply | MessageStream;

/**
 * What a transport needs: whole request packets in, a response packet (or nothing) out, now or later. Over
 * UDP the answer is never a stream (one is refused there: it needs a connection to pace it).
 */
export interface PacketHandler {
  handle(bytes: Buffer, meta: RequestMeta & { transport: 'udp' }): Reply | Promise<Reply>;
  handle(bytes: Buffer, meta: RequestMeta): StreamReply | Promise<StreamReply>;
}

/** Counters the node keeps; plain numbers, so the per-request cost is an increment. */
export class HandlerStats {
  requests = 0;
  /** Datagrams or frames too broken to answer (no RequestId could be read). */
  dropped = 0;
  protocolErrors = 0;
  /** Responses arriving where requests are expected (never answered, so two servers cannot loop). */
  strayResponses = 0;
  internalErrors = 0;
  tooLargeForUdp = 0;
  /** Large UDP answers replaced by a short TC answer because their address was over its rate. */
  udpRateLimited = 0;
  /** Answers by response code: codes below 1024 in an array (no hashing per packet), others in a Map. */
  private readonly common = new Float64Array(1024);
  private readonly rare = new Map<number, number>();

  count(rc: number): void {
    if (rc < 1024) this.common[rc]!++;
    else this.rare.set(rc, (this.rare.get(rc) ?? 0) + 1);
  }

  get byResponseCode(): Map<number, number> {
    const out = new Map(this.rare);
    this.common.forEach((n, rc) => {
      if (n > 0) out.set(rc, n);
    });
    return out;
  }
}

/** The request handle of the IDIS SDKs' keep-alive heartbeat. */
const HEARTBEAT_HANDLE = '0';

/**
 * Bytes in, bytes out: decodes a request, routes it by opcode, and always produces either a response or a
 * counted drop. Nothing thrown by a decoder or an answerer escapes to the transport.
 */
export class RequestHandler implements PacketHandler {
  readonly stats = new HandlerStats();
  private siteBody: Buffer;

  constructor(
    private readonly pipeline: ResolutionPipeline,
    private readonly responder: Responder,
    site: SiteInfo,
    /** Where internal errors and unreadable requests are reported (rate-limited: input cannot flood the log). */
    private readonly problems: HandlerProblems = new HandlerProblems(new ProblemLog(createLogger())),
    /** Administration, authentication and sessions (absent on a node without a registry). */
    private readonly admin?: AdminWire,
  ) {
    this.siteBody = encodeSiteInfoResponse(site);
  }

  /** The site GET_SITE_INFO answers from now on (a promoted or fenced node's primary flag and serial change). */
  setSite(site: SiteInfo): void {
    this.siteBody = encodeSiteInfoResponse(site);
  }

  handle(bytes: Buffer, meta: RequestMeta & { transport: 'udp' }): Reply | Promise<Reply>;
  handle(bytes: Buffer, meta: RequestMeta): StreamReply | Promise<StreamReply>;
  handle(bytes: Buffer, meta: RequestMeta): StreamReply | Promise<StreamReply> {
    this.stats.requests++;
    const fast = this.fromCache(bytes, meta);
    if (typeof fast !== 'boolean') return fast;
    if (this.admin && bytes.length >= 20 && bytes[2]! & 0x40) {
      // Encrypted (EC): only the session named in the envelope can open it; then it is decoded as usual.
      try {
        const opened = this.admin.openEncrypted(bytes);
        if ('reply' in opened) {
          this.stats.count(opened.reply.readUInt32BE(24));
          return opened.reply;
        }
        bytes = opened.plain;
      } catch (err) {
        return this.undecodable(bytes, err, meta);
      }
    }
    let req: ReceivedPacket;
    try {
      req = decodeReceived(bytes);
    } catch (err) {
      return this.undecodable(bytes, err, meta);
    }
    if (req.header.responseCode !== ResponseCode.RESERVED) {
      this.stats.strayResponses++;
      return null;
    }
    try {
      const reply = this.dispatch(req, meta, fast);
      if (reply instanceof Promise) return reply.then((r) => this.finish(req, r, meta), (err: unknown) => this.failed(req, err, meta));
      return this.finish(req, reply, meta);
    } catch (err) {
      return this.failed(req, err, meta);
    }
  }

  /**
   * The hot path, before any decoding: a plain resolution (no digest, no signature, no session) whose answer
   * is in the cache is answered by patching the per-request fields into the cached response packet. The
   * framing is checked as strictly as decodePacket does; anything unusual returns undefined and takes the
   * full path. Returns the response, or whether the cache was already asked (and missed).
   */
  private fromCache(b: Buffer, meta: RequestMeta): Buffer | boolean {
    const len = b.length;
    if (len < 48 || b.readUInt32BE(16) !== len - 20 || (b[2]! & 0xe0) !== 0 || b.readUInt32BE(12) !== 0) return false;
    if (b.readUInt32BE(20) !== OpCode.RESOLUTION || b.readUInt32BE(24) !== 0) return false;
    const flags = b.readUInt32BE(28);
    // CT, RD and encryption need the general path; so does a request naming a session (the session layer's).
    if (flags & (OpFlag.CT | OpFlag.RD | OpFlag.ENC) || b.readUInt32BE(4) !== 0) return false;
    const bodyLength = b.readUInt32BE(40);
    if (bodyLength !== len - 48 || b.readUInt32BE(44 + bodyLength) !== 0) return false;
    // The cache key is the body up to the end of its type list (what follows, such as the national SDK's
    // token, selects nothing); the answer's slot holds its fields, read with nothing made on the way.
    const keyEnd = resolutionKeyEnd(b, 44, 44 + bodyLength);
    if (keyEnd < 0) return false;
    const now = this.pipeline.now();
    const slot = this.pipeline.lookupAt(b, 44, keyEnd, now);
    if (slot < 0) return this.fromBlob(b, keyEnd, flags, meta, now);
    const cache = this.pipeline.cache;
    // Without PO, values an anonymous reader may not see are challenged for, not left out.
    if (cache.restrictedAt(slot) && !(flags & OpFlag.PO)) return false;
    return this.patch(b, flags, meta, cache.responseCodeAt(slot), cache.slabAt(slot), cache.packetStartAt(slot), cache.packetLengthAt(slot));
  }

  /**
   * The reply made from a packet at src[start, start + length) with the request's RequestId and flags
   * patched in, or false when it is too big for the transport (the general path then refuses it as usual).
   */
  private patch(b: Buffer, flags: number, meta: RequestMeta, responseCode: number, src: Buffer, start: number, length: number): Buffer | false {
    if (meta.maxResponseBytes !== undefined && length - 20 > meta.maxResponseBytes) return false;
    this.stats.count(responseCode);
    return this.responder.patchedFrom(b, src, start, length, meta.transport === 'tcp' && (flags & OpFlag.KC) !== 0);
  }

  /**
   * A miss of the hot path answered by the miss path (resolve/blob-miss.ts) when it can: the stored values
   * copied into a response template, patched like a hit. Returns the response; true when the general path
   * is to resolve (the cache was asked and missed); false when the answer is too big for the transport (the
   * general path finds it in the cache, where the miss path kept it, and refuses it as for a hit).
   */
  private fromBlob(b: Buffer, keyEnd: number, flags: number, meta: RequestMeta, now: number): Buffer | boolean {
    const miss = this.pipeline.blobMiss;
    if (miss === undefined || !miss.answer(b, 44, keyEnd, now)) return true;
    return this.patch(b, flags, meta, miss.responseCode, miss.src, miss.start, miss.length);
  }

  private failed(req: Packet, err: unknown, meta: RequestMeta): Buffer | Buffer[] | MessageStream {
    let reply: Buffer;
    if (err instanceof DecodeError) {
      this.stats.protocolErrors++;
      this.problems.malformed(err.message, meta, true);
      reply = this.responder.error(req, err.responseCode, err.message);
    } else {
      this.stats.internalErrors++;
      this.problems.internalError(err, `answering ${opCodeName(req.header.opCode)}`, meta);
      reply = this.responder.error(req, ResponseCode.ERROR, 'internal server error');
    }
    return this.finish(req, reply, meta);
  }

  /** Count the answer, and refuse over UDP what is larger than UDP may carry. */
  private finish(req: Packet, reply: Buffer | Buffer[] | MessageStream, meta: RequestMeta): Buffer | Buffer[] | MessageStream {
    if (reply instanceof MessageStream) {
      if (meta.transport === 'tcp') {
        this.stats.count(reply.responseCode);
        return reply;
      }
      // A streamed answer (a list answered after a challenge proven over UDP) is paced by a connection.
      reply = this.responder.error(req, ResponseCode.PROTOCOL_ERROR, 'Received admin request on non-admin interface');
    }
    if (Array.isArray(reply)) {
      for (const r of reply) this.stats.count(r.readUInt32BE(24));
      return reply;
    }
    if (meta.maxResponseBytes !== undefined && reply.length - 20 > meta.maxResponseBytes) {
      this.stats.tooLargeForUdp++;
      reply = this.responder.error(
        req,
        ResponseCode.ERROR,
        `response of ${reply.length - 20} bytes exceeds the UDP limit of ${meta.maxResponseBytes}; ask over TCP`,
      );
      reply[2] = reply[2]! | 0x20; // TC: the answer did not fit; a client retries over TCP
    }
    this.stats.count(reply.readUInt32BE(24));
    return reply;
  }

  private undecodable(bytes: Buffer, err: unknown, meta?: RequestMeta): Reply {
    if (!(err instanceof DecodeError)) {
      this.stats.internalErrors++;
      this.problems.internalError(err, 'decoding a request', meta);
    }
    const requestId = peekRequestId(bytes);
    if (err instanceof DecodeError) this.problems.malformed(err.message, meta, requestId !== undefined);
    if (requestId === undefined) {
      this.stats.dropped++;
      return null;
    }
    this.stats.protocolErrors++;
    const opCode = bytes.length >= 24 ? bytes.readUInt32BE(20) : 0;
    const reply = this.responder.protocolError(requestId, opCode, (err as Error).message);
    this.stats.count(ResponseCode.PROTOCOL_ERROR);
    return reply;
  }

  private dispatch(req: ReceivedPacket, meta: RequestMeta, cacheAsked: boolean): Buffer | Buffer[] | MessageStream | Promise<Buffer> {
    // With KC over TCP the connection stays open, and the response says so.
    const keep: ReplyOptions = meta.transport === 'tcp' && (req.header.opFlags & OpFlag.KC) !== 0 ? { setFlags: OpFlag.KC } : {};
    const op = req.header.opCode;
    if (
      this.admin &&
      (AUTH_OPCODES.has(op) || req.envelope.sessionId !== 0 || req.envelope.encrypted || (op === OpCode.RESOLUTION && !(req.header.opFlags & OpFlag.PO)))
    ) {
      const r = this.admin.handle(req, meta, keep);
      if (r !== undefined) return r;
    }
    if (req.envelope.compressed || req.envelope.encrypted) {
      return this.responder.error(req, ResponseCode.OPERATION_NOT_SUPPORTED, 'compressed or encrypted messages need a session');
    }
    switch (req.header.opCode) {
      case OpCode.RESOLUTION:
        return this.resolution(req, meta, keep, cacheAsked);
      case OpCode.GET_SITE_INFO:
        return this.responder.reply(req, ResponseCode.SUCCESS, this.siteBody, keep);
      default:
        return this.responder.error(
          req,
          ResponseCode.OPERATION_NOT_SUPPORTED,
          `${opCodeName(req.header.opCode)} is not supported by this node`,
          keep,
        );
    }
  }

  /**
   * A resolution the cache did not answer. `plain` says the hot path looked at these bytes, found them a
   * plain resolution and missed: the answer, once cached, is sent by patching its packet like a hit.
   */
  private resolution(req: ReceivedPacket, meta: RequestMeta, keep: ReplyOptions, plain: boolean): Buffer | Promise<Buffer> {
    const now = this.pipeline.now();
    const r = decodeResolutionRequest(req.body);
    const key = AnswerCache.key(req.body.subarray(0, r.keyLength), false);
    const hit = plain ? undefined : this.pipeline.lookup(key, now);
    if (hit) return this.responder.reply(req, hit.responseCode, hit.body, keep);
    if (r.handle === HEARTBEAT_HANDLE) return this.responder.error(req, ResponseCode.HANDLE_NOT_FOUND, '', keep);
    const recursive = (req.header.opFlags & OpFlag.REC) !== 0;
    const kc = keep.setFlags !== undefined;
    const send = (a: Answer): Buffer =>
      plain && a.packet && (meta.maxResponseBytes === undefined || a.packet.length - 20 <= meta.maxResponseBytes)
        ? this.responder.patched(req.raw, a.packet, kc)
        : this.responder.reply(req, a.responseCode, a.body, keep);
    const a = this.pipeline.resolve(key, r, req.body, recursive, req.header.recursionCount, now);
    return a instanceof Promise ? a.then(send) : send(a);
  }
}
