import { randomInt } from 'node:crypto';
import type { Packet } from '../protocol/message.js';
import type { MessageStream } from '../protocol/message-stream.js';
import type { Identity } from './permissions.js';

// Sessions and pending challenges (docs/protocol.md §11.3 and §11.6). They share one id space, as the
// reference's do: a 402 outside a session carries a fresh id, and the client answers under it; a 402 inside a
// session carries the session's id. Ids are random (the reference counts 1, 2, 3 …, which lets a stranger
// guess another client's id and spoil its challenge). Both tables are bounded, in entries, in bytes and per
// peer, and expire: an unauthenticated session lives only as long as a challenge may be answered.

/** What a challenge was issued for, kept until it is answered or expires. */
export interface PendingChallenge {
  id: number;
  nonce: Buffer;
  /** The raw request digest (without its type byte): what the client signs after the nonce. */
  digest: Buffer;
  /** The original request, decoded (decrypted if it came encrypted). */
  request: Packet;
  /** The original request's SessionId (0 outside a session). */
  sessionId: number;
  expiresAt: number;
  /** Once answered: the answer's RequestId and the response sent, for a retransmitted answer. */
  answered?: { requestId: number; reply: Buffer | Buffer[] | MessageStream };
  /** Answers that did not verify; past a few the challenge is dropped (no guessing of secrets on one nonce). */
  failures: number;
  /** Who asked, for the per-peer bound. */
  peer: string;
  /** Bytes held (the original request), for the byte bound. */
  bytes: number;
}

export interface Session {
  id: number;
  /** The 32-byte session key: the HMAC key, its first 16 bytes the AES key. */
  key: Buffer;
  /** The identity the client named at setup; undefined for an anonymous session. */
  identity?: Identity;
  authenticated: boolean;
  timeoutMs: number;
  expiresAt: number;
  /** Counters seen recently (a window), so a replayed message is refused. */
  counters: Set<number>;
  pending?: PendingChallenge;
  peer: string;
}

/**
 * The national SDK's login on one TCP connection (LOGIN_ID_SYSTEM, docs/idis.md). The client names a
 * SessionId of its own choosing; once the 402 to its login is answered with a proof, every request on the
 * connection under that id acts as the identity, unsigned. It lives in the connection's scope, so it ends
 * with the connection, and it expires when idle.
 */
export interface ConnectionLogin {
  sessionId: number;
  /** The identity the login named, and once proven, the identity requests act as. */
  claimed: Identity;
  proven: boolean;
  /** The 402 waiting for its answer. */
  pending?: PendingChallenge;
  expiresAt: number;
}

/** State of one TCP connection, made by the transport and filled in by the admin layer; gone with it. */
export interface ConnectionScope {
  login?: ConnectionLogin;
  /** Proofs that failed on this connection; past a few, it may not try again. */
  failedLogins?: number;
}

export interface SessionLimits {
  maxSessions: number;
  /** Sessions one address may hold before any of them is authenticated. */
  maxUnauthenticatedPerPeer: number;
  /** How long a session may stay unauthenticated. */
  unauthenticatedMs: number;
  maxChallenges: number;
  maxChallengesPerPeer: number;
  /** Bytes of original requests held by pending challenges. */
  maxChallengeBytes: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  maxSessions: 100000,
  maxUnauthenticatedPerPeer: 32,
  unauthenticatedMs: 120000,
  maxChallenges: 100000,
  maxChallengesPerPeer: 256,
  maxChallengeBytes: 64 * 1024 * 1024,
};

/** Counters remembered per session, as the reference's window. */
const COUNTER_WINDOW = 200;

export class SessionTable {
  private readonly sessions = new Map<number, Session>();
  private readonly challenges = new Map<number, PendingChallenge>();
  private challengeBytes = 0;
  private lastSweep = 0;
  /** Pending challenges, and unauthenticated sessions, per peer. */
  private readonly challengesOf = new Map<string, number>();
  private readonly unauthenticatedOf = new Map<string, number>();

