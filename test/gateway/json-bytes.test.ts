/**
 * The byte writers of the columnar and record forms write exactly what
 * JSON.stringify writes for the same answer (absent values as null), for any
 * double: the integer and short-decimal shortcuts must never change a digit.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { recordViews } from '../../src/gateway/api-views.js';
import { columnsJson } from '../../src/gateway/columns-json.js';
import { recordsJson } from '../../src/gateway/records-json.js';
import type { GpuEntry } from '../../src/store/registry.js';

function reference(timestamps: Float64Array, metrics: string[], columns: Float64Array[], cursor: string | null): string {
  return JSON.stringify({
    data: { timestamps: Array.from(timestamps), metrics: Object.fromEntries(metrics.map((name, m) => [name, Array.from(columns[m])])) },
    count: timestamps.length,
    next_cursor: cursor,
  });
}

/** Doubles as DCGM writes them (integers, 1 to 6 decimals, repeats) and any double at all. */
const value = fc.oneof(
  fc.integer({ min: -1_000_000, max: 100_000_000 }),
  fc.tuple(fc.integer({ min: -1_000_000_000, max: 1_000_000_000 }), fc.integer({ min: 1, max: 6 })).map(([n, decimals]) => n / 10 ** decimals),
  fc.constantFrom(NaN, -0, 0, 1e21, -1e-7, 5e-324, Number.MAX_VALUE, 2 ** 53, 2 ** 53 + 2, 9_999_999_999.9999, 1e10, 0.1 + 0.2, 1772409600000),
  fc.double(),
);

/** Downsampled averages (sums of samples over counts: up to 17 significant digits), and the edges of the plain decimal form. */
const averageOrEdge = fc.oneof(
  fc.tuple(fc.integer({ min: -1_000_000_000, max: 1_000_000_000 }), fc.integer({ min: 1, max: 8_640 }), fc.integer({ min: 0, max: 6 })).map(([sum, count, decimals]) => sum / 10 ** decimals / count),
  fc.constantFrom(1e-6, -1e-6, 1e-6 * (1 - Number.EPSILON), 1e-6 * (1 + Number.EPSILON), 0.999999999999999, 0.9999999999999999, 2 ** 52 - 0.5, 2 ** 52 + 1, 4503599627370495.5, 123456789.12345679, 1 / 3, 2 / 3, 99.99999999999999, 0.0000012345678901234),
  fc.double({ min: 1e-7, max: 1e16 }),
  fc.double({ min: -1e16, max: -1e-7 }),
);

describe('columns JSON', () => {
  it('equals JSON.stringify of the same columns, value for value', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(value, { minLength: 3, maxLength: 3 }), { maxLength: 40 }),
        fc.option(fc.string(), { nil: null }),
        (rows, cursor) => {
          const timestamps = Float64Array.from(rows, (_, r) => 1_772_409_600_000 + r * 10_000);
          const metrics = ['DCGM_FI_DEV_GPU_UTIL', 'DCGM_FI_DEV_POWER_USAGE', 'odd "name"\u00e9'];
          const columns = metrics.map((_, m) => Float64Array.from(rows, (row) => row[m]));
          assert.equal(columnsJson({ timestampsMs: timestamps, metrics, columns }, cursor).bytes.toString('utf8'), reference(timestamps, metrics, columns, cursor));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('writes every average and edge value digit for digit as JSON.stringify does', () => {
    fc.assert(
      fc.property(fc.array(averageOrEdge, { minLength: 1, maxLength: 50 }), (values) => {
        const column = Float64Array.from(values);
        const answer = columnsJson({ timestampsMs: Float64Array.from(values, (_, r) => r), metrics: ['m'], columns: [column] }, null);
        assert.equal(answer.bytes.toString('utf8'), reference(Float64Array.from(values, (_, r) => r), ['m'], [column], null));
        answer.release();
      }),
      { numRuns: 2_000 },
    );
  });

  it('writes an empty page and grows past its first buffer', () => {
    assert.equal(columnsJson({ timestampsMs: new Float64Array(0), metrics: [], columns: [] }, null).bytes.toString(), '{"data":{"timestamps":[],"metrics":{}},"count":0,"next_cursor":null}');
    const timestamps = Float64Array.from({ length: 50_000 }, (_, r) => r * 1_000);
    const columns = [Float64Array.from(timestamps, (t) => Math.sin(t))];
    assert.equal(columnsJson({ timestampsMs: timestamps, metrics: ['m'], columns }, 'c').bytes.toString(), reference(timestamps, ['m'], columns, 'c'));
  });

  it('lends each answer a buffer of its own until released, then reuses it for a later answer', () => {
    const page = (value: number) => ({ timestampsMs: Float64Array.of(1, 2), metrics: ['m'], columns: [Float64Array.of(value, value)] });
    const first = columnsJson(page(1), null);
    const expected = first.bytes.toString();
    // Answers in flight at once (a larger one grows its own buffer) never write over the first.
    const large = Float64Array.from({ length: 100_000 }, (_, r) => r);
    const grown = columnsJson({ timestampsMs: large, metrics: ['m'], columns: [large] }, null);
    const second = columnsJson(page(2), null);
    assert.equal(first.bytes.toString(), expected);
    assert.notEqual(second.bytes.toString(), expected);
    assert.notEqual(first.bytes.buffer, second.bytes.buffer);
    assert.notEqual(first.bytes.buffer, grown.bytes.buffer);
    // Released, a buffer serves the next answer; releasing twice gives it back once.
    first.release();
    first.release();
    const third = columnsJson(page(3), null);
    assert.equal(third.bytes.buffer, first.bytes.buffer);
    const fourth = columnsJson(page(4), null);
    assert.notEqual(fourth.bytes.buffer, first.bytes.buffer);
    for (const answer of [grown, second, third, fourth]) answer.release();
  });
});

const GPU = { uuid: 'GPU-é"1', gpuId: 3, hostname: 'node\\a', gpuKey: 'GPU-é"1', migInstanceId: '' } as GpuEntry;
/** A MIG instance: its records carry mig_instance_id as a string (a whole GPU's, null). */
const MIG = { ...GPU, gpuKey: 'GPU-é"1:mig7"', migInstanceId: '7"' } as GpuEntry;

describe('records JSON', () => {
  it('equals JSON.stringify of the record views, named fields and metrics included', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(value, { minLength: 4, maxLength: 4 }), { maxLength: 30 }),
        fc.option(fc.string(), { nil: null }),
        (rows, cursor) => {
          const timestampsMs = Float64Array.from(rows, (_, r) => 1_772_409_600_000 + r * 10_500);
          // Two named fields, one metric that is not named, one odd name; DCGM_FI_DEV_GPU_TEMP absent.
          const metrics = ['DCGM_FI_DEV_GPU_UTIL', 'DCGM_FI_DEV_POWER_USAGE', 'DCGM_FI_PROF_DRAM_ACTIVE', 'x"é'];
          const page = { timestampsMs, metrics, columns: metrics.map((_, m) => Float64Array.from(rows, (row) => row[m])) };
          for (const gpu of [GPU, MIG]) {
            const expected = JSON.stringify({ data: recordViews(gpu, page), count: rows.length, next_cursor: cursor });
            assert.equal(recordsJson(gpu, page, cursor).bytes.toString('utf8'), expected);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
