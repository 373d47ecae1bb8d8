/**
 * The utilisation rollup: exact sums per bucket, buckets that coarsen with
 * age and drop out after 7 days, a bounded encoded size, and a clear error
 * for bytes that are not a rollup.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ROLLUP_MAX_WINDOW_MS, UtilizationRollup, sumRollupWindow } from '../../src/store/utilization-rollup.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** A minute-, quarter- and hour-aligned start: 2026-03-02T00:00:00Z. */
const T0 = Date.parse('2026-03-02T00:00:00Z');

function roundTrip(rollup: UtilizationRollup): Buffer {
  const { bytes } = rollup.encode();
  assert.deepEqual(UtilizationRollup.decode(bytes, 'test').encode().bytes, bytes, 'decode then encode gives the same bytes');
  return bytes;
}

describe('utilisation rollup', () => {
  it('sums the samples of a window exactly, per GPU, leaving out GPUs with none', () => {
    const rollup = new UtilizationRollup();
    for (let s = 0; s < 60; s++) {
      rollup.add('GPU-a', T0 + s * 10_000, 10); // 10 minutes of 10 s samples
      rollup.add('GPU-b', T0 + s * 10_000, s % 2 === 0 ? 1 : 2);
    }
    rollup.add('GPU-c', T0 - 30 * MINUTE, 50);
    const bytes = roundTrip(rollup);
    const sums = sumRollupWindow(bytes, 'test', T0, T0 + 10 * MINUTE);
    assert.deepEqual(sums, [
      { gpuKey: 'GPU-a', count: 60, sum: 600 },
      { gpuKey: 'GPU-b', count: 60, sum: 90 },
    ]);
    assert.deepEqual(sumRollupWindow(bytes, 'test', T0 - HOUR, T0 + 10 * MINUTE).find((s) => s.gpuKey === 'GPU-c'), { gpuKey: 'GPU-c', count: 1, sum: 50 });
  });

  it('widens a window to whole buckets: 1 minute near the newest sample, 15 minutes past 2 h, 1 hour past 24 h', () => {
    const rollup = new UtilizationRollup();
    const newest = T0 + 3 * DAY;
    rollup.add('g', newest, 1);
    rollup.add('g', newest - 30 * MINUTE - 20_000, 2); // a 1-minute bucket
    rollup.add('g', newest - 5 * HOUR + 7 * MINUTE, 4); // a 15-minute bucket: [−5h, −4h45m)
    rollup.add('g', newest - 2 * DAY + 40 * MINUTE, 8); // a 1-hour bucket: [−2d, −2d+1h)
    const bytes = roundTrip(rollup);
    const sumFrom = (fromMs: number): number => sumRollupWindow(bytes, 'test', fromMs, newest)[0]?.sum ?? 0;
    assert.equal(sumFrom(newest - 30 * MINUTE), 1, 'the 1-minute bucket ends before the window');
    assert.equal(sumFrom(newest - 30 * MINUTE - 10_000), 3, 'the 1-minute bucket overlaps the window');
    assert.equal(sumFrom(newest - 4 * HOUR - 46 * MINUTE), 7, 'the whole 15-minute bucket counts');
    assert.equal(sumFrom(newest - 2 * DAY + 59 * MINUTE), 15, 'the whole hour counts');
  });

  it('folds aged buckets into coarser ones when newer samples arrive, and keeps their sums', () => {
    const rollup = new UtilizationRollup();
    for (let m = 0; m < 30; m++) rollup.add('g', T0 + m * MINUTE, m);
    const before = rollup.encode().bytes.length;
    rollup.add('g', T0 + 3 * HOUR, 100);
    const bytes = roundTrip(rollup);
    assert.ok(bytes.length < before, `30 one-minute buckets became two of 15 minutes (${before} → ${bytes.length} bytes)`);
    assert.deepEqual(sumRollupWindow(bytes, 'test', T0, T0 + 3 * HOUR), [{ gpuKey: 'g', count: 31, sum: 435 + 100 }]);
  });

  it('drops buckets older than 7 days, and a GPU that has none left', () => {
    const rollup = new UtilizationRollup();
    rollup.add('old', T0, 5);
    rollup.add('kept', T0 + 3 * HOUR, 5);
    rollup.add('kept', T0 + ROLLUP_MAX_WINDOW_MS + 2 * HOUR, 7);
    const bytes = roundTrip(rollup);
    assert.deepEqual(UtilizationRollup.decode(bytes, 'test').gpuKeys, ['kept']);
    assert.deepEqual(sumRollupWindow(bytes, 'test', 0, Number.MAX_SAFE_INTEGER), [{ gpuKey: 'kept', count: 2, sum: 12 }]);
  });

  it('keeps fractional and negative sums exactly', () => {
    const rollup = new UtilizationRollup();
    rollup.add('f', T0, 0.1);
    rollup.add('f', T0 + 1, 0.2);
    rollup.add('n', T0, -3);
    const bytes = roundTrip(rollup);
    const sums = sumRollupWindow(bytes, 'test', T0, T0);
    assert.deepEqual(sums, [
      { gpuKey: 'f', count: 2, sum: 0.1 + 0.2 },
      { gpuKey: 'n', count: 1, sum: -3 },
    ]);
  });

  it('stays under its byte bound by leaving out the GPUs seen longest ago, the same ones every time', () => {
    const build = (): UtilizationRollup => {
      const rollup = new UtilizationRollup();
      for (let g = 0; g < 40; g++) for (let m = 0; m < 120; m++) rollup.add(`GPU-${String(g).padStart(2, '0')}`, T0 + m * MINUTE + g * 1_000, 50);
      rollup.add('GPU-late', T0 + 3 * HOUR, 1);
      return rollup;
    };
    const { bytes, droppedGpus } = build().encode(4_096);
    assert.ok(bytes.length <= 4_096, `${bytes.length} bytes`);
    assert.ok(droppedGpus > 0);
    const kept = UtilizationRollup.decode(bytes, 'test').gpuKeys;
    assert.ok(kept.includes('GPU-late') && !kept.includes('GPU-00'), kept.join(','));
    assert.deepEqual(build().encode(4_096).bytes, bytes);
  });

  it('takes under 1.5 kB per GPU that reported every 10 s for 7 days', () => {
    const rollup = new UtilizationRollup();
    for (let t = 0; t < ROLLUP_MAX_WINDOW_MS; t += 10_000) rollup.add('GPU-5fd4f087-86f3-7a43-b711-4771313afc50', T0 + t, (t / 10_000) % 101);
    const bytes = roundTrip(rollup);
    console.log(`# one GPU, 7 days at 10 s: ${bytes.length} bytes`);
    assert.ok(bytes.length < 1_500, `${bytes.length} bytes`);
  });

  it('matches a brute-force sum for any samples within 2 hours and any window', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gpu: fc.constantFrom('a', 'b'), offsetMs: fc.integer({ min: 0, max: 2 * HOUR - 1 }), value: fc.integer({ min: 0, max: 100 }) }), { maxLength: 200 }),
        fc.integer({ min: 0, max: 2 * HOUR }),
        (samples, fromOffsetMs) => {
          const rollup = new UtilizationRollup();
          for (const s of samples) rollup.add(s.gpu, T0 + s.offsetMs, s.value);
          rollup.add('a', T0 + 2 * HOUR, 0);
          const sums = sumRollupWindow(rollup.encode().bytes, 'test', T0 + fromOffsetMs, T0 + 2 * HOUR);
          // One-minute buckets throughout: the window starts at its minute.
          const fromMs = T0 + Math.floor(fromOffsetMs / MINUTE) * MINUTE;
          for (const gpu of ['a', 'b']) {
            const inWindow = samples.filter((s) => s.gpu === gpu && T0 + s.offsetMs >= fromMs);
            const expected = gpu === 'a' ? [...inWindow, { value: 0 }] : inWindow;
            const got = sums.find((s) => s.gpuKey === gpu) ?? { count: 0, sum: 0 };
            assert.equal(got.count, expected.length);
            assert.equal(got.sum, expected.reduce((sum, s) => sum + s.value, 0));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses bytes that are not a rollup with STORE_CORRUPT naming the key', () => {
    const bytes = roundTrip(Object.assign(new UtilizationRollup(), {}));
    assert.throws(() => UtilizationRollup.decode(Buffer.from('garbage'), '/gputel/clusters/default/rollups/h'), { code: 'STORE_CORRUPT', message: /rollups\/h/ });
    assert.throws(() => sumRollupWindow(Buffer.concat([bytes, Buffer.from([0])]), 'k', 0, 1), { code: 'STORE_CORRUPT' });
    const one = new UtilizationRollup();
    one.add('g', T0, 1);
    const encoded = one.encode().bytes;
    assert.throws(() => sumRollupWindow(encoded.subarray(0, encoded.length - 1), 'k', 0, 1), { code: 'STORE_CORRUPT', message: /ends early/ });
  });
});
