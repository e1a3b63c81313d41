// The security log (docs/security.md): refused authentications, lockouts and rate limiting, each one JSON
// line, and counted. It is rate-limited itself, per event name: at most `linesPerInterval` lines in each
// interval, and when more happened, one line at the end of the interval saying how many were left out, so
// a flood of failures costs a few lines, not one per packet. Everything is counted, logged or not.
//
// The sink and the clock are injected: a node passes its logger (src/log/logger.ts), so the lines are the
// node's log lines with component "security"; tests pass a function and a fake clock and read the lines. The
// limit is the one every rate-limited log line of the node uses (src/log/limiter.ts).

import { type LineLimit, LineLimiter } from '../log/limiter.js';
import type { Logger } from '../log/logger.js';

export const SECURITY_EVENTS = [
  /** Credentials or a proof that did not verify, or could not be read (field `reason`). */
  'auth_failed',
  /** An identity or a source reached its limit of failures: locked for `lockoutSeconds`. */
  'auth_lockout',
  /** An authentication attempted while its identity or source was locked: refused unchecked. */
  'auth_refused',
  /** UDP answers to a network limited (per network at most once an interval, with the count). */
  'udp_rate_limited',
  /** The same for the DNS gateway's UDP answers. */
  'dns_rate_limited',
] as const;
export type SecurityEvent = (typeof SECURITY_EVENTS)[number];

/** Lines per event name and interval (the shape of the node's `securityLog` settings). */
export type SecurityLogOptions = LineLimit;

export const DEFAULT_SECURITY_LOG: SecurityLogOptions = { intervalMs: 10000, linesPerInterval: 10 };

export type SecurityFields = Record<string, string | number | boolean | undefined>;

/** Where the lines go: a function taking each JSON line, or the node's logger (at warn, component "security"). */
export type SecuritySink = ((line: string) => void) | Logger;

export class SecurityLog {
  /** Events by name, every one (logged or left out): the metrics read these. */
  readonly counts: Record<SecurityEvent, number>;
  private readonly limiter: LineLimiter<SecurityEvent>;

  constructor(
    private readonly sink: SecuritySink,
    private readonly opts: SecurityLogOptions = DEFAULT_SECURITY_LOG,
    private readonly now: () => number = Date.now,
  ) {
    this.counts = Object.fromEntries(SECURITY_EVENTS.map((e) => [e, 0])) as Record<SecurityEvent, number>;
    this.limiter = new LineLimiter(
      opts,
      (name, suppressed, at) => this.write(at, { event: name, suppressed, intervalSeconds: Math.round(this.opts.intervalMs / 1000) }),
      now,
    );
  }

  get intervalMs(): number {
    return this.opts.intervalMs;
  }

  /** Lines left out by the log's own limit. */
  get suppressed(): number {
    return this.limiter.suppressed;
  }

  /** Record an event: counted always, written unless its name has used up this interval's lines. */
  event(name: SecurityEvent, fields: SecurityFields): void {
    this.counts[name]++;
    if (this.limiter.allow(name)) this.write(this.now(), { event: name, ...fields });
  }

  /** End every interval that is over, writing what was left out of it (a timer calls this); `all`: every one (stopping). */
  flush(all = false): void {
    this.limiter.flush(all);
  }

  private write(now: number, fields: SecurityFields): void {
    try {
      if (typeof this.sink === 'function') this.sink(JSON.stringify({ time: new Date(now).toISOString(), ...fields }));
      else this.sink.warn({ component: 'security', ...fields });
    } catch {
      // A failing sink must not turn a refused login into a crash.
    }
  }
}
