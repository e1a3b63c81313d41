import { LRUCache } from 'lru-cache';
import { networkOf } from '../model/address.js';
import type { Identity } from './permissions.js';
import type { SecurityLog } from './security-log.js';

// Failed authentications, limited per identity and per source (docs/security.md). A wrong password or a
// signature that does not verify counts against the identity it claimed and the address it came from.
// Below the limit nothing changes; at it the identity (or source) is locked for `lockoutSeconds`, and each
// further failure after a lock ends locks it again for twice as long, up to `maxLockoutSeconds`. While
// locked, an attempt is refused without being checked (RC 3 SERVER_TOO_BUSY on the wire, HTTP 429 with
// Retry-After) — the right secret too, or the lock would only slow guessing down to the rate of checks.
// A proof that verifies clears its identity's failures; a source's are forgotten only after
// `forgetSeconds` without one, so a client cannot mix its own good logins in to reset its count while it
// guesses others'. Both tables are bounded (least recently used forgotten first).
//
// The wire and HTTP share one limiter, so guesses cannot be split between them. The clock is injected.

export interface FailedAuthLimits {
  /** Failures of one identity before it is locked; 0: no limit per identity. */
  perIdentity: number;
  /** Failures from one source (an IPv4 address, an IPv6 /64) before it is locked; 0: no limit per source. */
  perSource: number;
  /** The first lockout; each further one twice as long. */
  lockoutSeconds: number;
  maxLockoutSeconds: number;
  /** Failures are forgotten after this long without one. */
  forgetSeconds: number;
  /** Identities and sources remembered, each (least recently used forgotten first). */
  maxTracked: number;
}

export const DEFAULT_FAILED_AUTH: FailedAuthLimits = {
  perIdentity: 10,
  perSource: 30,
  lockoutSeconds: 1,
  maxLockoutSeconds: 900,
  forgetSeconds: 3600,
  maxTracked: 100000,
};

/** One attempt: who it claims to be, where it came from, over what. */
export interface AuthAttempt {
  identity?: Identity;
  source?: string;
  transport: 'udp' | 'tcp' | 'http';
}

/** Why an attempt is refused unchecked. */
export interface AuthRefusal {
  scope: 'identity' | 'source';
  retryAfterSeconds: number;
  message: string;
}

interface Failures {
  count: number;
  last: number;
  lockedUntil: number;
}

type Scope = 'identity' | 'source';

export class AuthLimiter {
  private readonly identities: LRUCache<string, Failures>;
  private readonly sources: LRUCache<string, Failures>;

  constructor(
    private readonly limits: FailedAuthLimits = DEFAULT_FAILED_AUTH,
    private readonly log?: SecurityLog,
    private readonly now: () => number = Date.now,
  ) {
    this.identities = new LRUCache({ max: Math.max(1, limits.maxTracked) });
    this.sources = new LRUCache({ max: Math.max(1, limits.maxTracked) });
  }

  /** Refused unchecked when the identity or the source is locked (and logged); undefined: go on and check. */
  check(a: AuthAttempt): AuthRefusal | undefined {
    const now = this.now();
    const id = a.identity ? identityKey(a.identity) : undefined;
    const src = a.source ? sourceKey(a.source) : undefined;
    const byId = id !== undefined ? this.identities.get(id) : undefined;
    const bySrc = src !== undefined ? this.sources.get(src) : undefined;
    const scope: Scope | undefined = byId && byId.lockedUntil > now ? 'identity' : bySrc && bySrc.lockedUntil > now ? 'source' : undefined;
    if (!scope) return undefined;
    const until = scope === 'identity' ? byId!.lockedUntil : bySrc!.lockedUntil;
    const retryAfterSeconds = Math.max(1, Math.ceil((until - now) / 1000));
    this.log?.event('auth_refused', {
      transport: a.transport,
      source: a.source,
      identity: a.identity ? formatIdentity(a.identity) : undefined,
      lockedFor: scope,
      retryAfterSeconds,
    });
    return {
      scope,
      retryAfterSeconds,
      message: `too many failed authentications ${scope === 'identity' ? 'for this identity' : 'from this address'}; try again in ${retryAfterSeconds} s`,
    };
  }

  /** A proof that did not verify: counted against identity and source, which may lock them; logged. */
  failed(a: AuthAttempt, reason: string): void {
    const now = this.now();
    const id = a.identity ? identityKey(a.identity) : undefined;
    const src = a.source ? sourceKey(a.source) : undefined;
    const byId = id !== undefined ? this.count(this.identities, id, now) : undefined;
    const bySrc = src !== undefined ? this.count(this.sources, src, now) : undefined;
    const identity = a.identity ? formatIdentity(a.identity) : undefined;
    this.log?.event('auth_failed', {
      transport: a.transport,
      source: a.source,
      identity,
      reason,
      identityFailures: byId?.count,
      sourceFailures: bySrc?.count,
    });
    if (byId) this.lockIfDue('identity', byId, this.limits.perIdentity, now, a, identity);
    if (bySrc) this.lockIfDue('source', bySrc, this.limits.perSource, now, a, identity);
  }

  /** A refusal that is not a guess (credentials that cannot be read, an unknown session): logged only. */
  rejected(a: AuthAttempt, reason: string): void {
    this.log?.event('auth_failed', {
      transport: a.transport,
      source: a.source,
      identity: a.identity ? formatIdentity(a.identity) : undefined,
      reason,
    });
  }

  /** A proof that verified: the identity's failures are cleared (the source's are not). */
  succeeded(a: AuthAttempt): void {
    if (a.identity) this.identities.delete(identityKey(a.identity));
  }

  /** Identities and sources locked now (for the metrics; a scan of the tables, at scrape time only). */
  lockedNow(): { identity: number; source: number } {
    const now = this.now();
    let identity = 0;
    let source = 0;
    for (const f of this.identities.values()) if (f.lockedUntil > now) identity++;
    for (const f of this.sources.values()) if (f.lockedUntil > now) source++;
    return { identity, source };
  }

  private count(table: LRUCache<string, Failures>, key: string, now: number): Failures {
    let f = table.get(key);
    if (!f || now - f.last > this.limits.forgetSeconds * 1000) {
      f = { count: 0, last: now, lockedUntil: 0 };
      table.set(key, f);
    }
    f.count++;
    f.last = now;
    return f;
  }

  private lockIfDue(scope: Scope, f: Failures, limit: number, now: number, a: AuthAttempt, identity: string | undefined): void {
    if (limit <= 0 || f.count < limit) return;
    const doublings = Math.min(f.count - limit, 30);
    const seconds = Math.min(this.limits.maxLockoutSeconds, this.limits.lockoutSeconds * 2 ** doublings);
    f.lockedUntil = now + seconds * 1000;
    this.log?.event('auth_lockout', {
      scope,
      transport: a.transport,
      source: a.source,
      identity,
      failures: f.count,
      lockoutSeconds: seconds,
    });
  }
}

/** The handle of an identity names it for counting: any index, any case (lookups fold the prefix's case). */
function identityKey(i: Identity): string {
  return i.handle.toUpperCase();
}

/** An IPv4 address, or an IPv6 address's /64 (one host can hold a whole /64). */
function sourceKey(address: string): string {
  return networkOf(address, 32, 64);
}

function formatIdentity(i: Identity): string {
  return `${i.index}:${i.handle}`;
}
