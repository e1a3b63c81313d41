import type { Packet } from '../protocol/message.js';
import type { Identity } from './permissions.js';

// Sessions and pending challenges (handle-protocol.md 11.3 and 11.6). They share one id counter, as the
// reference's do: a 402 outside a session carries a fresh id, and the client answers under it; a 402 inside a
// session carries the session's id. Both tables are bounded and expire.

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
  answered?: { requestId: number; reply: Buffer | Buffer[] };
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
}

/** Counters remembered per session, as the reference's window. */
const COUNTER_WINDOW = 200;

export class SessionTable {
  private next = 1;
  private readonly sessions = new Map<number, Session>();
  private readonly challenges = new Map<number, PendingChallenge>();

  constructor(
    private readonly limits: { maxSessions: number; maxChallenges: number } = { maxSessions: 100000, maxChallenges: 100000 },
    private readonly now: () => number = Date.now,
  ) {}

  /** The next id from the shared counter: never 0, wrapping within 31 bits. */
  nextId(): number {
    const id = this.next;
    this.next = this.next >= 0x7fffffff ? 1 : this.next + 1;
    return id;
  }

  openSession(key: Buffer, identity: Identity | undefined, timeoutMs: number): Session | undefined {
    this.sweep();
    if (this.sessions.size >= this.limits.maxSessions) return undefined;
    const s: Session = { id: this.nextId(), key, authenticated: false, timeoutMs, expiresAt: this.now() + timeoutMs, counters: new Set(), ...(identity ? { identity } : {}) };
    this.sessions.set(s.id, s);
    return s;
  }

  /** A live session (its idle timer renewed), or undefined. */
  session(id: number): Session | undefined {
    const s = this.sessions.get(id);
    if (!s) return undefined;
    if (s.expiresAt <= this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    s.expiresAt = this.now() + s.timeoutMs;
    return s;
  }

  closeSession(id: number): void {
    this.sessions.delete(id);
  }

  /** Record a message counter; false when it was seen already (a replay). */
  useCounter(s: Session, counter: number): boolean {
    if (s.counters.has(counter)) return false;
    s.counters.add(counter);
    if (s.counters.size > COUNTER_WINDOW) s.counters.delete(s.counters.values().next().value!);
    return true;
  }

  /** Keep a challenge: in its session when there is one, else under a fresh id. Undefined when full. */
  addChallenge(c: Omit<PendingChallenge, 'id'>, session: Session | undefined): PendingChallenge | undefined {
    if (session) {
      const p = { ...c, id: session.id };
      session.pending = p;
      return p;
    }
    this.sweep();
    if (this.challenges.size >= this.limits.maxChallenges) return undefined;
    const p = { ...c, id: this.nextId() };
    this.challenges.set(p.id, p);
    return p;
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
  sweep(): void {
    const now = this.now();
    for (const [id, c] of this.challenges) if (c.expiresAt <= now) this.challenges.delete(id);
    for (const [id, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(id);
  }

  get size(): { sessions: number; challenges: number } {
    return { sessions: this.sessions.size, challenges: this.challenges.size };
  }
}
