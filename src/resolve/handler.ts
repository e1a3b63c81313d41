import { OpCode, OpFlag, ResponseCode, opCodeName } from '../protocol/constants.js';
import { peekRequestId } from '../protocol/envelope.js';
import { DecodeError } from '../protocol/errors.js';
import { type Packet, decodePacket } from '../protocol/message.js';
import { decodeResolutionRequest, encodeSiteInfoResponse } from '../protocol/bodies.js';
import type { SiteInfo } from '../model/site.js';
import type { Authority } from './authority.js';
import type { Responder } from './respond.js';

export interface RequestMeta {
  transport: 'udp' | 'tcp';
  /** The response will be sent over UDP and must not exceed this many message bytes. */
  maxResponseBytes?: number;
}

export type Reply = Buffer | null;

/** What a transport needs: whole request packets in, a response packet (or nothing) out. */
export interface PacketHandler {
  handle(bytes: Buffer, meta: RequestMeta): Reply;
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
  readonly byResponseCode = new Map<number, number>();

  count(rc: number): void {
    this.byResponseCode.set(rc, (this.byResponseCode.get(rc) ?? 0) + 1);
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
  private readonly siteBody: Buffer;

  constructor(
    private readonly authority: Authority,
    private readonly responder: Responder,
    site: SiteInfo,
    private readonly log: (msg: string) => void = (m) => console.error(m),
  ) {
    this.siteBody = encodeSiteInfoResponse(site);
  }

  handle(bytes: Buffer, meta: RequestMeta): Reply {
    this.stats.requests++;
    let req: Packet;
    try {
      req = decodePacket(bytes);
    } catch (err) {
      return this.undecodable(bytes, err);
    }
    if (req.header.responseCode !== ResponseCode.RESERVED) {
      this.stats.strayResponses++;
      return null;
    }
    let reply: Buffer;
    try {
      reply = this.dispatch(req, meta);
    } catch (err) {
      if (err instanceof DecodeError) {
        this.stats.protocolErrors++;
        reply = this.responder.error(req, err.responseCode, err.message);
      } else {
        this.stats.internalErrors++;
        this.log(`internal error answering ${opCodeName(req.header.opCode)}: ${(err as Error).stack ?? err}`);
        reply = this.responder.error(req, ResponseCode.ERROR, 'internal server error');
      }
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

  private undecodable(bytes: Buffer, err: unknown): Reply {
    if (!(err instanceof DecodeError)) {
      this.stats.internalErrors++;
      this.log(`internal error decoding a request: ${(err as Error).stack ?? err}`);
    }
    const requestId = peekRequestId(bytes);
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

  private dispatch(req: Packet, meta: RequestMeta): Buffer {
    if (req.envelope.compressed || req.envelope.encrypted) {
      return this.responder.error(req, ResponseCode.OPERATION_NOT_SUPPORTED, 'compressed or encrypted messages need a session');
    }
    // With KC over TCP the connection stays open, and the response says so.
    const keep = meta.transport === 'tcp' && (req.header.opFlags & OpFlag.KC) !== 0 ? { setFlags: OpFlag.KC } : {};
    switch (req.header.opCode) {
      case OpCode.RESOLUTION: {
        const r = decodeResolutionRequest(req.body);
        if (r.handle === HEARTBEAT_HANDLE) return this.responder.error(req, ResponseCode.HANDLE_NOT_FOUND, '', keep);
        const a = this.authority.resolve(r, { authenticated: false });
        return this.responder.reply(req, a.responseCode, a.body, keep);
      }
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
}
