/**
 * Server-side downsampling: records aggregated into buckets aligned to
 * multiples of the step since the epoch. A bucket's time is its start; each
 * metric is aggregated over that metric's samples in [start, start + step)
 * and is absent (NaN) when the bucket has none of them; a bucket with no
 * sample at all is not emitted.
 */
import { GputelError } from '../common/gputel-error.js';
import type { TelemetryColumns } from './telemetry-columns.js';

export const AGGREGATIONS = ['avg', 'min', 'max', 'last', 'p95'] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

/** The start of the bucket holding `timeMs`. */
export function bucketStart(timeMs: number, stepMs: number): number {
  return Math.floor(timeMs / stepMs) * stepMs;
}

/**
 * The 0.95 quantile of `values` (sorted in place), interpolated linearly
 * between the closest ranks as Prometheus's quantile_over_time does.
 */
export function p95(values: number[]): number {
  values.sort((a, b) => a - b);
  const rank = 0.95 * (values.length - 1);
  const lower = Math.floor(rank);
  const upper = Math.ceil(rank);
  return values[lower] + (values[upper] - values[lower]) * (rank - lower);
}

/**
 * Aggregates pages of records, given in ascending time order, into buckets.
 * Feed it with `add`; a bucket is complete once a record of a later bucket
 * arrives or `finish` is called.
 */
export class Downsampler {
  private readonly starts: number[] = [];
  /** Output column per metric, one entry per complete bucket (NaN: no sample). */
  private readonly outputs = new Map<string, number[]>();
  private openStart = NaN;
  /** Accumulators of the open bucket, per metric name. */
  private readonly open = new Map<string, { count: number; sum: number; min: number; max: number; last: number; values: number[] }>();

  constructor(
    readonly stepMs: number,
    readonly aggregation: Aggregation,
  ) {
    if (!Number.isSafeInteger(stepMs) || stepMs < 1) throw new GputelError('BAD_REQUEST', `step ${stepMs} ms is not a whole number of milliseconds ≥ 1`);
  }

  /** Buckets completed so far. */
  get completeBuckets(): number {
    return this.starts.length;
  }

  /** True when a bucket is open (it has at least one sample and may still grow). */
  get hasOpenBucket(): boolean {
    return !Number.isNaN(this.openStart);
  }

  /** Adds records later than every record added before. */
  add(page: TelemetryColumns): void {
    const { timestampsMs, metrics, columns } = page;
    const accumulators = metrics.map((name) => this.accumulator(name));
    const keepValues = this.aggregation === 'p95';
    for (let r = 0; r < timestampsMs.length; r++) {
      const start = bucketStart(timestampsMs[r], this.stepMs);
      if (start !== this.openStart) {
        this.close();
        this.openStart = start;
      }
      for (let m = 0; m < columns.length; m++) {
        const value = columns[m][r];
        if (value !== value) continue; // NaN: no sample
        const a = accumulators[m];
        a.count++;
        a.sum += value;
        if (value < a.min) a.min = value;
        if (value > a.max) a.max = value;
        a.last = value;
        if (keepValues) a.values.push(value);
      }
    }
  }

  /** Completes the open bucket: call when no more records follow. */
  finish(): void {
    this.close();
    this.openStart = NaN;
  }

  /** The first `limit` complete buckets as columns (times are bucket starts). */
  result(limit = Infinity): TelemetryColumns {
    const buckets = Math.min(limit, this.starts.length);
    const metrics: string[] = [];
    const columns: Float64Array[] = [];
    for (const name of [...this.outputs.keys()].sort()) {
      const output = this.outputs.get(name)!;
      const column = new Float64Array(buckets).fill(NaN);
      let any = false;
      for (let b = 0; b < buckets && b < output.length; b++) {
        column[b] = output[b];
        if (output[b] === output[b]) any = true;
      }
      if (!any) continue;
      metrics.push(name);
      columns.push(column);
    }
    return { timestampsMs: Float64Array.from(this.starts.slice(0, buckets)), metrics, columns };
  }

  private accumulator(name: string): { count: number; sum: number; min: number; max: number; last: number; values: number[] } {
    let a = this.open.get(name);
    if (!a) {
      a = { count: 0, sum: 0, min: Infinity, max: -Infinity, last: NaN, values: [] };
      this.open.set(name, a);
    }
    return a;
  }

  private close(): void {
    if (Number.isNaN(this.openStart)) return;
    const bucket = this.starts.length;
    let any = false;
    for (const [name, a] of this.open) {
      if (a.count === 0) continue;
      any = true;
      let output = this.outputs.get(name);
      if (!output) {
        output = [];
        this.outputs.set(name, output);
      }
      while (output.length < bucket) output.push(NaN);
      output.push(this.aggregate(a));
      a.count = 0;
      a.sum = 0;
      a.min = Infinity;
      a.max = -Infinity;
      a.last = NaN;
      a.values = [];
    }
    if (any) this.starts.push(this.openStart);
  }

  private aggregate(a: { count: number; sum: number; min: number; max: number; last: number; values: number[] }): number {
    switch (this.aggregation) {
      case 'avg':
        return a.sum / a.count;
      case 'min':
        return a.min;
      case 'max':
        return a.max;
      case 'last':
        return a.last;
      case 'p95':
        return p95(a.values);
    }
  }
}

const SECOND_MS = 1_000;
const MINUTE_MS = 60 * SECOND_MS;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
/** Steps a chart reads well, smallest first; beyond the last, whole days. */
export const NICE_STEPS_MS = [
  SECOND_MS, 2 * SECOND_MS, 5 * SECOND_MS, 10 * SECOND_MS, 15 * SECOND_MS, 30 * SECOND_MS,
  MINUTE_MS, 2 * MINUTE_MS, 3 * MINUTE_MS, 5 * MINUTE_MS, 10 * MINUTE_MS, 15 * MINUTE_MS, 30 * MINUTE_MS,
  HOUR_MS, 2 * HOUR_MS, 3 * HOUR_MS, 6 * HOUR_MS, 12 * HOUR_MS,
  DAY_MS, 2 * DAY_MS, 7 * DAY_MS,
];

/** Number of aligned buckets of `stepMs` that [startMs, endMs] touches. */
export function bucketCount(startMs: number, endMs: number, stepMs: number): number {
  return (bucketStart(endMs, stepMs) - bucketStart(startMs, stepMs)) / stepMs + 1;
}

/**
 * The step for `maxPoints` points over [startMs, endMs]: the smallest nice
 * step (NICE_STEPS_MS, then whole days) whose aligned buckets over the range
 * number at most maxPoints. Alignment can make that one bucket more than
 * range / step, so the step can be one notch above range / maxPoints.
 */
export function stepForPoints(startMs: number, endMs: number, maxPoints: number): number {
  for (const stepMs of NICE_STEPS_MS) if (bucketCount(startMs, endMs, stepMs) <= maxPoints) return stepMs;
  let days = Math.max(1, Math.ceil((endMs - startMs + 1) / maxPoints / DAY_MS));
  while (bucketCount(startMs, endMs, days * DAY_MS) > maxPoints) days++;
  return days * DAY_MS;
}
