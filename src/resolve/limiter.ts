import { ResponseCode } from '../protocol/constants.js';
import { ResolutionFailure } from './answer.js';

// A resolver's upstream work, bounded (docs/security.md): at most `maxConcurrent` exchanges with other servers
// at once — each holds one socket, a UDP socket of its own or a TCP connection — and at most `maxQueued`
// waiting for one. A resolution's first exchange is new work; its later ones (the next referral of a walk
// already under way, the query after the walk, a failover) go ahead of new work, so what was started is
// finished first. New work that finds the queue full is refused: the client gets RC 2 with a message (or a
// stale answer), and nothing is spent on it.

/** Refused for want of room: not a failure of the servers asked, so never cached as one. */
export class ResolverBusy extends ResolutionFailure {
  constructor(message: string) {
    super(message, ResponseCode.ERROR, true);
    this.name = 'ResolverBusy';
  }
}

/** Whether a resolution has had an exchange admitted yet (then its next ones are not new work). */
export class UpstreamWork {
  started = false;
}

export class LimiterStats {
  /** Exchanges refused because the queue was full. */
  refused = 0;
  /** Exchanges that had to wait for a slot. */
  queued = 0;
  /** The most exchanges in flight at once. */
  maxInFlight = 0;
}

export class UpstreamLimiter {
  readonly stats = new LimiterStats();
  private active = 0;
  /** Waiters of work under way, then of new work: FIFO each, read from a head index. */
  private readonly continuing: Array<() => void> = [];
  private continuingHead = 0;
  private readonly fresh: Array<() => void> = [];
  private freshHead = 0;

  constructor(
    readonly maxConcurrent: number,
    readonly maxQueued: number,
  ) {}

  get inFlight(): number {
    return this.active;
  }

  get waiting(): number {
    return this.continuing.length - this.continuingHead + this.fresh.length - this.freshHead;
  }

  /** Run one exchange when a slot is free; throws ResolverBusy for new work when the queue is full. */
  async run<T>(work: UpstreamWork, exchange: () => Promise<T>): Promise<T> {
    if (this.active < this.maxConcurrent && this.waiting === 0) this.take();
    else {
      if (!work.started && this.fresh.length - this.freshHead >= this.maxQueued) {
        this.stats.refused++;
        throw new ResolverBusy(
          `resolver busy: ${this.active} upstream queries in progress and ${this.waiting} waiting; try again shortly`,
        );
      }
      this.stats.queued++;
      await new Promise<void>((resolve) => (work.started ? this.continuing : this.fresh).push(resolve));
    }
    work.started = true;
    try {
      return await exchange();
    } finally {
      this.release();
    }
  }

  private take(): void {
    if (++this.active > this.stats.maxInFlight) this.stats.maxInFlight = this.active;
  }

  /** Hand the slot to the next waiter (work under way first), or free it. */
  private release(): void {
    this.active--;
    const next = this.next();
    if (next) {
      this.take();
      next();
    }
  }

  private next(): (() => void) | undefined {
    if (this.continuingHead < this.continuing.length) {
      const f = this.continuing[this.continuingHead++]!;
      this.continuingHead = compact(this.continuing, this.continuingHead);
      return f;
    }
    if (this.freshHead < this.fresh.length) {
      const f = this.fresh[this.freshHead++]!;
      this.freshHead = compact(this.fresh, this.freshHead);
      return f;
    }
    return undefined;
  }
}

/** Drop the consumed head of a queue once it is empty or mostly consumed; returns the new head. */
function compact(q: Array<() => void>, head: number): number {
  if (head === q.length) {
    q.length = 0;
    return 0;
  }
  if (head >= 1024 && head * 2 >= q.length) {
    q.splice(0, head);
    return 0;
  }
  return head;
}
