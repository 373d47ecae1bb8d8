import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatTime, parseTimeParam } from '../../src/gateway/time-param.js';

describe('time parameters', () => {
  const now = Date.parse('2026-03-02T10:00:00Z');

  it('accepts RFC 3339 with Z, offsets and fractions', () => {
    assert.equal(parseTimeParam('2026-03-02T09:15:00Z', 't'), Date.parse('2026-03-02T09:15:00Z'));
    assert.equal(parseTimeParam('2026-03-02T10:15:00.250+01:00', 't'), Date.parse('2026-03-02T09:15:00.250Z'));
  });

  it('accepts epoch milliseconds', () => {
    assert.equal(parseTimeParam('1772442900000', 't'), 1772442900000);
  });

  it('accepts now and now-15m style relative times', () => {
    assert.equal(parseTimeParam('now', 't', now), now);
    assert.equal(parseTimeParam('now-15m', 't', now), now - 900_000);
    assert.equal(parseTimeParam('now-1h', 't', now), now - 3_600_000);
    assert.equal(parseTimeParam('now-7d', 't', now), now - 7 * 86_400_000);
  });

  it('refuses anything else with BAD_REQUEST naming the parameter', () => {
    for (const bad of ['yesterday', '2026-02-30T00:00:00Z', '2026-03-02T09:15:00', 'now-5y', '']) {
      assert.throws(() => parseTimeParam(bad, 'start_time'), (e: Error & { code?: string }) => e.code === 'BAD_REQUEST' && e.message.startsWith('start_time'));
    }
  });

  it('refuses times beyond what a date holds, naming the parameter and the range', () => {
    for (const bad of ['now-99999999999999d', 'now+99999999999999w', '8640000000000001', '-8640000000000001', '99999999999999999999999']) {
      assert.throws(() => parseTimeParam(bad, 'end_time', now), (e: Error & { code?: string }) => e.code === 'BAD_REQUEST' && /^end_time ".*" is out of range: times run from/.test(e.message), bad);
    }
  });

  it('takes epoch milliseconds up to the range ends, before 1970 too', () => {
    assert.equal(parseTimeParam('8640000000000000', 't'), 8.64e15);
    assert.equal(parseTimeParam('-8640000000000000', 't'), -8.64e15);
    assert.equal(parseTimeParam('-1000', 't'), -1000);
    assert.equal(formatTime(parseTimeParam('8640000000000000', 't')), '+275760-09-13T00:00:00.000Z');
  });

  it('formats RFC 3339 with milliseconds in UTC', () => {
    assert.equal(formatTime(Date.parse('2026-03-02T09:15:00Z')), '2026-03-02T09:15:00.000Z');
  });
});
