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

  it('formats RFC 3339 with milliseconds in UTC', () => {
    assert.equal(formatTime(Date.parse('2026-03-02T09:15:00Z')), '2026-03-02T09:15:00.000Z');
  });
});
