// The security log (docs/security.md): refused authentications, lockouts and rate limiting, each one JSON
// line, and counted. It is rate-limited itself, per event name: at most `linesPerInterval` lines in each
// interval, and when more happened, one line at the end of the interval saying how many were left out, so
// a flood of failures costs a few lines, not one per packet. Everything is counted, logged or not.
//
// The sink and the clock are injected: a node passes its log function; a later logger (syslog, a file with
// rotation) plugs in the same way; tests pass a fake clock and read the lines.

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

export interface SecurityLogOptions {
  /** The length of an interval (ms). */
  intervalMs: number;
  /** Lines of one event name written per interval; past them the events are only counted. */
  linesPerInterval: number;
}

export const DEFAULT_SECURITY_LOG: SecurityLogOptions = { intervalMs: 10000, linesPerInterval: 10 };

export type SecurityFields = Record<string, string | number | boolean | undefined>;

interface Window {
  start: number;
  lines: number;
  suppressed: number;
}

export class SecurityLog {
  /** Events by name, every one (logged or left out): the metrics read these. */
  readonly counts: Record<SecurityEvent, number>;
  /** Lines left out by the log's own limit. */
  suppressed = 0;
  private readonly windows = new Map<SecurityEvent, Window>();

  constructor(
    private readonly sink: (line: string) => void,
    private readonly opts: SecurityLogOptions = DEFAULT_SECURITY_LOG,
    private readonly now: () => number = Date.now,
  ) {
    this.counts = Object.fromEntries(SECURITY_EVENTS.map((e) => [e, 0])) as Record<SecurityEvent, number>;
  }

  get intervalMs(): number {
    return this.opts.intervalMs;
  }

  /** Record an event: counted always, written unless its name has used up this interval's lines. */
  event(name: SecurityEvent, fields: SecurityFields): void {
    this.counts[name]++;
    const now = this.now();
    let w = this.windows.get(name);
    if (!w || now - w.start >= this.opts.intervalMs) {
      if (w) this.close(name, w, now);
      w = { start: now, lines: 0, suppressed: 0 };
      this.windows.set(name, w);
    }
    if (w.lines < this.opts.linesPerInterval) {
      w.lines++;
      this.write(now, { event: name, ...fields });
    } else {
      w.suppressed++;
      this.suppressed++;
    }
  }

  /** End every interval that is over, writing what was left out of it (a timer calls this). */
  flush(): void {
    const now = this.now();
    for (const [name, w] of this.windows) {
      if (now - w.start < this.opts.intervalMs) continue;
      this.close(name, w, now);
      this.windows.delete(name);
    }
  }

  private close(name: SecurityEvent, w: Window, now: number): void {
    if (w.suppressed === 0) return;
    this.write(now, { event: name, suppressed: w.suppressed, intervalSeconds: Math.round(this.opts.intervalMs / 1000) });
  }

  private write(now: number, fields: SecurityFields): void {
    try {
      this.sink(JSON.stringify({ time: new Date(now).toISOString(), ...fields }));
    } catch {
      // A failing sink must not turn a refused login into a crash.
    }
  }
}
