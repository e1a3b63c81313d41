import type { KeyObject } from 'node:crypto';
import { ENVELOPE_SIZE, HEADER_SIZE, OpCode, OpFlag, ResponseCode } from '../protocol/constants.js';
import { decodeChallenge, decodeErrorBody, decodeReferral, decodeResolutionResponse, decodeSiteInfoResponse, readDigest } from '../protocol/bodies.js';
import { decodeCredential } from '../protocol/credential.js';
import { requestDigest } from '../protocol/digest.js';
import { type Packet, decodePacket } from '../protocol/message.js';
import { verifyPacket } from '../protocol/signing.js';
import { Reader } from '../protocol/reader.js';
import { asciiUpper } from '../model/handle.js';

// The checks a hardened client (a resolver's, docs/security.md) makes of every answer before it believes it,
// over UDP and TCP alike: the RequestId it chose; a response (RC ≠ 0) to the opcode it asked; the request
// digest (RD) it asked for, recomputed over the request it sent at the version the answer is written in; for
// a success to a resolution, the handle it asked about at the head of the body; a body that decodes; and when
// it asked for a certified answer (CT), an HS_SIGNED credential that verifies with the server's public key.

/** Why an answer was not believed; each is counted (`idres_upstream_answers_refused_total{reason}`). */
export const REFUSAL_REASONS = ['address', 'request_id', 'malformed', 'opcode', 'digest', 'handle', 'signature'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** What the answer to one request must match. */
export interface SentRequest {
  requestId: number;
  opCode: number;
  /** The 24-byte header and the body as sent: what the digest covers. */
  headerAndBody: Buffer;
  /** The handle asked, for a resolution. */
  handle?: string;
  /** Asked with CT: the answer must be signed with this key. */
  verifyKey?: KeyObject;
}

/** The parts of an encoded request packet (envelope + message) that its answer is checked against. */
export function sentRequest(packet: Buffer, verifyKey?: KeyObject): SentRequest {
  const bodyLength = packet.readUInt32BE(ENVELOPE_SIZE + 20);
  const headerAndBody = packet.subarray(ENVELOPE_SIZE, ENVELOPE_SIZE + HEADER_SIZE + bodyLength);
  const opCode = packet.readUInt32BE(ENVELOPE_SIZE);
  let handle: string | undefined;
  if (opCode === OpCode.RESOLUTION) handle = new Reader(headerAndBody.subarray(HEADER_SIZE)).utf8('handle');
  return {
    requestId: packet.readUInt32BE(8),
    opCode,
    headerAndBody,
    ...(handle !== undefined ? { handle } : {}),
    ...(verifyKey ? { verifyKey } : {}),
  };
}

/** Check a whole answer (envelope + message, reassembled); the decoded packet, or why it is refused. */
export function checkAnswer(bytes: Buffer, sent: SentRequest): Packet | RefusalReason {
  let p: Packet;
  try {
    p = decodePacket(bytes);
  } catch {
    return 'malformed';
  }
  if (p.envelope.requestId !== sent.requestId) return 'request_id';
  // A request (RC 0) reflected back is no answer, nor is anything compressed or encrypted (never asked for).
  if (p.header.responseCode === ResponseCode.RESERVED || p.envelope.compressed || p.envelope.encrypted) return 'malformed';
  if (p.header.opCode !== sent.opCode) return 'opcode';
  if (!(p.header.opFlags & OpFlag.RD)) return 'digest';
  const version: [number, number] = [p.envelope.major, p.envelope.minor];
  const digest = requestDigest(sent.headerAndBody, version);
  if (p.body.length < digest.length || !p.body.subarray(0, digest.length).equals(digest)) return 'digest';
  const shape = checkBody(p, sent);
  if (shape !== undefined) return shape;
  if (sent.verifyKey) {
    if (p.credential.length === 0) return 'signature';
    try {
      const cred = decodeCredential(p.credential);
      if (cred.type !== 'HS_SIGNED' || !verifyPacket(bytes, p.headerAndBody, cred, sent.verifyKey, version)) return 'signature';
    } catch {
      return 'signature';
    }
  }
  return p;
}

/** The body decodes as the answer to the opcode asked; a success to a resolution names the handle asked. */
function checkBody(p: Packet, sent: SentRequest): RefusalReason | undefined {
  const rc = p.header.responseCode;
  try {
    if (sent.opCode === OpCode.RESOLUTION) {
      if (rc === ResponseCode.SUCCESS) {
        const r = decodeResolutionResponse(p.body, true);
        if (sent.handle !== undefined && r.handle !== sent.handle && asciiUpper(r.handle) !== asciiUpper(sent.handle)) return 'handle';
      } else if (rc === ResponseCode.PREFIX_REFERRAL || rc === ResponseCode.SERVICE_REFERRAL) decodeReferral(p.body, true);
      else if (rc === ResponseCode.AUTHENTICATION_NEEDED) decodeChallenge(p.body);
      else decodeErrorBody(p.body, true);
    } else if (sent.opCode === OpCode.GET_SITE_INFO && rc === ResponseCode.SUCCESS) decodeSiteInfoResponse(p.body, true);
  } catch {
    return 'malformed';
  }
  return undefined;
}

/** The body of a checked answer without its leading request digest. */
export function bodyWithoutDigest(p: Packet): Buffer {
  if (!(p.header.opFlags & OpFlag.RD) || p.body.length === 0) return p.body;
  const r = new Reader(p.body);
  readDigest(r);
  return p.body.subarray(r.pos);
}
