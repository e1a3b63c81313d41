/**
 * A latency histogram with bounded relative error and no allocation per sample: values in microseconds go
 * into log-linear buckets (16 sub-buckets per power of two, so at most ~6% error), up to about 60 s.
 */
export class LatencyHistogram {
  private static readonly SUB = 16;
  private readonly counts = new Float64Array(64 * LatencyHistogram.SUB);
  count = 0;
  max = 0;
  private sum = 0;

  record(us: number): void {
    const v = us < 1 ? 1 : us;
    this.counts[LatencyHistogram.bucketOf(v)]!++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  private static bucketOf(v: number): number {
    const exp = Math.floor(Math.log2(v));
    const base = 2 ** exp;
    const sub = Math.min(LatencyHistogram.SUB - 1, Math.floor(((v - base) / base) * LatencyHistogram.SUB));
    return exp * LatencyHistogram.SUB + sub;
  }

  private static upperOf(bucket: number): number {
    const exp = Math.floor(bucket / LatencyHistogram.SUB);
    const sub = bucket % LatencyHistogram.SUB;
    const base = 2 ** exp;
    return base + ((sub + 1) * base) / LatencyHistogram.SUB;
  }

  /** The value at quantile q (0..1), in microseconds: the upper edge of its bucket, never above max. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const target = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= target) return Math.min(LatencyHistogram.upperOf(i), this.max);
    }
    return this.max;
  }

  mean(): number {
    return this.count ? this.sum / this.count : 0;
  }
}
