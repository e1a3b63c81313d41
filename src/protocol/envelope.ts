import { ENVELOPE_SIZE, EnvelopeFlag, Limits } from './constants.js';
import { DecodeError } from './errors.js';

/** The 20-byte message envelope (docs/protocol.md §1.1). */
export interface Envelope {
  major: number;
  minor: number;
  compressed: boolean;
  encrypted: boolean;
  truncated: boolean;
  /** The highest version the sender speaks (0.0 when the sender did not say). */
  suggestedMajor: number;
  suggestedMinor: number;
  sessionId: number;
  requestId: number;
  /** UDP fragment index (0 on TCP). */
  sequence: number;
  /** Length of the whole message after the envelope, the same in every fragment. */
  messageLength: number;
}

export function decodeEnvelope(buf: Buffer, off = 0): Envelope {
  if (buf.length - off < ENVELOPE_SIZE) {
    throw new DecodeError(`envelope needs ${ENVELOPE_SIZE} bytes, got ${buf.length - off}`);
  }
  const b2 = buf[off + 2]!;
  const env: Envelope = {
    major: buf[off]!,
    minor: buf[off + 1]!,
    compressed: (b2 & EnvelopeFlag.CP) !== 0,
    encrypted: (b2 & EnvelopeFlag.EC) !== 0,
    truncated: (b2 & EnvelopeFlag.TC) !== 0,
    suggestedMajor: b2 & 0x03,
    suggestedMinor: buf[off + 3]!,
    sessionId: buf.readUInt32BE(off + 4),
    requestId: buf.readUInt32BE(off + 8),
    sequence: buf.readUInt32BE(off + 12),
    messageLength: buf.readUInt32BE(off + 16),
  };
  if (env.messageLength > Limits.MAX_MESSAGE_LENGTH) {
    throw new DecodeError(`message length ${env.messageLength} exceeds the limit of ${Limits.MAX_MESSAGE_LENGTH}`);
  }
  return env;
}

export function writeEnvelope(env: Envelope, buf: Buffer, off = 0): void {
  buf[off] = env.major;
  buf[off + 1] = env.minor;
  buf[off + 2] =
    (env.compressed ? EnvelopeFlag.CP : 0) |
    (env.encrypted ? EnvelopeFlag.EC : 0) |
    (env.truncated ? EnvelopeFlag.TC : 0) |
    (env.suggestedMajor & 0x03);
  buf[off + 3] = env.suggestedMinor;
  buf.writeUInt32BE(env.sessionId >>> 0, off + 4);
  buf.writeUInt32BE(env.requestId >>> 0, off + 8);
  buf.writeUInt32BE(env.sequence >>> 0, off + 12);
  buf.writeUInt32BE(env.messageLength >>> 0, off + 16);
}

/** The RequestId of a datagram too broken to decode, if at least its first 12 bytes are there. */
export function peekRequestId(buf: Buffer): number | undefined {
  return buf.length >= 12 ? buf.readUInt32BE(8) : undefined;
}

/** The version a peer proposes: its suggested version, or its envelope version when it suggested none. */
export function proposedVersion(env: Pick<Envelope, 'major' | 'minor' | 'suggestedMajor' | 'suggestedMinor'>): [number, number] {
  return env.suggestedMajor === 0 ? [env.major, env.minor] : [env.suggestedMajor, env.suggestedMinor];
}

/** The lower of two versions. */
export function minVersion(a: [number, number], b: [number, number]): [number, number] {
  if (a[0] !== b[0]) return a[0] < b[0] ? a : b;
  return a[1] <= b[1] ? a : b;
}

export function versionAtLeast(v: [number, number], major: number, minor: number): boolean {
  return v[0] > major || (v[0] === major && v[1] >= minor);
}
