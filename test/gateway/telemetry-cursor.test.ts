import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeTelemetryCursor, encodeTelemetryCursor } from '../../src/gateway/telemetry-cursor.js';

const cursorOf = (fields: unknown): string => Buffer.from(JSON.stringify(fields)).toString('base64url');

describe('telemetry cursor', () => {
  it('reads back what it wrote, with and without a step', () => {
    const series = { hostname: 'gpu-node-01', gpuKey: 'GPU-1:mig2' };
    assert.deepEqual(decodeTelemetryCursor(encodeTelemetryCursor(series, 1_772_442_900_000, undefined)), { ...series, afterMs: 1_772_442_900_000, stepMs: undefined });
    assert.deepEqual(decodeTelemetryCursor(encodeTelemetryCursor(series, 5, 60_000)), { ...series, afterMs: 5, stepMs: 60_000 });
  });

  it('refuses a time no Date holds as BAD_REQUEST (it once went on to the store as 1e300)', () => {
    for (const afterMs of [1e300, 2 ** 53, -(2 ** 60), 8.64e15 + 1, 1.5]) assert.throws(() => decodeTelemetryCursor(cursorOf([afterMs, 'h', 'g'])), { code: 'BAD_REQUEST' });
  });

  it('refuses anything that is not a cursor as BAD_REQUEST, quoting it cut short', () => {
    for (const text of ['', 'garbage', cursorOf({}), cursorOf([1, 2, 'g']), cursorOf([1, 'h', 'g', 0]), cursorOf([1, 'h', 'g', 'x'])]) {
      assert.throws(() => decodeTelemetryCursor(text), { code: 'BAD_REQUEST' });
    }
    assert.throws(() => decodeTelemetryCursor('x'.repeat(10_000)), (error: Error) => error.message.length < 400);
  });
});
