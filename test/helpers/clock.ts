// A clock for a node under test: it runs with real time (timers, sockets and timeouts behave as usual), and
// a test moves it forward instead of sleeping until a TTL, a stale window or an expiry has passed.

export class TestClock {
  private skew = 0;

  constructor(private readonly base: () => number = Date.now) {}

  /** The time (ms) the node sees: pass as IdresNode.start(dir, { clock: clock.now }). */
  readonly now = (): number => this.base() + this.skew;

  /** Move the clock forward by `ms`. */
  advance(ms: number): void {
    this.skew += ms;
  }
}
