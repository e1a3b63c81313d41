import { ENVELOPE_SIZE, HEADER_SIZE, Limits } from './constants.js';
import { type Envelope, decodeEnvelope, writeEnvelope } from './envelope.js';
import { DecodeError } from './errors.js';

/** The 24-byte message header (docs/protocol.md §1.2). */
export interface Header {
  opCode: number;
  responseCode: number;
  opFlags: number;
  siteSerial: number;
  recursionCount: number;
  expiration: number;
}

/** A message split into its parts; body and credential are views into the bytes decoded. */
export interface Message {
  header: Header;
  body: Buffer;
  /** The credential section after its 4-byte length (empty when unsigned). */
  credential: Buffer;
  /** The 24-byte header and the body as received: what the request digest and signatures cover. */
  headerAndBody: Buffer;
}

export interface Packet extends Message {
  envelope: Envelope;
}

/** Decode the message that follows an envelope: `msg` holds exactly MessageLength bytes. */
export function decodeMessage(msg: Buffer): Message {
  if (msg.length < HEADER_SIZE) {
    throw new DecodeError(`message of ${msg.length} bytes is shorter than the ${HEADER_SIZE}-byte header`);
  }
  if (msg.length > Limits.MAX_MESSAGE_LENGTH) {
    throw new DecodeError(`message of ${msg.length} bytes exceeds the limit of ${Limits.MAX_MESSAGE_LENGTH}`);
  }
  const header: Header = {
    opCode: msg.readUInt32BE(0),
    responseCode: msg.readUInt32BE(4),
    opFlags: msg.readUInt32BE(8),
    siteSerial: msg.readUInt16BE(12),
    recursionCount: msg[14]!,
    expiration: msg.readUInt32BE(16),
  };
  const bodyLength = msg.readUInt32BE(20);
  const afterHeader = msg.length - HEADER_SIZE;
  if (bodyLength > afterHeader) {
    throw new DecodeError(`body length ${bodyLength} runs past the ${afterHeader} bytes present`);
  }
  const credOff = HEADER_SIZE + bodyLength;
  const headerAndBody = msg.subarray(0, credOff);
  // A message that ends with its body has no credential: the national SDK sends LOGIN_ID_SYSTEM so, and
  // the reference reads the credential only "if there is room" for its length.
  if (credOff === msg.length) return { header, body: msg.subarray(HEADER_SIZE, credOff), credential: EMPTY, headerAndBody };
  if (msg.length - credOff < 4) throw new DecodeError(`${msg.length - credOff} bytes after the body cannot hold a credential length`);
  const credLength = msg.readUInt32BE(credOff);
  if (credLength !== msg.length - credOff - 4) {
    throw new DecodeError(
      `credential length ${credLength} does not match the ${msg.length - credOff - 4} bytes after the body`,
    );
  }
  return {
    header,
    body: msg.subarray(HEADER_SIZE, credOff),
    credential: msg.subarray(credOff + 4),
    headerAndBody,
  };
}

/** Decode envelope and message from one buffer (a TCP frame, or a reassembled UDP message behind its first envelope). */
export function decodePacket(buf: Buffer): Packet {
  const envelope = decodeEnvelope(buf);
  return { envelope, ...decodeMessage(messageOf(buf, envelope)) };
}

/**
 * A request as a server received it: decoded, with the bytes it came in. A session's MAC covers envelope
 * fields that the decoded parts leave out, so the admin layer checks it against these.
 */
export interface ReceivedPacket extends Packet {
  raw: Buffer;
}

/** decodePacket for a request a server answers, keeping its bytes beside the decoded parts. */
export function decodeReceived(buf: Buffer): ReceivedPacket {
  const envelope = decodeEnvelope(buf);
  return { envelope, ...decodeMessage(messageOf(buf, envelope)), raw: buf };
}

