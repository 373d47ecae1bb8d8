/**
 * Downsampling arithmetic: buckets aligned to multiples of the step since the
 * epoch, every aggregation, absent values, empty buckets left out, pages fed
 * one after another, and the step max_points picks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AGGREGATIONS, Downsampler, bucketCount, p95, stepForPoints, type Aggregation } from '../../src/store/downsampler.js';
import type { TelemetryColumns } from '../../src/store/telemetry-columns.js';

/** Columns from rows of [time, {metric: value}]. */
function columnsOf(rows: [number, Record<string, number>][]): TelemetryColumns {
  const metrics = [...new Set(rows.flatMap(([, values]) => Object.keys(values)))].sort();
  return {
    timestampsMs: Float64Array.from(rows.map(([t]) => t)),
    metrics,
    columns: metrics.map((name) => Float64Array.from(rows.map(([, values]) => values[name] ?? NaN))),
  };
}

/** The downsampled result as [bucket start, {metric: value or null}] rows. */
function rowsOf(result: TelemetryColumns): [number, Record<string, number | null>][] {
  return [...result.timestampsMs].map((t, r) => [t, Object.fromEntries(result.metrics.map((name, m) => [name, Number.isNaN(result.columns[m][r]) ? null : result.columns[m][r]]))]);
}

function downsample(rows: [number, Record<string, number>][], stepMs: number, aggregation: Aggregation): [number, Record<string, number | null>][] {
  const downsampler = new Downsampler(stepMs, aggregation);
  downsampler.add(columnsOf(rows));
  downsampler.finish();
  return rowsOf(downsampler.result());
}

// Three buckets of 10 s: [1000, 1010) s has four samples of A and one of B,
// [1010, 1020) none, [1020, 1030) one of A only.
const ROWS: [number, Record<string, number>][] = [
  [1_000_000, { A: 4, B: 1 }],
  [1_002_500, { A: 8 }],
  [1_005_000, { A: 1 }],
  [1_009_999, { A: 3 }],
  [1_025_000, { A: 10 }],
];

