/**
 * Latencies in logarithmic buckets, 1% wide, from 0.01 ms to ~145 days: a
 * fixed ~2,800 counters however many requests a long soak makes, and
 * percentiles within 1% of the exact ones (the bucket's upper edge is
 * reported, so they are never understated).
 */
const SMALLEST_MS = 0.01;
const GROWTH = 1.01;
const BUCKETS = 2_800;

export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  count = 0;
  maxMs = 0;

  record(ms: number): void {
    const bucket = ms <= SMALLEST_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / SMALLEST_MS) / Math.log(GROWTH)));
    this.counts[bucket]++;
    this.count++;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  /** The p-th percentile (0-100): the upper edge of the bucket holding that rank; NaN when empty. */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.min(this.count, Math.max(1, Math.ceil((p / 100) * this.count)));
    let seen = 0;
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      seen += this.counts[bucket];
      if (seen >= rank) return Math.min(this.maxMs, SMALLEST_MS * GROWTH ** bucket);
    }
    return this.maxMs;
  }
}
