/**
 * Fuzz target: the DCGM long-format CSV push parser. Contract under fuzz:
 * any bytes, cut into pushes anywhere, give rows and rejections (or, before
 * the header, GputelError BAD_INPUT), never another error; every line is
 * counted once; the result does not depend on the cuts; the committed offset
 * ends at the end of the input; and every row is a sample the store takes.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DcgmCsvParser } from '../../src/ingest/dcgm-csv-parser.js';
import { DCGM_CSV_COLUMNS, type DcgmRow, type RejectedRow } from '../../src/ingest/dcgm-row.js';
import { fuzzProperty, resultOrTypedError, type FuzzTarget } from './fuzz-target.js';
import { anyText, longRun } from './hostile-text.js';

const HEADER = DCGM_CSV_COLUMNS.join(',');

/** Values a field may hold: good ones of each column, near misses, and junk. */
const fieldText = fc.oneof(
  fc.constantFrom(
    '2026-03-02T09:15:00Z', '2026-03-02T09:15:00.123+02:00', '2026-02-30T09:15:00Z', '2026-03-02 09:15:00', '1772442900000',
    'DCGM_FI_DEV_GPU_TEMP', 'dcgm_gpu_temp', '9bad', 'a b', '0', '7', '0123', '1234567890', '-1', 'GPU-0a1b', 'nvidia0', 'NVIDIA H100',
    'node-1', '', ' ', '412.5', '-0.5', '1e3', '1e400', '0x10', '+.5', '.', 'NaN', 'Infinity', '9'.repeat(30), 'a=""b""', 'k="v"',
  ),
  fc.stringMatching(/^[+-]?\d{0,20}(\.\d{0,20})?([eE][+-]?\d{1,4})?$/),
  anyText(10),
);
/** A field as a file may write it: bare, quoted, or quoted with its quotes doubled. */
const csvField = fc.tuple(fieldText, fc.constantFrom('bare', 'quoted', 'broken')).map(([text, how]) =>
  how === 'bare' ? text : how === 'quoted' ? `"${text.replaceAll('"', '""')}"` : `"${text}`,
);
const csvLine = fc.oneof(
  { weight: 5, arbitrary: fc.array(csvField, { minLength: 12, maxLength: 12 }).map((fields) => fields.join(',')) },
  { weight: 1, arbitrary: fc.array(csvField, { maxLength: 14 }).map((fields) => fields.join(',')) },
  { weight: 1, arbitrary: fc.constantFrom(HEADER, `"${DCGM_CSV_COLUMNS.join('","')}"`, '', ' \t', '\r') },
);
const newline = fc.constantFrom('\n', '\r\n', '\n\n');
/** A whole file: maybe a BOM, maybe the header, lines of fields; or bytes of any kind. */
const fileBytes = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.boolean(), fc.boolean(), fc.array(fc.tuple(csvLine, newline), { maxLength: 12 }), fc.boolean()).map(([bom, header, lines, lastNewline]) => {
    let text = (bom ? '\ufeff' : '') + (header ? `${HEADER}\n` : '') + lines.map(([l, n]) => l + n).join('');
    if (!lastNewline && text.endsWith('\n')) text = text.slice(0, -1);
    return Buffer.from(text, 'utf8');
  }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 400 }).map((bytes) => Buffer.from(bytes)) },
  { weight: 1, arbitrary: anyText(300).map((text) => Buffer.from(`${HEADER}\n${text}`, 'utf8')) },
);

interface Outcome {
  rows: DcgmRow[];
  rejects: RejectedRow[];
  stats: DcgmCsvParser['stats'];
  committedOffset: number;
  nextLineNumber: number;
}

interface ParseSetup {
  headerSeen: boolean;
  maxLineBytes: number | undefined;
}

