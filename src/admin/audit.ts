import { userInfo } from 'node:os';
import { type HandleValue, sameValueContent } from '../model/value.js';
import { ResponseCode } from '../protocol/constants.js';
import { type LineLimit, DEFAULT_LINE_LIMIT, LineLimiter } from '../log/limiter.js';
import type Database from 'better-sqlite3';
import { AuditStore, type NewAuditRow } from '../store/audit-store.js';
import type { Logger } from '../log/logger.js';
import { type Identity, formatIdentity } from './permissions.js';

// The audit log (docs/operations.md): every administrative change — who, from where, what, the result —
// kept in the registry's audit_log table, always on. Changes are recorded in the transaction that makes
// them; a refusal is recorded on its own.
//
// What is recorded of values is their index and type, never their data (a secret key's secret, say).
//
// Refusals of requests nobody has proven an identity for are limited (per transport: at most
// linesPerInterval rows an interval, then one "suppressed" row with the count): anyone who can open a TCP
// connection can send refused writes, and each row is a commit to disk. Changes, and refusals of an
// identity that has proven itself (or of the local operator), are always recorded.

export type AuditTransport = 'wire' | 'http' | 'cli' | 'import';

/** Where a change came from. */
export interface AuditOrigin {
  transport: AuditTransport;
  /** The client's address (wire and HTTP). */
  address?: string;
}

/** Values by [index, type]: what a change added, changed (same index, other content) and removed. */
export interface AuditChange {
  added: Array<[number, string]>;
  changed: Array<[number, string]>;
  removed: Array<[number, string]>;
}

export interface AuditEvent {
  /** INDEX:HANDLE, "local" or "anonymous" (identityName). */
  identity: string;
  /** Proven (or local): false when only claimed, or none. */
  authenticated: boolean;
  origin: AuditOrigin;
  op: string;
  handle: string | null;
  change?: AuditChange;
  /** More about the operation (an import batch's counts, a grant's permissions). */
  detail?: Record<string, unknown>;
  responseCode: number;
  message: string;
}

/** The identity as the audit log names it. */
export function identityName(identity: Identity | undefined): string {
  return identity ? formatIdentity(identity) : 'anonymous';
}

/** The name of the local operator's OS account, recorded with CLI changes (their identity is "local"). */
export function localUser(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

/** What changed between two states of a handle's values, by index and type (timestamps left out). */
export function changeBetween(before: readonly HandleValue[] | undefined, after: readonly HandleValue[] | undefined): AuditChange {
  const was = new Map((before ?? []).map((v) => [v.index, v]));
  const now = new Map((after ?? []).map((v) => [v.index, v]));
  const out: AuditChange = { added: [], changed: [], removed: [] };
  for (const [i, v] of now) {
    const old = was.get(i);
    if (!old) out.added.push([i, v.type]);
    else if (!sameValueContent(old, v)) out.changed.push([i, v.type]);
  }
  for (const [i, v] of was) if (!now.has(i)) out.removed.push([i, v.type]);
  return out;
}


export interface AuditTrailOptions {
  /** The clock (ms) rows are stamped with (tests pass a fake one). */
  now?: () => number;
  /** The limit on refusals of unproven requests, per transport. */
  anonymousRefusals?: LineLimit;
  /** Told when a refusal could not be recorded (a change that cannot be recorded does not happen). */
  onError?: (err: unknown) => void;
}

export class AuditTrail {
  /** Rows written, and refusals left out by the limit. */
  readonly stats = { recorded: 0, suppressed: 0, failed: 0 };
  private readonly now: () => number;
  private readonly limiter: LineLimiter<string>;
  private lastPrune = 0;

  constructor(
    readonly store: AuditStore,
    private readonly opts: AuditTrailOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    const limit = opts.anonymousRefusals ?? DEFAULT_LINE_LIMIT;
    this.limiter = new LineLimiter<string>(
      limit,
      (transport, count, at) =>
        this.insert({
          at,
          identity: 'anonymous',
          authenticated: false,
          transport,
          address: null,
          op: 'suppressed',
          handle: null,
          detail: { refusals: count, intervalSeconds: Math.round(limit.intervalMs / 1000) },
          responseCode: 0,
          message: `${count} more refusals of unauthenticated requests left out`,
        }),
      this.now,
    );
  }

  /**
   * Record an event. A change is written in the caller's transaction, and an error writing it is thrown
   * (the change must then not happen); a refusal is written on its own, an error only reported.
   */
  record(e: AuditEvent): void {
    const refusal = e.responseCode !== ResponseCode.SUCCESS;
    if (refusal && !e.authenticated && !this.limiter.allow(e.origin.transport)) {
      this.stats.suppressed++;
      return;
    }
    const row: NewAuditRow = {
      at: this.now(),
      identity: e.identity,
      authenticated: e.authenticated,
      transport: e.origin.transport,
      address: e.origin.address ?? null,
      op: e.op,
      handle: e.handle,
      detail: { ...(e.change ? compact(e.change) : {}), ...e.detail },
      responseCode: e.responseCode,
      message: e.message,
    };
    if (!refusal) {
      this.store.insert(row);
      this.stats.recorded++;
      return;
    }
    this.insert(row);
  }

  /** Write the counts of intervals that are over (a timer calls this); `all`: of every one (stopping). */
  flush(all = false): void {
    this.limiter.flush(all);
  }

  /** Delete rows older than `days`; how many. */
  prune(days: number): number {
    this.lastPrune = this.now();
    return this.store.prune(this.lastPrune - days * 86_400_000);
  }

  /** prune() at most once a day (a running node's timer calls this). */
  maybePrune(days: number): number {
    return this.now() - this.lastPrune >= 86_400_000 ? this.prune(days) : 0;
  }

  private insert(row: NewAuditRow): void {
    try {
      this.store.insert(row);
      this.stats.recorded++;
    } catch (err) {
      this.stats.failed++;
      this.opts.onError?.(err);
    }
  }
}

/** The change without its empty lists. */
function compact(c: AuditChange): Partial<AuditChange> {
  return {
    ...(c.added.length ? { added: c.added } : {}),
    ...(c.changed.length ? { changed: c.changed } : {}),
    ...(c.removed.length ? { removed: c.removed } : {}),
  };
}

/**
 * The audit trail of a node's registry: rows past `retainDays` pruned now (and daily after, by maybePrune),
 * refusals that cannot be written reported on the logger.
 */
export function openAuditTrail(db: Database.Database, o: { retainDays: number; now?: () => number; logger?: Logger }): AuditTrail {
  const log = o.logger?.child({ component: 'audit' });
  const trail = new AuditTrail(new AuditStore(db), {
    ...(o.now ? { now: o.now } : {}),
    onError: (err) => log?.error({ event: 'write_failed', err }, 'a refusal could not be written to the audit log'),
  });
  const pruned = trail.prune(o.retainDays);
  if (pruned > 0) log?.info({ event: 'pruned', rows: pruned, retainDays: o.retainDays }, `${pruned} audit rows older than ${o.retainDays} days deleted`);
  return trail;
}
