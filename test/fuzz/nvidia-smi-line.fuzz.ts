/**
 * Fuzz target: the nvidia-smi query line parser. Contract under fuzz: parse
 * never throws, every row it hands out is a finite sample of a known field
 * at the line's timestamp, and a long line is no slower than a short one
 * per character (the source cuts lines at 64 Ki characters).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { DcgmRow } from '../../src/ingest/dcgm-row.js';
import { NVIDIA_SMI_METRICS, NvidiaSmiLineParser, type NvidiaSmiTimeZone } from '../../src/ingest/nvidia-smi-line-parser.js';
import { fuzzProperty, type FuzzTarget } from './fuzz-target.js';
import { anyText, longRun } from './hostile-text.js';

/** nvidia-smi-source.ts cuts a line at this many characters before the parser sees it. */
const LINE_BOUND = 64 * 1024;
const METRIC_NAMES = new Set(NVIDIA_SMI_METRICS.map(([, metric]) => metric));

const field = fc.oneof(
  fc.constantFrom('2026/03/02 09:15:00.123', '2026/02/30 09:15:00', '2026/03/02 24:00:00', '0', '3', '12345', 'GPU-0a1b', 'NVIDIA H100 80GB HBM3', '535.129.03', '[N/A]', 'N/A', '[Not Supported]', '', ' ', '81559', '412.50', '-1', '+.5', '1.', '.', '1e3', 'Infinity', 'NaN', '0x10'),
  fc.stringMatching(/^[+-]?\d{1,400}(\.\d{0,20})?$/),
  anyText(12),
);
/** A line of 14 fields (the query's count) most of the time, so that lines get past the field count. */
const line = fc.oneof(
  { weight: 4, arbitrary: fc.array(field, { minLength: 14, maxLength: 14 }).map((fields) => fields.join(',')) },
  { weight: 1, arbitrary: fc.array(field, { maxLength: 20 }).map((fields) => fields.join(', ')) },
  { weight: 1, arbitrary: anyText(200) },
);
const LONG_PIECES = fc.constantFrom('', '1', '1.', '.', ',', ' ', '[', ']', 'N/A', '9', 'x', '2026/03/02 09:15:00,0,GPU-1,n,d,');
/** A query line with one field replaced by a long run: each field's own check must stay linear too. */
const lineWithLongField = fc
  .tuple(fc.array(field, { minLength: 14, maxLength: 14 }), fc.nat(13), longRun(LONG_PIECES.filter((piece) => !piece.includes(',')), LINE_BOUND - 200))
  .map(([fields, at, long]) => fields.map((f, i) => (i === at ? long : f.replaceAll(',', ''))).join(',').slice(0, LINE_BOUND));

function parseChecked(text: string, timeZone: NvidiaSmiTimeZone): void {
  const parser = new NvidiaSmiLineParser({ hostname: 'host', timeZone });
  const rows: DcgmRow[] = [];
  const timestampMs = parser.parse(text, 7, {
    row: (row) => rows.push({ ...row }),
    reject: (rejected) => {
      assert.equal(rejected.lineNumber, 7);
      assert.ok(rejected.reason.length > 0);
    },
  });
  if (timestampMs === undefined) assert.equal(rows.length, 0, 'a refused line gives no rows');
  else assert.ok(Number.isSafeInteger(timestampMs));
  for (const row of rows) {
    assert.ok(Number.isFinite(row.value), `row of ${row.sourceMetricName} has value ${row.value}: only finite values may leave the parser`);
    assert.equal(row.timestampMs, timestampMs);
    assert.ok(METRIC_NAMES.has(row.metricName), row.metricName);
    assert.ok(Number.isSafeInteger(row.gpuId) && row.gpuId >= 0);
    assert.ok(row.uuid.length > 0);
  }
}

const timeZone = fc.constantFrom<NvidiaSmiTimeZone>('utc', 'local');

export const nvidiaSmiLineTarget: FuzzTarget = {
  name: 'nvidia-smi-line',
  properties: [
    fuzzProperty('any line: no throw, and only finite rows of known fields at the line\'s time', line, timeZone, parseChecked),
    fuzzProperty('long lines up to the source\'s cut parse in linear time', longRun(LONG_PIECES, LINE_BOUND), timeZone, parseChecked),
    fuzzProperty('a long field in a query line is checked in linear time', lineWithLongField, timeZone, parseChecked),
  ],
};
