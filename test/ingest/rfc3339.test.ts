import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseRfc3339 } from '../../src/ingest/rfc3339.js';

const MIN_MS = new Date('0000-01-01T00:00:00.000Z').getTime();
const MAX_MS = new Date('9999-12-31T23:59:59.999Z').getTime();

test('round trip: parses what Date.prototype.toISOString writes, to the millisecond', () => {
  fc.assert(
    fc.property(fc.integer({ min: MIN_MS, max: MAX_MS }), (ms) => {
      assert.equal(parseRfc3339(new Date(ms).toISOString()), ms);
    }),
    { numRuns: 2000 },
  );
});

test('agrees with Date.parse on timestamps with offsets and fractions of any length', () => {
  const twoDigits = (max: number) => fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, '0'));
  const timestamp = fc
    .record({
      ms: fc.integer({ min: Date.UTC(1971, 0, 1), max: Date.UTC(2200, 0, 1) }),
      fraction: fc.string({ unit: fc.constantFrom('0', '1', '5', '9'), minLength: 0, maxLength: 9 }),
      zone: fc.oneof(
        fc.constant('Z'),
        fc.tuple(fc.constantFrom('+', '-'), twoDigits(23), twoDigits(59)).map(([sign, h, m]) => `${sign}${h}:${m}`),
      ),
    })
    .map(({ ms, fraction, zone }) => `${new Date(ms).toISOString().slice(0, 19)}${fraction === '' ? '' : `.${fraction}`}${zone}`);
  fc.assert(
    fc.property(timestamp, (text) => {
      // Date.parse keeps only milliseconds too; both truncate longer fractions.
      const truncated = text.replace(/\.(\d{1,3})\d*/, (_, ms: string) => `.${ms.padEnd(3, '0')}`);
      assert.equal(parseRfc3339(text), Date.parse(truncated), text);
    }),
    { numRuns: 1000 },
  );
});

test('accepts Z, lower-case z and t, a space separator and ±hh:mm offsets', () => {
  const expected = Date.UTC(2026, 2, 2, 9, 15, 0);
  assert.equal(parseRfc3339('2026-03-02T09:15:00Z'), expected);
  assert.equal(parseRfc3339('2026-03-02t09:15:00z'), expected);
  assert.equal(parseRfc3339('2026-03-02 09:15:00Z'), expected);
  assert.equal(parseRfc3339('2026-03-02T10:15:00+01:00'), expected);
  assert.equal(parseRfc3339('2026-03-02T04:45:00-04:30'), expected);
  assert.equal(parseRfc3339('2026-03-02T09:15:00-00:00'), expected);
});

test('truncates fractional seconds to milliseconds, whatever their length', () => {
  const base = Date.UTC(2026, 2, 2, 9, 15, 0);
  assert.equal(parseRfc3339('2026-03-02T09:15:00.5Z'), base + 500);
  assert.equal(parseRfc3339('2026-03-02T09:15:00.12Z'), base + 120);
  assert.equal(parseRfc3339('2026-03-02T09:15:00.123Z'), base + 123);
  assert.equal(parseRfc3339('2026-03-02T09:15:00.123456789Z'), base + 123);
  assert.equal(parseRfc3339('2026-03-02T09:15:00.999999999999Z'), base + 999);
});

test('reads a timestamp inside a larger string between start and end', () => {
  const text = '"2026-03-02T09:15:00Z","x"';
  assert.equal(parseRfc3339(text, 1, 21), Date.UTC(2026, 2, 2, 9, 15, 0));
  // The same field with the closing quote included is not a timestamp.
  assert.ok(Number.isNaN(parseRfc3339(text, 1, 22)));
  // A zone designator just past `end` does not count.
  assert.ok(Number.isNaN(parseRfc3339('2026-03-02T09:15:00Z', 0, 19)));
});

test('accepts 29 February in leap years only', () => {
  assert.equal(parseRfc3339('2024-02-29T00:00:00Z'), Date.UTC(2024, 1, 29));
  assert.equal(parseRfc3339('2000-02-29T00:00:00Z'), Date.UTC(2000, 1, 29));
  assert.ok(Number.isNaN(parseRfc3339('2025-02-29T00:00:00Z')));
  assert.ok(Number.isNaN(parseRfc3339('1900-02-29T00:00:00Z')));
});

test('returns NaN for invalid dates and times', () => {
  const invalid = [
    '2026-13-01T00:00:00Z', // month 13
    '2026-00-01T00:00:00Z', // month 0
    '2026-04-31T00:00:00Z', // 31 April
    '2026-01-00T00:00:00Z', // day 0
    '2026-01-32T00:00:00Z',
    '2026-01-01T24:00:00Z', // hour 24
    '2026-01-01T23:60:00Z',
    '2026-01-01T23:59:60Z', // leap second
    '2026-01-01T00:00:00+24:00',
    '2026-01-01T00:00:00+01:60',
  ];
  for (const text of invalid) assert.ok(Number.isNaN(parseRfc3339(text)), text);
});

test('returns NaN for text that is not an RFC 3339 date-time', () => {
  const invalid = [
    '',
    '1772442900', // epoch seconds
    '1772442900000', // epoch milliseconds
    '2026-03-02', // date only
    '2026-03-02T09:15:00', // no offset
    '2026-03-02T09:15Z', // no seconds
    '2026-03-02X09:15:00Z', // bad separator
    '2026/03/02T09:15:00Z',
    '2026-03-02T09:15:00.Z', // empty fraction
    '2026-03-02T09:15:00Z ', // trailing space
    ' 2026-03-02T09:15:00Z',
    '2026-03-02T09:15:00+0100', // offset without colon
    '2026-03-02T09:15:00+01', // short offset
    '2026-3-2T09:15:00Z',
    '2026-03-02T09:15:00ZZ',
    'March 2, 2026 09:15:00 UTC',
    '"2026-03-02T09:15:00Z"',
  ];
  for (const text of invalid) assert.ok(Number.isNaN(parseRfc3339(text)), JSON.stringify(text));
});
