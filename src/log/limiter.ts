// Lines limited per key (an event name): at most `linesPerInterval` lines in each interval, and when more
// happened, one summary at the end of the interval saying how many were left out. A flood of one event
// costs a few lines and a count, not a line per packet; the security log, the node's per-request problems
// and the audit log's anonymous refusals are limited this way.
//
// The clock is injected (tests pass a fake one). Nothing is allocated for an event that is left out: a
// caller asks allow() first and builds its line only when the answer is yes.

export interface LineLimit {
  /** The length of an interval (ms). */
  intervalMs: number;
  /** Lines of one key written per interval; past them the events are only counted. */
  linesPerInterval: number;
}

export const DEFAULT_LINE_LIMIT: LineLimit = { intervalMs: 10000, linesPerInterval: 10 };

interface Window {
  start: number;
  lines: number;
  suppressed: number;
}

export class LineLimiter<K = string> {
  /** Lines left out by the limit, in all. */
  suppressed = 0;
  private readonly windows = new Map<K, Window>();

  constructor(
    readonly limit: LineLimit,
    /** Called when an interval in which lines were left out ends: how many, and when it noticed. */
    private readonly onSuppressed: (key: K, suppressed: number, now: number) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Count one event of `key`: true when its line is to be written, false when it is left out (and counted). */
  allow(key: K): boolean {
    const now = this.now();
    let w = this.windows.get(key);
    if (!w) {
      w = { start: now, lines: 0, suppressed: 0 };
      this.windows.set(key, w);
    } else if (now - w.start >= this.limit.intervalMs) {
      this.close(key, w, now);
      w.start = now;
      w.lines = 0;
      w.suppressed = 0;
    }
    if (w.lines < this.limit.linesPerInterval) {
      w.lines++;
      return true;
    }
    w.suppressed++;
    this.suppressed++;
    return false;
  }

  /**
   * End every interval that is over, reporting what was left out of it (a timer calls this); with `all`,
   * every interval, over or not (when the process stops).
   */
  flush(all = false): void {
    const now = this.now();
    for (const [key, w] of this.windows) {
      if (!all && now - w.start < this.limit.intervalMs) continue;
      this.close(key, w, now);
      this.windows.delete(key);
    }
  }

  private close(key: K, w: Window, now: number): void {
    if (w.suppressed === 0) return;
    try {
      this.onSuppressed(key, w.suppressed, now);
    } catch {
      // A failing sink must not turn the event that noticed into a crash.
    }
  }
}
