import { type LineLimit, DEFAULT_LINE_LIMIT, LineLimiter } from './limiter.js';
import type { Logger } from './logger.js';

// Log lines that input can cause — a malformed packet, an exception while answering one — limited per kind
// (component and event): at most `linesPerInterval` lines an interval, then one line with the count of
// those left out. A flood of bad packets costs a few lines and a number, not a line (or a stack) per packet.
//
// A kind is made once (its key, logger and level fixed); reporting an occurrence that is left out costs a
// clock read and a Map lookup, nothing allocated.

export type ProblemLevel = 'error' | 'warn' | 'info' | 'debug';

export class ProblemKind {
  /** Occurrences, logged or left out. */
  count = 0;

  constructor(
    private readonly limiter: LineLimiter<ProblemKind>,
    readonly logger: Logger,
    readonly event: string,
    readonly level: ProblemLevel,
  ) {}

  /** Count an occurrence: true when its line is to be written now (build the fields only then). */
  allow(): boolean {
    this.count++;
    if (!this.logger.isLevelEnabled(this.level)) return false;
    return this.limiter.allow(this);
  }

  /** Count an occurrence and write its line unless this interval's lines of the kind are used up. */
  report(msg: string, fields?: Record<string, unknown>): void {
    if (this.allow()) this.write(msg, fields);
  }

  /** The line of an occurrence allow() let through. */
  write(msg: string, fields?: Record<string, unknown>): void {
    try {
      this.logger[this.level]({ event: this.event, ...fields }, msg);
    } catch {
      // A log that cannot be written must not break the answer to a request.
    }
  }

  /** Report the line as text: the form the HTTP and DNS front ends log in. */
  readonly text = (msg: string): void => this.report(msg);
}

export class ProblemLog {
  private readonly limiter: LineLimiter<ProblemKind>;

  constructor(
    private readonly logger: Logger,
    readonly limit: LineLimit = DEFAULT_LINE_LIMIT,
    now: () => number = Date.now,
  ) {
    this.limiter = new LineLimiter<ProblemKind>(
      limit,
      (kind, suppressed) => {
        kind.logger[kind.level](
          { event: kind.event, suppressed, intervalSeconds: Math.round(limit.intervalMs / 1000) },
          `${suppressed} more left out of the log in the last ${Math.round(limit.intervalMs / 1000)} s`,
        );
      },
      now,
    );
  }

  /** A kind of line: a component's event at a level. */
  kind(component: string, event: string, level: ProblemLevel): ProblemKind {
    return new ProblemKind(this.limiter, this.logger.child({ component }), event, level);
  }

  /** Lines left out so far, of every kind. */
  get suppressed(): number {
    return this.limiter.suppressed;
  }

  /** Write the counts of intervals that are over (a timer calls this); `all`: of every one (stopping). */
  flush(all = false): void {
    this.limiter.flush(all);
  }
}

/** Where a request came from, as the transports describe it. */
export interface RequestOrigin {
  transport: string;
  peer?: string;
}

/**
 * What the Handle request handler reports: exceptions while answering (bugs, with their stack) and requests
 * it could not read (bad input). Both rate-limited per kind.
 */
export class HandlerProblems {
  readonly internal: ProblemKind;
  readonly malformedKind: ProblemKind;

  constructor(log: ProblemLog) {
    this.internal = log.kind('handler', 'internal_error', 'error');
    this.malformedKind = log.kind('handler', 'malformed_request', 'info');
  }

  internalError(err: unknown, what: string, origin?: RequestOrigin): void {
    if (!this.internal.allow()) return;
    this.internal.write(`internal error ${what}`, { err, ...(origin ? { transport: origin.transport, source: origin.peer } : {}) });
  }

  malformed(reason: string, origin: RequestOrigin | undefined, answered: boolean): void {
    if (!this.malformedKind.allow()) return;
    this.malformedKind.write('a request that could not be read', {
      ...(origin ? { transport: origin.transport, source: origin.peer } : {}),
      reason,
      answered,
    });
  }
}
