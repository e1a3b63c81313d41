import client from 'prom-client';

// A Prometheus histogram whose buckets are counted elsewhere (flat arrays the hot path bumps, as
// http/counters.ts keeps) and read only when scraped. prom-client's Histogram can only be fed one
// observation at a time, so this is a metric of its own that the registry asks for its values (`get`),
// written out exactly as a prom-client Histogram with the same name, label and buckets would be.

/** One label value's histogram, as counted: per-bucket counts (not cumulative, one more than the bounds: the last is above all), their sum. */
export interface BucketCounts {
  label: string;
  counts: ArrayLike<number>;
  count: number;
  sum: number;
}

interface Sample {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

export class CollectedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelName: string,
    private readonly buckets: readonly number[],
    private readonly read: () => BucketCounts[],
  ) {}

  /** Register in `registry`, as a prom-client metric would at construction. */
  registerIn(registry: client.Registry): this {
    // The registry only asks a metric for name, help, type and get(); it takes any object that has them.
    registry.registerMetric(this as unknown as client.Metric);
    return this;
  }

  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Sample[] }> {
    const values: Sample[] = [];
    for (const h of this.read()) {
      let acc = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        acc += h.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le: this.buckets[i]!, [this.labelName]: h.label }, value: acc });
      }
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', [this.labelName]: h.label }, value: h.count });
      values.push({ metricName: `${this.name}_sum`, labels: { [this.labelName]: h.label }, value: h.sum });
      values.push({ metricName: `${this.name}_count`, labels: { [this.labelName]: h.label }, value: h.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** Nothing to clear here: the counts belong to whoever keeps them (registry.resetMetrics() calls this). */
  reset(): void {}
}