/** Parses `bytes` pushed in pieces cut at `cuts`; undefined when it threw BAD_INPUT (only allowed before the header). */
function parse(bytes: Buffer, cuts: number[], setup: ParseSetup): Outcome | undefined {
  const rows: DcgmRow[] = [];
  const rejects: RejectedRow[] = [];
  const parser = new DcgmCsvParser({ onRow: (row) => rows.push({ ...row }), onReject: (r) => rejects.push(r), headerSeen: setup.headerSeen, maxLineBytes: setup.maxLineBytes });
  const done = resultOrTypedError(() => {
    let from = 0;
    for (const cut of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)) {
      parser.push(bytes.subarray(from, cut));
      from = cut;
    }
    parser.push(bytes.subarray(from));
    parser.end();
    return true;
  }, setup.headerSeen ? [] : ['BAD_INPUT']);
  if (done === undefined) return undefined;
  return { rows, rejects, stats: { ...parser.stats }, committedOffset: parser.committedOffset, nextLineNumber: parser.nextLineNumber };
}

/** Lines in `bytes` as the parser counts them: each LF ends one, a last line without LF counts too, a BOM at the start is no line. */
function lineCount(file: Buffer): number {
  const bytes = file.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf])) ? file.subarray(3) : file;
  let lines = 0;
  for (const byte of bytes) if (byte === 10) lines++;
  return bytes.length > 0 && bytes[bytes.length - 1] !== 10 ? lines + 1 : lines;
}

function checkOutcome(bytes: Buffer, outcome: Outcome): void {
  const { stats } = outcome;
  assert.equal(stats.rowsRead + stats.rowsRejected + stats.headerLines + stats.blankLines, lineCount(bytes), 'every line is counted once');
  assert.equal(outcome.rows.length, stats.rowsRead);
  assert.equal(outcome.rejects.length, stats.rowsRejected);
  assert.equal(outcome.committedOffset, bytes.length, 'the resume point ends at the end of the input');
  assert.equal(outcome.nextLineNumber, lineCount(bytes) + 1);
  for (const row of outcome.rows) {
    assert.ok(Number.isFinite(row.value), `value ${row.value}`);
    assert.ok(Number.isSafeInteger(row.timestampMs), `timestamp ${row.timestampMs}`);
    assert.ok(Number.isSafeInteger(row.gpuId) && row.gpuId >= 0, `gpu_id ${row.gpuId}`);
    assert.ok(row.uuid.length > 0);
    assert.match(row.metricName, /^[A-Za-z_][A-Za-z0-9_:]*$/);
  }
  for (const rejected of outcome.rejects) {
    assert.ok(rejected.byteOffset >= 0 && rejected.byteOffset < bytes.length, `offset ${rejected.byteOffset} of ${bytes.length}`);
    // eslint-disable-next-line no-control-regex
    assert.ok(!/[\u0000-\u0008\u000a-\u001f\u007f]/.test(rejected.reason), `a reason quotes input raw: ${JSON.stringify(rejected.reason)}`);
  }
}

const setup = fc.record({ headerSeen: fc.boolean(), maxLineBytes: fc.option(fc.integer({ min: 1, max: 300 }), { nil: undefined }) });
const cuts = fc.array(fc.nat(), { maxLength: 8 });
const LONG_PIECES = fc.constantFrom('', '1', '"', '""', ',', ' ', 'a', '\u00e9', '.', '9', 'e', '2026-03-02T09:15:00Z,', ',"');

export const dcgmCsvTarget: FuzzTarget = {
  name: 'dcgm-csv',
  properties: [
    fuzzProperty('any bytes in any pushes: rows and rejections, every line counted, the offset at the end', fileBytes, cuts, setup, (bytes, cutAt, chosen) => {
      const outcome = parse(bytes, cutAt, chosen);
      if (outcome !== undefined) checkOutcome(bytes, outcome);
    }),
    fuzzProperty('the result does not depend on where the input is cut', fileBytes, cuts, setup, (bytes, cutAt, chosen) => {
      const whole = parse(bytes, [], chosen);
      const pieces = parse(bytes, cutAt, chosen);
      assert.deepEqual(pieces, whole);
    }),
    fuzzProperty('long lines are parsed in linear time', longRun(LONG_PIECES, 256 * 1024), fc.boolean(), (text, headerFirst) => {
      const bytes = Buffer.from(headerFirst ? `${HEADER}\n${text}\n` : `${text}\n`, 'utf8');
      const outcome = parse(bytes, [], { headerSeen: !headerFirst, maxLineBytes: undefined });
      if (outcome !== undefined) checkOutcome(bytes, outcome);
    }),
  ],
};