/** The message behind the envelope: exactly MessageLength bytes, no fewer and nothing after them. */
function messageOf(buf: Buffer, envelope: Envelope): Buffer {
  const end = ENVELOPE_SIZE + envelope.messageLength;
  if (buf.length < end) {
    throw new DecodeError(`message length ${envelope.messageLength} runs past the ${buf.length - ENVELOPE_SIZE} bytes present`);
  }
  if (buf.length > end) throw new DecodeError(`${buf.length - end} bytes follow the message`);
  return buf.subarray(ENVELOPE_SIZE, end);
}

export function writeHeader(h: Header, bodyLength: number, buf: Buffer, off: number): void {
  buf.writeUInt32BE(h.opCode >>> 0, off);
  buf.writeUInt32BE(h.responseCode >>> 0, off + 4);
  buf.writeUInt32BE(h.opFlags >>> 0, off + 8);
  buf.writeUInt16BE(h.siteSerial & 0xffff, off + 12);
  buf[off + 14] = h.recursionCount & 0xff;
  buf[off + 15] = 0;
  buf.writeUInt32BE(h.expiration >>> 0, off + 16);
  buf.writeUInt32BE(bodyLength >>> 0, off + 20);
}

/**
 * Frame a whole message: envelope, header, body parts, credential. The envelope's MessageLength and the
 * header's BodyLength are computed here; body parts are concatenated without copying them twice.
 */
export function encodePacket(
  envelope: Omit<Envelope, 'messageLength'>,
  header: Header,
  body: Buffer | readonly Buffer[],
  credential: Buffer = EMPTY,
): Buffer {
  const parts = Buffer.isBuffer(body) ? [body] : body;
  let bodyLength = 0;
  for (const p of parts) bodyLength += p.length;
  const messageLength = HEADER_SIZE + bodyLength + 4 + credential.length;
  const out = Buffer.allocUnsafe(ENVELOPE_SIZE + messageLength);
  writeEnvelope({ ...envelope, messageLength }, out, 0);
  writeHeader(header, bodyLength, out, ENVELOPE_SIZE);
  let pos = ENVELOPE_SIZE + HEADER_SIZE;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  out.writeUInt32BE(credential.length, pos);
  out.set(credential, pos + 4);
  return out;
}

/**
 * A short error response in place of a response packet that will not be sent (too large, or over a rate):
 * the same envelope and header (opcode, RequestId, SessionId, version), the response code given, TC set so
 * the client asks again over TCP, no digest, no credential, and the message as the body.
 */
export function truncatedError(reply: Buffer, responseCode: number, message: string): Buffer {
  const text = Buffer.from(message, 'utf8');
  const out = Buffer.allocUnsafe(ENVELOPE_SIZE + HEADER_SIZE + 4 + text.length + 4);
  reply.copy(out, 0, 0, ENVELOPE_SIZE + HEADER_SIZE);
  out[2] = out[2]! | 0x20; // TC
  out.writeUInt32BE(out.length - ENVELOPE_SIZE, 16);
  out.writeUInt32BE(responseCode >>> 0, ENVELOPE_SIZE + 4);
  out.writeUInt32BE((out.readUInt32BE(ENVELOPE_SIZE + 8) & ~0x00800000 & ~0x40000000) >>> 0, ENVELOPE_SIZE + 8); // no RD, no CT
  out.writeUInt32BE(4 + text.length, ENVELOPE_SIZE + 20);
  out.writeUInt32BE(text.length, ENVELOPE_SIZE + HEADER_SIZE);
  text.copy(out, ENVELOPE_SIZE + HEADER_SIZE + 4);
  out.writeUInt32BE(0, out.length - 4);
  return out;
}

const EMPTY = Buffer.alloc(0);

/**
 * A copy of bytes in memory of its own. Small Buffers are views into shared 8 KiB pool slabs (and received
 * datagrams and TCP reads into larger ones), so a few bytes kept for long keep the whole slab alive: what a
 * cache or a table holds for longer than a request must be copied out with this.
 */
export function ownBytes(b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafeSlow(b.length);
  out.set(b);
  return out;
}

/** A request kept past its handling (a pending challenge): decoded again from a copy of its own bytes. */
export function keptPacket(raw: Buffer): ReceivedPacket {
  return decodeReceived(ownBytes(raw));
}