describe('downsampler', () => {
  it('aggregates each metric over its own samples per bucket, for every aggregation', () => {
    assert.deepEqual(downsample(ROWS, 10_000, 'avg'), [[1_000_000, { A: 4, B: 1 }], [1_020_000, { A: 10, B: null }]]);
    assert.deepEqual(downsample(ROWS, 10_000, 'min'), [[1_000_000, { A: 1, B: 1 }], [1_020_000, { A: 10, B: null }]]);
    assert.deepEqual(downsample(ROWS, 10_000, 'max'), [[1_000_000, { A: 8, B: 1 }], [1_020_000, { A: 10, B: null }]]);
    assert.deepEqual(downsample(ROWS, 10_000, 'last'), [[1_000_000, { A: 3, B: 1 }], [1_020_000, { A: 10, B: null }]]);
    // Sorted A = 1, 3, 4, 8: rank 0.95 × 3 = 2.85, between 4 and 8: 4 + 0.85 × 4.
    assert.deepEqual(downsample(ROWS, 10_000, 'p95'), [[1_000_000, { A: 4 + (8 - 4) * (0.95 * 3 - 2), B: 1 }], [1_020_000, { A: 10, B: null }]]);
  });

  it('aligns buckets to multiples of the step since the epoch, the first one included', () => {
    // 7 s buckets: 1,000,000 ms lies in [142 × 7,000, 143 × 7,000) = [994,000, 1,001,000).
    const result = downsample(ROWS, 7_000, 'max');
    for (const [t] of result) assert.equal(t % 7_000, 0, `${t} is a multiple of the step`);
    assert.deepEqual(result, [
      [994_000, { A: 4, B: 1 }],
      [1_001_000, { A: 8, B: null }],
      [1_008_000, { A: 3, B: null }],
      [1_022_000, { A: 10, B: null }],
    ]);
  });

  it('leaves out buckets without a sample and never makes a value of an absent one', () => {
    const result = downsample([[0, { A: 1 }], [3_600_000, { B: 2 }]], 60_000, 'avg');
    assert.deepEqual(result, [[0, { A: 1, B: null }], [3_600_000, { A: null, B: 2 }]]);
  });

  it('gives the same buckets when the records arrive in several pages, a bucket split between two', () => {
    const whole = downsample(ROWS, 10_000, 'p95');
    const downsampler = new Downsampler(10_000, 'p95');
    downsampler.add(columnsOf(ROWS.slice(0, 2)));
    downsampler.add(columnsOf(ROWS.slice(2, 3)));
    downsampler.add(columnsOf(ROWS.slice(3)));
    downsampler.finish();
    assert.deepEqual(rowsOf(downsampler.result()), whole);
  });

  it('keeps a bucket open until a later one starts, and cuts the result at the limit', () => {
    const downsampler = new Downsampler(10_000, 'avg');
    downsampler.add(columnsOf(ROWS.slice(0, 4)));
    assert.equal(downsampler.completeBuckets, 0);
    assert.equal(downsampler.hasOpenBucket, true);
    downsampler.add(columnsOf(ROWS.slice(4)));
    assert.equal(downsampler.completeBuckets, 1);
    downsampler.finish();
    assert.equal(downsampler.completeBuckets, 2);
    assert.deepEqual(rowsOf(downsampler.result(1)), [[1_000_000, { A: 4, B: 1 }]]);
  });

  it('gives the same buckets with a page\'s kept aggregates as without, for every aggregation, in pages that continue a bucket or not', () => {
    // 40 records every 5 s, A on each, B on every third: 20 s buckets hold 4 records.
    const rows: [number, Record<string, number>][] = Array.from({ length: 40 }, (_, r): [number, Record<string, number>] => [1_000_000 + r * 5_000, r % 3 === 0 ? { A: (r * 7) % 11, B: r / 3 } : { A: (r * 7) % 11 }]);
    for (const aggregation of AGGREGATIONS) {
      const whole = downsample(rows, 20_000, aggregation);
      // Pages of 10 records; a page that starts inside the open bucket (the third) does not use what is kept.
      const pages = [rows.slice(0, 10), rows.slice(10, 13), rows.slice(13, 30), rows.slice(30)].map(columnsOf);
      for (let read = 0; read < 3; read++) {
        const downsampler = new Downsampler(20_000, aggregation);
        for (const page of pages) downsampler.add(page, page);
        downsampler.finish();
        assert.deepEqual(rowsOf(downsampler.result()), whole, `${aggregation}, read ${read}`);
      }
    }
  });

  it('reuses a page\'s kept aggregates for the same step and aggregation only, and keeps none for a page of few records per bucket', () => {
    const page = columnsOf(Array.from({ length: 16 }, (_, r) => [r * 1_000, { A: r }]));
    const readOnce = (stepMs: number, aggregation: Aggregation, content: TelemetryColumns, key: object): [number, Record<string, number | null>][] => {
      const downsampler = new Downsampler(stepMs, aggregation);
      downsampler.add(content, key);
      downsampler.finish();
      return rowsOf(downsampler.result());
    };
    const key = {};
    const first = readOnce(4_000, 'max', page, key);
    // Same key, other values: kept aggregates answer the complete buckets (the key promises the same records), the open last one is read.
    const changed = { ...page, columns: [page.columns[0].map((v) => v + 100)] };
    assert.deepEqual(readOnce(4_000, 'max', changed, key).slice(0, 3), first.slice(0, 3));
    assert.deepEqual(readOnce(4_000, 'min', changed, key)[0], [0, { A: 100 }], 'another aggregation is computed afresh');
    // Two records per bucket: nothing kept.
    const fewKey = {};
    readOnce(2_000, 'max', page, fewKey);
    assert.deepEqual(readOnce(2_000, 'max', changed, fewKey)[0], [0, { A: 101 }]);
    // At most four steps and aggregations a page: the oldest goes first.
    const boundKey = {};
    for (const stepMs of [4_000, 8_000, 16_000, 32_000]) readOnce(stepMs, 'avg', page, boundKey);
    readOnce(4_000, 'last', page, boundKey);
    assert.deepEqual(readOnce(8_000, 'avg', changed, boundKey)[0], [0, { A: 3.5 }], 'still kept');
    assert.deepEqual(readOnce(4_000, 'avg', changed, boundKey)[0], [0, { A: 101.5 }], 'evicted: computed from the changed records');
  });

  it('leaves out a bucket whose aggregate has no value (avg of +∞ and -∞) wherever the pages split', () => {
    const rows: [number, Record<string, number>][] = [
      [0, { A: Infinity }],
      [1_000, { A: -Infinity }],
      [10_000, { A: 5 }],
    ];
    const whole = downsample(rows, 10_000, 'avg');
    assert.deepEqual(whole, [[10_000, { A: 5 }]]);
    const downsampler = new Downsampler(10_000, 'avg');
    downsampler.add(columnsOf(rows.slice(0, 2)));
    assert.equal(downsampler.hasOpenBucket, false, 'the open bucket will not be emitted');
    downsampler.add(columnsOf(rows.slice(2)));
    downsampler.finish();
    assert.deepEqual(rowsOf(downsampler.result()), whole);
  });

  it('handles times before the epoch and a step of one millisecond', () => {
    assert.deepEqual(downsample([[-1, { A: 1 }], [0, { A: 2 }]], 1_000, 'last'), [[-1_000, { A: 1 }], [0, { A: 2 }]]);
    assert.deepEqual(downsample([[5, { A: 1 }], [6, { A: 2 }]], 1, 'avg'), [[5, { A: 1 }], [6, { A: 2 }]]);
  });

  it('interpolates p95 between the closest ranks, as Prometheus does', () => {
    assert.equal(p95([5]), 5);
    assert.equal(p95([1, 2]), 1.95);
    assert.equal(p95(Array.from({ length: 101 }, (_, i) => 100 - i)), 95);
  });

  it('refuses a step that is not a whole number of milliseconds ≥ 1', () => {
    for (const step of [0, -5, 1.5, NaN]) assert.throws(() => new Downsampler(step, 'avg'), { code: 'BAD_REQUEST' });
  });

  it('picks the smallest nice step whose aligned buckets over the range are at most max_points', () => {
    const day = 86_400_000;
    const start = Date.parse('2026-03-02T00:00:00Z');
    // 24 h / 500 = 172.8 s: 3 min gives 480 buckets.
    assert.equal(stepForPoints(start, start + day - 1, 500), 180_000);
    assert.equal(bucketCount(start, start + day - 1, 180_000), 480);
    // Alignment can add a bucket: 5 s to 14 s touches two 10 s buckets, so one point takes 15 s.
    assert.equal(stepForPoints(5_000, 14_000, 2), 5_000);
    assert.equal(stepForPoints(5_000, 14_000, 1), 15_000);
    assert.equal(stepForPoints(start, start, 1), 1_000);
    // Beyond the nice steps: whole days.
    const step = stepForPoints(0, 3_650 * day, 10);
    assert.equal(step % day, 0);
    assert.ok(bucketCount(0, 3_650 * day, step) <= 10);
    assert.ok(bucketCount(0, 3_650 * day, step - day) > 10);
  });
});