  constructor(
    private readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** A fresh id: random, positive, 31 bits, not in use by a session or a challenge. */
  nextId(): number {
    for (;;) {
      const id = randomInt(1, 0x7fffffff);
      if (!this.sessions.has(id) && !this.challenges.has(id)) return id;
    }
  }

  /** Open a session; undefined when the table, or this peer's share of unauthenticated sessions, is full. */
  openSession(key: Buffer, identity: Identity | undefined, timeoutMs: number, peer = ''): Session | undefined {
    this.sweep();
    if (this.sessions.size >= this.limits.maxSessions) return undefined;
    if ((this.unauthenticatedOf.get(peer) ?? 0) >= this.limits.maxUnauthenticatedPerPeer) return undefined;
    bump(this.unauthenticatedOf, peer, 1);
    const s: Session = {
      id: this.nextId(),
      key,
      authenticated: false,
      timeoutMs,
      // Until its identity is proven, a session lives only as long as a challenge may take.
      expiresAt: this.now() + Math.min(timeoutMs, this.limits.unauthenticatedMs),
      counters: new Set(),
      peer,
      ...(identity ? { identity } : {}),
    };
    this.sessions.set(s.id, s);
    return s;
  }

  /** The session's identity is proven: from now on it lives for the idle timeout the client asked for. */
  authenticate(s: Session): void {
    if (!s.authenticated) bump(this.unauthenticatedOf, s.peer, -1);
    s.authenticated = true;
    s.expiresAt = this.now() + s.timeoutMs;
  }

  /** A live session (its idle timer renewed), or undefined. */
  session(id: number): Session | undefined {
    const s = this.sessions.get(id);
    if (!s) return undefined;
    if (s.expiresAt <= this.now()) {
      this.removeSession(s);
      return undefined;
    }
    if (s.authenticated) s.expiresAt = this.now() + s.timeoutMs;
    return s;
  }

  closeSession(id: number): void {
    const s = this.sessions.get(id);
    if (s) this.removeSession(s);
  }

  private removeSession(s: Session): void {
    this.sessions.delete(s.id);
    if (!s.authenticated) bump(this.unauthenticatedOf, s.peer, -1);
  }

  private removeChallenge(c: PendingChallenge): void {
    this.challenges.delete(c.id);
    this.challengeBytes -= c.bytes;
    bump(this.challengesOf, c.peer, -1);
  }

  /** Record a message counter; false when it was seen already (a replay). */
  useCounter(s: Session, counter: number): boolean {
    if (s.counters.has(counter)) return false;
    s.counters.add(counter);
    if (s.counters.size > COUNTER_WINDOW) s.counters.delete(s.counters.values().next().value!);
    return true;
  }

  /** Keep a challenge: in its session when there is one, else under a fresh id. Undefined when full. */
  addChallenge(c: Omit<PendingChallenge, 'id' | 'failures'>, session: Session | undefined): PendingChallenge | undefined {
    if (session) {
      const p = { ...c, id: session.id, failures: 0 };
      session.pending = p;
      return p;
    }
    this.sweep();
    if (this.challenges.size >= this.limits.maxChallenges || this.challengeBytes + c.bytes > this.limits.maxChallengeBytes) return undefined;
    if ((this.challengesOf.get(c.peer) ?? 0) >= this.limits.maxChallengesPerPeer) return undefined;
    const p = { ...c, id: this.nextId(), failures: 0 };
    this.challenges.set(p.id, p);
    this.challengeBytes += p.bytes;
    bump(this.challengesOf, c.peer, 1);
    return p;
  }

  /** Forget a challenge (answered wrongly too often). */
  dropChallenge(c: PendingChallenge, session: Session | undefined): void {
    if (session) {
      if (session.pending === c) delete session.pending;
      return;
    }
    if (this.challenges.get(c.id) === c) this.removeChallenge(c);
  }

  /**
   * What an answer's SessionId names: a pending challenge (possibly expired or answered already: the caller
   * tells those apart), the session it was issued in, or nothing known.
   */
  challenge(id: number): { challenge?: PendingChallenge; session?: Session } {
    const c = this.challenges.get(id);
    if (c) return { challenge: c };
    const s = this.session(id);
    if (s) return s.pending ? { challenge: s.pending, session: s } : { session: s };
    return {};
  }

  isExpired(c: PendingChallenge): boolean {
    return c.expiresAt <= this.now();
  }

  /** Drop what has expired; answered challenges stay until their expiry (for retransmitted answers). */
  sweep(force = false): void {
    const now = this.now();
    // At most once a second: a full pass over large tables on every setup would itself be a cost to abuse.
    if (!force && now - this.lastSweep < 1000) return;
    this.lastSweep = now;
    for (const c of this.challenges.values()) if (c.expiresAt <= now) this.removeChallenge(c);
    for (const s of this.sessions.values()) if (s.expiresAt <= now) this.removeSession(s);
  }

  get size(): { sessions: number; challenges: number } {
    return { sessions: this.sessions.size, challenges: this.challenges.size };
  }
}

function bump(m: Map<string, number>, key: string, by: number): void {
  const n = (m.get(key) ?? 0) + by;
  if (n <= 0) m.delete(key);
  else m.set(key, n);
}
