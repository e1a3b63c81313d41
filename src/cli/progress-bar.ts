// Progress of a long command on stderr: a bar with rate and ETA redrawn in place on a terminal, plain lines
// (one per step the caller reports) when stderr is a file or a pipe, so logs stay readable.

export type ProgressMode = 'bar' | 'lines' | 'none';

export function progressModeFor(stream: NodeJS.WriteStream, requested: 'auto' | ProgressMode): ProgressMode {
  if (requested !== 'auto') return requested;
  return stream.isTTY ? 'bar' : 'lines';
}

const REDRAW_MS = 150;

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export const formatCount = (n: number) => Math.round(n).toLocaleString('en-US');

export class Progress {
  private readonly started = performance.now();
  private lastDraw = 0;
  private drawn = false;
  private done = 0;
  private total = 0;
  private rows = 0;

  /** Work already done before this run (a resume): not counted in the rate. */
  private base = 0;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    readonly mode: ProgressMode,
  ) {}

  /** Where this run starts (bytes already done by an earlier run). */
  startAt(done: number, total: number): void {
    this.base = done;
    this.done = done;
    this.total = total;
  }

  /** `done` of `total` units of work (bytes), and rows handled so far by this run. */
  update(done: number, total: number, rows: number): void {
    this.done = done;
    this.total = total;
    this.rows = rows;
    if (this.mode !== 'bar') return;
    const now = performance.now();
    if (now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    this.drawn = true;
    this.stream.write(`\r\x1b[K${this.bar()}  ${this.figures()}`);
  }

  /** A step worth a line of its own (lines mode only), followed by the figures. */
  step(message: string, rows: number): void {
    this.rows = rows;
    if (this.mode === 'lines') this.stream.write(`${message} · ${this.figures()}\n`);
  }

  /** A message on its own line, whatever the mode but none. */
  note(message: string): void {
    if (this.mode === 'none') return;
    this.end();
    this.stream.write(`${message}\n`);
  }

  /** Clear the bar before other output. */
  end(): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }

  private fraction(): number {
    return this.total > 0 ? Math.min(1, this.done / this.total) : 1;
  }

  private bar(width = 24): string {
    const filled = Math.round(this.fraction() * width);
    return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${String(Math.floor(this.fraction() * 100)).padStart(3)}%`;
  }

  private figures(): string {
    const seconds = (performance.now() - this.started) / 1000;
    const rate = seconds > 0 ? this.rows / seconds : 0;
    const workRate = seconds > 0 ? (this.done - this.base) / seconds : 0;
    const eta = workRate > 0 ? (this.total - this.done) / workRate : NaN;
    const pct = `${Math.floor(this.fraction() * 100)}%`;
    return `${this.mode === 'lines' ? `${pct} · ` : ''}${formatCount(this.rows)} rows · ${formatCount(rate)} rows/s · ETA ${formatDuration(eta)}`;
  }
}
