import type { HandleValue } from '../model/value.js';
import type { ReplyOptions, Responder } from '../protocol/responder.js';
import type { Packet } from '../protocol/message.js';
import type { MessageStream } from '../protocol/message-stream.js';
import type { Identity } from './permissions.js';
import type { AuthLimiter } from './auth-limits.js';
import type { AuditOrigin } from './audit.js';
import type { IdentityKeys } from './identity.js';
import type { AdminService } from './operations.js';
import type { ConnectionScope, SessionTable } from './sessions.js';

// What every part of administration over the wire (wire.ts and the wire-*.ts beside it) works with: the
// operations, the keys that prove identities, the responder, the session table, the settings and counters.

export interface AdminWireOptions {
  challengeTimeoutMs: number;
  maxSessionMs: number;
  requireSessions: boolean;
  /** The values of a handle whose prefix this node homes (non-public ones included), else undefined. */
  localValues: (handle: string) => HandleValue[] | undefined;
  /** Drop cached answers a write just made stale, before the write is acknowledged. */
  noticeWrites?: () => void;
  /**
   * False when several worker processes share the port: sessions and challenges live in one process, and
   * the answer to a challenge may reach another, so authentication is refused with a clear message.
   */
  singleProcess?: boolean;
  /**
   * Failed proofs limited per identity and per source, shared with HTTP (auth-limits.ts): while either is
   * locked an answer is refused unchecked (RC 3); every refusal is logged.
   */
  authLimits?: AuthLimiter;
  /** The clock (ms) of challenges, logins and sessions (tests pass a fake one). */
  now?: () => number;
  /** What answers the replication operations (1000–1002) for this node's mirrors; absent: not served. */
  replication?: ReplicationAnswerer;
}

/**
 * The replication operations (docs/replication.md): served to the identities the node names as its
 * replication administrators, each proven like any administrator (a challenge or a session).
 */
export interface ReplicationAnswerer {
  allows(identity: Identity): boolean;
  /** The answer to a request whose sender has proven an identity it allows: one message, or a stream. */
  answer(req: Packet, opts: ReplyOptions): Buffer | MessageStream;
}

export interface WireMeta {
  transport: 'udp' | 'tcp';
  /** Who sent it (an address), for the daily quota when no identity is known. */
  peer?: string;
  /** The TCP connection's state (the national SDK's login lives there); absent on UDP. */
  connection?: ConnectionScope;
}

/** Counters for operators. */
export class AdminWireStats {
  challenges = 0;
  answers = 0;
  authFailures = 0;
  sessions = 0;
  operations = 0;
  /** LOGIN_ID_SYSTEM logins proven (the national SDK's). */
  logins = 0;
}

export interface WireContext {
  readonly service: AdminService;
  readonly identities: IdentityKeys;
  readonly responder: Responder;
  readonly opts: AdminWireOptions;
  readonly table: SessionTable;
  readonly stats: AdminWireStats;
  /** The clock (ms): opts.now, else Date.now. */
  readonly now: () => number;
}

/** The refusal of a replication request from an identity that is not one of the node's mirrors. */
export const NOT_A_REPLICATION_ADMIN = 'not a replication administrator of this server';

export const WORKERS_MESSAGE = 'administration and authentication need a node serving from one process (workers: 1); this node runs several';

/** Where a request came from, for the audit log. */
export function originOf(meta: WireMeta): AuditOrigin {
  return { transport: 'wire', ...(meta.peer !== undefined ? { address: meta.peer } : {}) };
}

/**
 * The request a challenge was issued for, as the answer to that challenge is replied to: the original's
 * opcode, flags and digest under the answer's RequestId.
 */
export function originalAnsweredBy(original: Packet, answer: Packet): Packet {
  return { ...original, envelope: { ...original.envelope, requestId: answer.envelope.requestId } } as Packet;
}
