import { randomInt } from 'node:crypto';
import { OpFlag, PROTOCOL_MAJOR, PROTOCOL_MINOR } from '../protocol/constants.js';
import { encodePacket } from '../protocol/message.js';

export interface RequestSpec {
  opCode: number;
  body: Buffer;
  /** OpFlags; a plain resolution from the reference client sends CA|PO (and REC when it wants recursion). */
  flags?: number;
  requestId?: number;
  sessionId?: number;
  siteSerial?: number;
  /** RecursionCount of the header: how many servers this request has already passed through. */
  recursionCount?: number;
  /** The version to write in the envelope (default 2.11; always suggests 2.11). */
  version?: [number, number];
}

export const DEFAULT_RESOLVE_FLAGS = OpFlag.CA | OpFlag.PO;

/** A positive 31-bit RequestId, as the reference client picks them. */
export function newRequestId(): number {
  return randomInt(1, 0x7fffffff);
}

/** Encode a request packet (envelope and message) the way the reference client does. */
export function encodeRequest(spec: RequestSpec): Buffer {
  const [major, minor] = spec.version ?? [PROTOCOL_MAJOR, PROTOCOL_MINOR];
  return encodePacket(
    {
      major,
      minor,
      compressed: false,
      encrypted: false,
      truncated: false,
      suggestedMajor: PROTOCOL_MAJOR,
      suggestedMinor: PROTOCOL_MINOR,
      sessionId: spec.sessionId ?? 0,
      requestId: spec.requestId ?? newRequestId(),
      sequence: 0,
    },
    {
      opCode: spec.opCode,
      responseCode: 0,
      opFlags: spec.flags ?? DEFAULT_RESOLVE_FLAGS,
      siteSerial: spec.siteSerial ?? 0xffff,
      recursionCount: spec.recursionCount ?? 0,
      expiration: Math.floor(Date.now() / 1000) + 43200,
    },
    spec.body,
  );
}
