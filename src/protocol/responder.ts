import { OpFlag, PROTOCOL_MAJOR, PROTOCOL_MINOR, ResponseCode } from './constants.js';
import { minVersion, proposedVersion } from './envelope.js';
import { type Header, type Packet, encodePacket } from './message.js';
import { requestDigest } from './digest.js';
import { encodeErrorBody } from './bodies.js';
import { signPacket } from './signing.js';
import type { KeyObject } from 'node:crypto';

/** How long a response says it stays valid; the reference writes its clock plus about 12 hours. */
const EXPIRATION_SECONDS = 43200;
const OUR_VERSION: [number, number] = [PROTOCOL_MAJOR, PROTOCOL_MINOR];

export interface ReplyOptions {
  /** Flags to add to (or remove from) the request's flags. */
  setFlags?: number;
  clearFlags?: number;
  /** Envelope SessionId (default: the request's). */
  sessionId?: number;
  /** The request digest, when the caller has already computed it (at this response's version). */
  digest?: Buffer;
}

/**
 * Builds responses the way the reference server does: the request's opcode and RequestId echoed, the lower
 * of our version and the version the client suggests, the request's flags without CN/KC plus AT, our site
 * serial, our expiration time, and the request digest first in the body when RD was asked for.
 */
export class Responder {
  constructor(
    private readonly siteSerial: number,
    private readonly primary: boolean,
    private readonly nowSeconds: () => number = () => Math.floor(Date.now() / 1000),
    /** The server key; a request with CT gets a response signed with it (HS_SIGNED). */
    private readonly signingKey?: KeyObject,
  ) {}

  /** The version a response to this request is written in. */
  versionFor(req: Packet): [number, number] {
    return minVersion(OUR_VERSION, proposedVersion(req.envelope));
  }

  reply(req: Packet, responseCode: number, body: Buffer | readonly Buffer[], opts: ReplyOptions = {}): Buffer {
    const version = this.versionFor(req);
    let flags = req.header.opFlags & ~(OpFlag.CN | OpFlag.KC);
    if (this.primary) flags |= OpFlag.AT;
    if (opts.setFlags) flags |= opts.setFlags;
    if (opts.clearFlags) flags &= ~opts.clearFlags;
    const parts = Buffer.isBuffer(body) ? [body] : [...body];
    if (flags & OpFlag.RD) parts.unshift(opts.digest ?? requestDigest(req.headerAndBody, version));
    const header: Header = {
      opCode: req.header.opCode,
      responseCode,
      opFlags: flags >>> 0,
      siteSerial: this.siteSerial,
      recursionCount: req.header.recursionCount,
      expiration: this.nowSeconds() + EXPIRATION_SECONDS,
    };
    const envelope = {
      major: version[0],
      minor: version[1],
      compressed: false,
      encrypted: false,
      truncated: false,
      suggestedMajor: PROTOCOL_MAJOR,
      suggestedMinor: PROTOCOL_MINOR,
      sessionId: opts.sessionId ?? req.envelope.sessionId,
      requestId: req.envelope.requestId,
      sequence: 0,
    };
    const packet = encodePacket(envelope, header, parts);
    if (!(flags & OpFlag.CT) || !this.signingKey) return packet;
    return encodePacket(envelope, header, parts, signPacket(packet, this.signingKey, version));
  }

  /**
   * A response packet for a cached answer with every per-request field left blank, to be filled in by
   * patched() for each request that hits the answer.
   */
  template(responseCode: number, body: Buffer): Buffer {
    return encodePacket(
      { major: 0, minor: 0, compressed: false, encrypted: false, truncated: false, suggestedMajor: PROTOCOL_MAJOR, suggestedMinor: PROTOCOL_MINOR, sessionId: 0, requestId: 0, sequence: 0 },
      { opCode: 1, responseCode, opFlags: 0, siteSerial: this.siteSerial, recursionCount: 0, expiration: 0 },
      body,
    );
  }

  /**
   * The hot path: the response to a request that was not decoded (the caller checked its framing, and that
   * it asks for neither a digest nor a signature) made from a template by patching in what reply() would
   * have computed: version, SessionId, RequestId, flags, recursion count, expiration.
   */
  patched(req: Buffer, template: Buffer, keepConnection: boolean): Buffer {
    return this.patchedFrom(req, template, 0, template.length, keepConnection);
  }

  /**
   * patched() for a template at src[start, start + length): the hot cache keeps templates inside large
   * slabs and hands out where, not a view. (Node 20's Buffer.copy of a range still makes a short-lived
   * view internally; the copy is native either way.)
   */
  patchedFrom(req: Buffer, src: Buffer, start: number, length: number, keepConnection: boolean): Buffer {
    const out = Buffer.allocUnsafe(length);
    src.copy(out, 0, start, start + length);
    // The lower of 2.11 and the version the client proposes (its suggestion, or its own version without one).
    const sMajor = req[2]! & 0x03;
    const major = sMajor === 0 ? req[0]! : sMajor;
    const minor = sMajor === 0 ? req[1]! : req[3]!;
    if (major < PROTOCOL_MAJOR || (major === PROTOCOL_MAJOR && minor < PROTOCOL_MINOR)) {
      out[0] = major;
      out[1] = minor;
    } else {
      out[0] = PROTOCOL_MAJOR;
      out[1] = PROTOCOL_MINOR;
    }
    req.copy(out, 4, 4, 12); // SessionId, RequestId
    let flags = req.readUInt32BE(28) & ~(OpFlag.CN | OpFlag.KC);
    if (this.primary) flags |= OpFlag.AT;
    if (keepConnection) flags |= OpFlag.KC;
    out.writeUInt32BE(flags >>> 0, 28);
    out[34] = req[34]!; // RecursionCount
    out.writeUInt32BE(this.nowSeconds() + EXPIRATION_SECONDS, 36);
    return out;
  }

  error(req: Packet, responseCode: number, message: string, opts: ReplyOptions = {}): Buffer {
    return this.reply(req, responseCode, encodeErrorBody(message), opts);
  }

  /** A PROTOCOL_ERROR for bytes that did not decode. */
  protocolError(requestId: number, opCode: number, message: string): Buffer {
    return this.unread(requestId, opCode, ResponseCode.PROTOCOL_ERROR, message);
  }

  /**
   * An error for a request whose message could not be read (bytes that did not decode; an encrypted message
   * for no known session): only the RequestId (and the opcode, if the header was there) is known, so it
   * answers at our version with no digest.
   */
  unread(requestId: number, opCode: number, responseCode: number, message: string): Buffer {
    return encodePacket(
      {
        major: PROTOCOL_MAJOR,
        minor: PROTOCOL_MINOR,
        compressed: false,
        encrypted: false,
        truncated: false,
        suggestedMajor: PROTOCOL_MAJOR,
        suggestedMinor: PROTOCOL_MINOR,
        sessionId: 0,
        requestId,
        sequence: 0,
      },
      {
        opCode,
        responseCode,
        opFlags: this.primary ? OpFlag.AT : 0,
        siteSerial: this.siteSerial,
        recursionCount: 0,
        expiration: this.nowSeconds() + EXPIRATION_SECONDS,
      },
      encodeErrorBody(message),
    );
  }
}
