import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { GputelError } from '../../src/common/gputel-error.js';
import { parseDcgmCsvFile } from '../../src/ingest/csv-file-source.js';
import { DcgmCsvParser, type DcgmCsvParserStats } from '../../src/ingest/dcgm-csv-parser.js';
import { RowEnrichment } from '../../src/ingest/row-enrichment.js';
import { generateDcgmCsv } from '../../src/ingest/dcgm-generator.js';
import { DCGM_CSV_COLUMNS, type DcgmRow, type RejectedRow } from '../../src/ingest/dcgm-row.js';
import { parseLabelsRaw } from '../../src/ingest/labels-raw.js';

const HEADER = DCGM_CSV_COLUMNS.join(',');
const T0 = Date.UTC(2026, 2, 2, 9, 15, 0);

type Fields = Record<(typeof DCGM_CSV_COLUMNS)[number], string>;

const BASE_FIELDS: Fields = {
  timestamp: '2026-03-02T09:15:00Z',
  metric_name: 'DCGM_FI_DEV_POWER_USAGE',
  gpu_id: '3',
  device: 'nvidia3',
  uuid: 'GPU-0a1b2c3d-1111-2222-3333-444455556666',
  modelName: 'NVIDIA H100 80GB HBM3',
  Hostname: 'gpu-node-07',
  container: 'trainer',
  pod: 'job-42-worker-0',
  namespace: 'ml-team',
  value: '412.5',
  labels_raw:
    'DCGM_FI_DRIVER_VERSION="535.129.03",Hostname="gpu-node-07",UUID="GPU-0a1b2c3d-1111-2222-3333-444455556666",' +
    '__name__="DCGM_FI_DEV_POWER_USAGE",device="nvidia3",gpu="3",instance="gpu-node-07:9400",job="dcgm_exporter",' +
    'modelName="NVIDIA H100 80GB HBM3"',
};

/** A row as a DCGM export writes it: every field quoted, inner quotes doubled. No newline. */
function csvLine(overrides: Partial<Fields> = {}): string {
  const fields = { ...BASE_FIELDS, ...overrides };
  return DCGM_CSV_COLUMNS.map((column) => `"${fields[column].replaceAll('"', '""')}"`).join(',');
}

interface ParseResult {
  rows: DcgmRow[];
  rejects: RejectedRow[];
  stats: DcgmCsvParserStats;
  committedOffset: number;
  nextLineNumber: number;
}

/** Parses `input` pushed in pieces cut at `cuts` (byte positions), then ends. Rows are copied. */
function parse(
  input: string | Buffer,
  cuts: number[] = [],
  options: { headerSeen?: boolean; startOffset?: number; startLineNumber?: number; maxLineBytes?: number } = {},
): ParseResult {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const rows: DcgmRow[] = [];
  const rejects: RejectedRow[] = [];
  // The streamer's shared enrichment runs on every row, as in production (it was part of the parser).
  const enrichment = new RowEnrichment({ maxClockSkewMs: Infinity });
  const onRow = (row: DcgmRow): void => {
    const reason = enrichment.apply(row);
    if (reason === undefined) rows.push({ ...row });
    else rejects.push({ lineNumber: row.lineNumber, byteOffset: -1, reason });
  };
  const parser = new DcgmCsvParser({ onRow, onReject: (r) => rejects.push(r), ...options });
  let from = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    parser.push(bytes.subarray(from, cut));
    from = cut;
  }
  parser.push(bytes.subarray(from));
  parser.end();
  return { rows, rejects, stats: { ...parser.stats }, committedOffset: parser.committedOffset, nextLineNumber: parser.nextLineNumber };
}

function only<T>(items: T[]): T {
  assert.equal(items.length, 1, `expected exactly one item, got ${items.length}`);
  return items[0];
}

async function generated(options: { hosts: number; gpusPerHost: number; ticks: number; seed?: number }): Promise<string> {
  let text = '';
  await generateDcgmCsv(
    {
      hosts: options.hosts,
      gpusPerHost: options.gpusPerHost,
      durationMs: options.ticks * 10_000,
      intervalMs: 10_000,
      seed: options.seed ?? 7,
      startMs: T0,
    },
    (chunk) => {
      text += chunk;
    },
  );
  return text;
}

// ── header ────────────────────────────────────────────────────────────────

test('a file whose first line is not the header is refused with BAD_INPUT naming what was found and expected', () => {
  assert.throws(
    () => parse(`${csvLine()}\n`),
    (error: unknown) =>
      error instanceof GputelError &&
      error.code === 'BAD_INPUT' &&
      error.message.includes('line 1') &&
      error.message.includes(HEADER) &&
      error.message.includes('"2026-03-02T09:15:00Z"'),
  );
});

test('a header with columns in another order is refused', () => {
  const swapped = ['metric_name', 'timestamp', ...DCGM_CSV_COLUMNS.slice(2)].join(',');
  assert.throws(() => parse(`${swapped}\n${csvLine()}\n`), { code: 'BAD_INPUT' });
});

test('a quoted header is accepted like an unquoted one', () => {
  const quotedHeader = DCGM_CSV_COLUMNS.map((c) => `"${c}"`).join(',');
  const result = parse(`${quotedHeader}\n${csvLine()}\n`);
  assert.equal(result.rows.length, 1);
  assert.equal(result.stats.headerLines, 1);
});

test('headerSeen lets parsing start on a data line', () => {
  const result = parse(`${csvLine()}\n`, [], { headerSeen: true });
  assert.equal(result.rows.length, 1);
  assert.equal(result.stats.headerLines, 0);
});

test('an empty input gives no rows and no error', () => {
  const result = parse('');
  assert.deepEqual(result.stats, { rowsRead: 0, rowsRejected: 0, headerLines: 0, blankLines: 0 });
  assert.equal(result.committedOffset, 0);
});

// ── framing: BOM, line endings, blank lines, repeated headers ─────────────

test('a UTF-8 BOM at the start is skipped and counted in byte offsets', () => {
  const input = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${HEADER}\n${csvLine({ value: 'x' })}\n`)]);
  const result = parse(input);
  assert.equal(result.stats.headerLines, 1);
  assert.equal(only(result.rejects).byteOffset, 3 + HEADER.length + 1);
  assert.equal(result.committedOffset, input.length);
});

test('a BOM split across pushes is still skipped', () => {
  const input = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${HEADER}\n${csvLine()}\n`)]);
  const result = parse(input, [1, 2, 3, 4]);
  assert.equal(result.rows.length, 1);
  assert.equal(result.stats.headerLines, 1);
});

test('CRLF line endings give the same rows as LF', () => {
  const lf = parse(`${HEADER}\n${csvLine()}\n${csvLine({ value: '1' })}\n`);
  const crlf = parse(`${HEADER}\r\n${csvLine()}\r\n${csvLine({ value: '1' })}\r\n`);
  assert.deepEqual(
    crlf.rows.map((r) => ({ ...r })),
    lf.rows.map((r) => ({ ...r })),
  );
  assert.equal(crlf.rows[1].labelsRaw, lf.rows[1].labelsRaw);
  assert.equal(crlf.committedOffset, lf.committedOffset + 3);
});

test('blank lines, including CRLF and whitespace-only ones, are skipped and counted', () => {
  const result = parse(`\n${HEADER}\n\n${csvLine()}\r\n\r\n   \n${csvLine()}\n\n`);
  assert.equal(result.rows.length, 2);
  assert.equal(result.stats.blankLines, 5);
  assert.equal(result.rejects.length, 0);
  assert.deepEqual(
    result.rows.map((r) => r.lineNumber),
    [4, 7],
  );
});

test('a repeated header later in the file is skipped, counted, and not a rejection', () => {
  const quotedHeader = DCGM_CSV_COLUMNS.map((c) => `"${c}"`).join(',');
  const result = parse(`${HEADER}\n${csvLine()}\n${HEADER}\n${csvLine()}\n${quotedHeader}\n\uFEFF${HEADER}\n`);
  assert.equal(result.rows.length, 2);
  assert.equal(result.stats.headerLines, 4);
  assert.equal(result.rejects.length, 0);
});

// ── fields ────────────────────────────────────────────────────────────────

test('a good row is decoded into every DcgmRow field', () => {
  const row = only(parse(`${HEADER}\n${csvLine()}\n`).rows);
  assert.deepEqual(row, {
    lineNumber: 2,
    timestampMs: T0,
    metricName: 'DCGM_FI_DEV_POWER_USAGE',
    sourceMetricName: 'DCGM_FI_DEV_POWER_USAGE',
    gpuId: 3,
    device: 'nvidia3',
    uuid: 'GPU-0a1b2c3d-1111-2222-3333-444455556666',
    modelName: 'NVIDIA H100 80GB HBM3',
    hostname: 'gpu-node-07',
    container: 'trainer',
    pod: 'job-42-worker-0',
    namespace: 'ml-team',
    value: 412.5,
    labelsRaw: BASE_FIELDS.labels_raw.replaceAll('"', '""'),
  });
});

test('labelsRaw keeps the doubled quotes of the file, and parseLabelsRaw decodes it', () => {
  const row = only(parse(`${HEADER}\n${csvLine()}\n`).rows);
  assert.ok(row.labelsRaw.startsWith('DCGM_FI_DRIVER_VERSION=""535.129.03"",Hostname=""gpu-node-07""'));
  const labels = parseLabelsRaw(row.labelsRaw);
  assert.equal(labels.get('DCGM_FI_DRIVER_VERSION'), '535.129.03');
  assert.equal(labels.get('instance'), 'gpu-node-07:9400');
});

test('doubled quotes in other quoted fields are undoubled', () => {
  const row = only(parse(`${HEADER}\n${csvLine({ modelName: 'NVIDIA "H100"', pod: 'a"b' })}\n`).rows);
  assert.equal(row.modelName, 'NVIDIA "H100"');
  assert.equal(row.pod, 'a"b');
});

test('unquoted fields are accepted', () => {
  const line = [
    '2026-03-02T09:15:00Z',
    'DCGM_FI_DEV_GPU_TEMP',
    '0',
    'nvidia0',
    'GPU-1',
    'NVIDIA H100 80GB HBM3',
    'gpu-node-01',
    '',
    '',
    '',
    '41',
    '',
  ].join(',');
  const row = only(parse(`${HEADER}\n${line}\n`).rows);
  assert.equal(row.metricName, 'DCGM_FI_DEV_GPU_TEMP');
  assert.equal(row.gpuId, 0);
  assert.equal(row.hostname, 'gpu-node-01');
  assert.equal(row.container, '');
  assert.equal(row.value, 41);
  assert.equal(row.labelsRaw, '');
});

test('a mix of quoted and unquoted fields on one line is accepted', () => {
  const line = csvLine().replace('"3","nvidia3"', '3,nvidia3').replace('"412.5"', '412.5');
  const row = only(parse(`${HEADER}\n${line}\n`).rows);
  assert.equal(row.gpuId, 3);
  assert.equal(row.device, 'nvidia3');
  assert.equal(row.value, 412.5);
});

test('timestamps with offsets, fractions and a space separator are read', () => {
  const result = parse(
    `${HEADER}\n${csvLine({ timestamp: '2026-03-02T10:15:00.250+01:00' })}\n${csvLine({ timestamp: '2026-03-02 09:15:00Z' })}\n`,
  );
  assert.deepEqual(
    result.rows.map((r) => r.timestampMs),
    [T0 + 250, T0],
  );
});

test('values in exponent notation, negative and with many digits are read exactly as Number() does', () => {
  const values = ['1.5e3', '-0.25', '+7', '.5', '12345678901234567890', '0.1000000000000000055511151231257827', '3.', '-0'];
  const text = `${HEADER}\n${values.map((value) => csvLine({ value })).join('\n')}\n`;
  const result = parse(text);
  assert.equal(result.rejects.length, 0);
  assert.deepEqual(
    result.rows.map((r) => r.value),
    values.map(Number),
  );
});

test('the fast number path gives exactly Number() for decimal values', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
        fc.tuple(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.integer({ min: 0, max: 12 })).map(([v, d]) => v.toFixed(d)),
        fc.stringMatching(/^-?\d{1,18}(\.\d{0,18})?$/),
      ),
      (value) => {
        const row = only(parse(`${HEADER}\n${csvLine({ value })}\n`).rows);
        assert.ok(Object.is(row.value, Number(value)), `${value}: ${row.value} vs ${Number(value)}`);
      },
    ),
    { numRuns: 500 },
  );
});

// ── rejections ────────────────────────────────────────────────────────────

/** One bad line after the header and a good line: the rejection must name line 3 and its byte offset. */
function rejectionOf(badLine: string): RejectedRow {
  const good = csvLine();
  const result = parse(`${HEADER}\n${good}\n${badLine}\n${good}\n`);
  assert.equal(result.rows.length, 2, 'the good rows around a bad one are kept');
  const rejected = only(result.rejects);
  assert.equal(rejected.lineNumber, 3);
  assert.equal(rejected.byteOffset, HEADER.length + 1 + good.length + 1);
  assert.equal(result.stats.rowsRejected, 1);
  return rejected;
}

test('a row with too few fields is rejected with the count', () => {
  const fewer = DCGM_CSV_COLUMNS.slice(0, 11).map((c) => `"${BASE_FIELDS[c]}"`).join(',');
  assert.match(rejectionOf(fewer).reason, /expected 12 fields, found 11/);
});

test('a row with too many fields is rejected with the count', () => {
  assert.match(rejectionOf(`${csvLine()},"extra"`).reason, /expected 12 fields, found 13/);
});

test('an unterminated quote is rejected naming the column', () => {
  const cut = csvLine().slice(0, csvLine().indexOf('NVIDIA H100') + 4);
  assert.match(rejectionOf(cut).reason, /unterminated quoted field in column modelName/);
});

test('a character after a closing quote is rejected naming the column', () => {
  assert.match(rejectionOf(csvLine().replace('"nvidia3"', '"nvidia3"x')).reason, /after the closing quote of column device/);
});

test('a timestamp that is not RFC 3339 is rejected with the value', () => {
  for (const timestamp of ['1772442900', '2026-03-02T09:15:00', '2026-02-30T09:15:00Z', '']) {
    const reason = rejectionOf(csvLine({ timestamp })).reason;
    assert.match(reason, /^timestamp ".*" is not an RFC 3339 date-time$/, reason);
    assert.ok(reason.includes(`"${timestamp}"`), reason);
  }
});

test('an empty metric_name is rejected', () => {
  assert.equal(rejectionOf(csvLine({ metric_name: '' })).reason, 'metric_name is empty');
});

test('a metric_name that is not a Prometheus metric name is rejected with the value', () => {
  for (const name of ['1DCGM', 'DCGM FI', 'DCGM-FI', 'dcgm.temp']) {
    assert.equal(rejectionOf(csvLine({ metric_name: name })).reason, `metric_name "${name}" is not a valid metric name`);
  }
});

test('a gpu_id that is not a non-negative integer is rejected with the value', () => {
  for (const gpuId of ['-1', '1.5', 'x', '', '12345678901']) {
    assert.equal(rejectionOf(csvLine({ gpu_id: gpuId })).reason, `gpu_id "${gpuId}" is not a non-negative integer`);
  }
});

test('a row differing from the previous one only in the quoting of gpu_id is still checked on its own', () => {
  const line = csvLine().replace('"3","nvidia3"', '3","nvidia3"');
  assert.equal(rejectionOf(line).reason, 'gpu_id "3"" is not a non-negative integer');
});

test('an empty uuid is rejected', () => {
  assert.equal(rejectionOf(csvLine({ uuid: '' })).reason, 'uuid is empty');
});

test('an empty Hostname without an instance label is rejected', () => {
  const labels = BASE_FIELDS.labels_raw.replace('instance="gpu-node-07:9400",', '');
  // Refused by the shared enrichment after parsing, hence no byte offset (-1).
  const result = parse(`${HEADER}\n${csvLine({ Hostname: '', labels_raw: labels })}\n`);
  assert.equal(result.rows.length, 0);
  const rejected = only(result.rejects);
  assert.equal(rejected.lineNumber, 2);
  assert.match(rejected.reason, /^Hostname is empty/);
});

test('a value that is not a finite number is rejected with the value', () => {
  for (const value of ['abc', 'NaN', 'Infinity', '-Infinity', '1e999', '0x10', ' 1', '1 ', '1,5', '--1']) {
    assert.equal(rejectionOf(csvLine({ value })).reason, `value "${value}" is not a finite number`, value);
  }
});

test('an empty value is rejected', () => {
  assert.equal(rejectionOf(csvLine({ value: '' })).reason, 'value is empty');
});

test('a rejection reason shows at most ~80 characters of the bad value', () => {
  const reason = rejectionOf(csvLine({ value: 'x'.repeat(500) })).reason;
  assert.ok(reason.length < 120, reason);
  assert.ok(reason.includes('...'));
});

test('a truncated last row is rejected with its line number', () => {
  const good = csvLine();
  const text = `${HEADER}\n${good}\n${good}\n${good.slice(0, good.length - 40)}`;
  const result = parse(text);
  assert.equal(result.rows.length, 2);
  const rejected = only(result.rejects);
  assert.equal(rejected.lineNumber, 4);
  assert.equal(rejected.byteOffset, HEADER.length + 1 + 2 * (good.length + 1));
  assert.match(rejected.reason, /unterminated quoted field in column labels_raw/);
  assert.equal(result.committedOffset, Buffer.byteLength(text));
});

test('a row cut right after a doubled quote in labels_raw is rejected, not misread', () => {
  const good = csvLine();
  const cutAt = good.indexOf('535.129.03') - 2; // just after `=""`
  const result = parse(`${HEADER}\n${good.slice(0, cutAt)}\n${good}\n`);
  assert.equal(only(result.rejects).lineNumber, 2);
  assert.equal(result.rows.length, 1);
});

test('a line longer than maxLineBytes is rejected without being read', () => {
  const good = csvLine();
  const long = csvLine({ pod: 'p'.repeat(2000) });
  const result = parse(`${HEADER}\n${good}\n${long}\n${good}\n`, [], { maxLineBytes: 1000 });
  assert.equal(result.rows.length, 2);
  const rejected = only(result.rejects);
  assert.equal(rejected.lineNumber, 3);
  assert.equal(rejected.reason, 'line is longer than 1000 bytes');
});

test('a line that is not valid UTF-8 is rejected', () => {
  const bad = Buffer.from(csvLine({ Hostname: 'gpu-node-XX' }));
  const at = bad.indexOf('XX');
  bad[at] = 0xe9; // Latin-1 é, invalid alone in UTF-8
  const input = Buffer.concat([Buffer.from(`${HEADER}\n${csvLine()}\n`), bad, Buffer.from(`\n${csvLine()}\n`)]);
  const result = parse(input);
  assert.equal(result.rows.length, 2);
  assert.equal(only(result.rejects).reason, 'line is not valid UTF-8');
});

// ── non-ASCII text and chunking ───────────────────────────────────────────

test('non-ASCII hostname and pod are kept correctly when the input is split at every byte position', () => {
  const input = Buffer.from(
    `${HEADER}\n${csvLine({ Hostname: 'gpu-nœud-07', pod: 'job-ü-€-😀-0' })}\n${csvLine()}\n` +
      `${csvLine({ Hostname: 'ノード-1', value: 'bad€' })}\n${csvLine({ namespace: 'équipe' })}`,
    'utf8',
  );
  const whole = parse(input);
  assert.equal(whole.rows[0].hostname, 'gpu-nœud-07');
  assert.equal(whole.rows[0].pod, 'job-ü-€-😀-0');
  assert.equal(whole.rows[1].hostname, 'gpu-node-07');
  assert.equal(whole.rows[2].namespace, 'équipe');
  assert.equal(whole.rejects[0].reason, 'value "bad€" is not a finite number');
  for (let cut = 0; cut <= input.length; cut++) {
    const split = parse(input, [cut]);
    assert.deepEqual(split, whole, `split at byte ${cut}`);
  }
});

test('byte offsets of rejections count UTF-8 bytes, not characters', () => {
  const first = csvLine({ Hostname: 'nœud-€' });
  const input = `${HEADER}\n${first}\n${csvLine({ value: '' })}\n`;
  const rejected = only(parse(input).rejects);
  assert.equal(rejected.byteOffset, Buffer.byteLength(`${HEADER}\n${first}\n`));
});

/** A generated file plus every oddity the parser must treat the same wherever the input is cut. */
async function awkwardInput(): Promise<Buffer> {
  const body = await generated({ hosts: 2, gpusPerHost: 2, ticks: 2 });
  const lines = body.split('\n');
  const extra = [
    '',
    `${csvLine({ Hostname: 'nœud-€-😀', pod: 'ü' })}\r`,
    '   ',
    HEADER,
    csvLine({ value: 'oops' }),
    csvLine({ metric_name: 'dcgm_gpu_temp' }),
    csvLine({ metric_name: 'dcgm_fi_dev_gpu_temp' }),
    csvLine({ pod: 'p'.repeat(700) }),
    csvLine({ Hostname: '', container: '', pod: '', namespace: '', labels_raw: 'instance="h:1",pod_name="p",pod_namespace="n"' }),
  ];
  lines.splice(20, 0, ...extra);
  const truncated = csvLine().slice(0, 300);
  const text = Buffer.from(`${lines.join('\n')}${truncated}`, 'utf8');
  // Two lines that are not valid UTF-8 (a lone Latin-1 byte), one of them also over-long.
  const latin1 = Buffer.from(`${csvLine({ Hostname: 'n\u00e9ud' })}\n${csvLine({ pod: `\u00e9${'p'.repeat(700)}` })}\n`, 'latin1');
  const at = text.indexOf('\n', text.length >> 1) + 1;
  return Buffer.concat([text.subarray(0, at), latin1, text.subarray(at)]);
}

test('chunk boundaries anywhere give identical rows, rejections, stats and offsets', async () => {
  const input = await awkwardInput();
  const whole = parse(input, [], { maxLineBytes: 600 });
  assert.ok(whole.rows.length > 100);
  assert.ok(whole.rejects.length >= 3);
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 0, max: input.length }), { maxLength: 40 }), (cuts) => {
      assert.deepEqual(parse(input, cuts, { maxLineBytes: 600 }), whole);
    }),
    { numRuns: 150 },
  );
});

test('one-byte pushes give the same result as one push', async () => {
  const input = (await awkwardInput()).subarray(0, 20_000);
  const cuts = Array.from({ length: input.length }, (_, i) => i);
  assert.deepEqual(parse(input, cuts, { maxLineBytes: 600 }), parse(input, [], { maxLineBytes: 600 }));
});

// ── resuming ──────────────────────────────────────────────────────────────

test('committedOffset and nextLineNumber let a new parser resume exactly where the first stopped', async () => {
  const input = Buffer.concat([await awkwardInput(), Buffer.from('\n')]);
  // Rows as the parser hands them out (without the streamer's enrichment).
  const all = { rows: [] as DcgmRow[], rejects: [] as RejectedRow[] };
  const whole = new DcgmCsvParser({ onRow: (row) => all.rows.push({ ...row }), onReject: (r) => all.rejects.push(r) });
  whole.push(input);
  whole.end();
  fc.assert(
    fc.property(fc.integer({ min: 0, max: input.length }), (stopAt) => {
      const rows: DcgmRow[] = [];
      const rejects: RejectedRow[] = [];
      const first = new DcgmCsvParser({ onRow: (row) => rows.push({ ...row }), onReject: (r) => rejects.push(r) });
      first.push(input.subarray(0, stopAt)); // no end(): the process "stops" here
      const second = new DcgmCsvParser({
        onRow: (row) => rows.push({ ...row }),
        onReject: (r) => rejects.push(r),
        startOffset: first.committedOffset,
        startLineNumber: first.nextLineNumber,
        headerSeen: first.stats.headerLines > 0,
      });
      second.push(input.subarray(first.committedOffset));
      second.end();
      assert.deepEqual(rows, all.rows);
      assert.deepEqual(rejects, all.rejects);
      assert.equal(second.committedOffset, input.length);
    }),
    { numRuns: 200 },
  );
});

test('parseDcgmCsvFile resumes from a committed offset in a file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gputel-parser-'));
  try {
    const path = join(dir, 'dcgm.csv');
    const text = await generated({ hosts: 2, gpusPerHost: 4, ticks: 5 });
    await writeFile(path, text);
    const all: DcgmRow[] = [];
    const whole = await parseDcgmCsvFile(path, { onRow: (r) => all.push({ ...r }), onReject: () => assert.fail() }, { highWaterMark: 4096 });
    assert.equal(whole.stats.rowsRead, 2 * 4 * 5 * 16);
    assert.equal(whole.committedOffset, Buffer.byteLength(text));

    // Stop after row 100 as a streamer would (its checkpoint: the offset past that row).
    let checkpoint = { offset: 0, line: 0 };
    const parser = new DcgmCsvParser({
      onRow: () => {
        if (parser.stats.rowsRead === 100) checkpoint = { offset: parser.committedOffset, line: parser.nextLineNumber };
      },
      onReject: () => assert.fail(),
    });
    parser.push(Buffer.from(text));
    const rest: DcgmRow[] = [];
    const resumed = await parseDcgmCsvFile(
      path,
      { onRow: (r) => rest.push({ ...r }), onReject: () => assert.fail() },
      { startOffset: checkpoint.offset, startLineNumber: checkpoint.line, highWaterMark: 65536 },
    );
    assert.deepEqual(rest, all.slice(100));
    assert.equal(resumed.committedOffset, whole.committedOffset);
    assert.equal(resumed.nextLineNumber, whole.nextLineNumber);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('during onRow, committedOffset and nextLineNumber already point past the row', () => {
  const input = `${HEADER}\n${csvLine()}\n${csvLine()}\n`;
  const seen: Array<[number, number, number]> = [];
  const parser = new DcgmCsvParser({
    onRow: (row) => seen.push([row.lineNumber, parser.committedOffset, parser.nextLineNumber]),
    onReject: () => assert.fail(),
  });
  parser.push(Buffer.from(input));
  const lineBytes = csvLine().length + 1;
  assert.deepEqual(seen, [
    [2, HEADER.length + 1 + lineBytes, 3],
    [3, HEADER.length + 1 + 2 * lineBytes, 4],
  ]);
});

test('an incomplete last line is not committed until its newline or end()', () => {
  const parser = new DcgmCsvParser({ onRow: () => undefined, onReject: () => undefined });
  parser.push(Buffer.from(`${HEADER}\n${csvLine()}`));
  assert.equal(parser.committedOffset, HEADER.length + 1);
  assert.equal(parser.nextLineNumber, 2);
  assert.equal(parser.stats.rowsRead, 0);
  parser.end();
  assert.equal(parser.stats.rowsRead, 1);
  assert.equal(parser.committedOffset, HEADER.length + 1 + csvLine().length);
});

test('the same row object is reused for every onRow call', () => {
  const seen = new Set<DcgmRow>();
  const parser = new DcgmCsvParser({ onRow: (row) => seen.add(row), onReject: () => undefined });
  parser.push(Buffer.from(`${HEADER}\n${csvLine()}\n${csvLine({ value: '1' })}\n`));
  assert.equal(seen.size, 1);
});

test('push after end() throws', () => {
  const parser = new DcgmCsvParser({ onRow: () => undefined, onReject: () => undefined });
  parser.end();
  assert.throws(() => parser.push(Buffer.from(HEADER)), { code: 'INTERNAL' });
});

test('parseDcgmCsvFile refuses a missing file with BAD_INPUT', async () => {
  await assert.rejects(
    parseDcgmCsvFile('/nonexistent/dcgm.csv', { onRow: () => undefined, onReject: () => undefined }),
    (error: unknown) => error instanceof GputelError && error.code === 'BAD_INPUT' && error.message.includes('/nonexistent/dcgm.csv'),
  );
});

// ── compatibility: old names, Hostname and Kubernetes fallbacks ───────────

test('old lower-case exporter metric names map to the DCGM field and keep the original', () => {
  const pairs = [
    ['dcgm_gpu_temp', 'DCGM_FI_DEV_GPU_TEMP'],
    ['dcgm_sm_clock', 'DCGM_FI_DEV_SM_CLOCK'],
    ['dcgm_power_usage', 'DCGM_FI_DEV_POWER_USAGE'],
    ['dcgm_gpu_utilization', 'DCGM_FI_DEV_GPU_UTIL'],
    ['dcgm_fb_used', 'DCGM_FI_DEV_FB_USED'],
    ['dcgm_mem_copy_utilization', 'DCGM_FI_DEV_MEM_COPY_UTIL'],
    ['dcgm_xid_errors', 'DCGM_FI_DEV_XID_ERRORS'],
    ['dcgm_fi_dev_gpu_temp', 'DCGM_FI_DEV_GPU_TEMP'],
    ['DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL', 'DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL'],
  ];
  const text = `${HEADER}\n${pairs.map(([name]) => csvLine({ metric_name: name })).join('\n')}\n`;
  const rows = parse(text).rows;
  assert.deepEqual(
    rows.map((r) => [r.sourceMetricName, r.metricName]),
    pairs,
  );
});

test('an empty Hostname falls back to the host part of the instance label', () => {
  const row = only(parse(`${HEADER}\n${csvLine({ Hostname: '' })}\n`).rows);
  assert.equal(row.hostname, 'gpu-node-07');
});

test('a non-empty Hostname is kept even when instance names another host', () => {
  const row = only(parse(`${HEADER}\n${csvLine({ Hostname: 'dcgm-exporter-abcde' })}\n`).rows);
  assert.equal(row.hostname, 'dcgm-exporter-abcde');
});

test('empty Kubernetes columns fall back to container_name, pod_name and pod_namespace labels', () => {
  const labels = `${BASE_FIELDS.labels_raw},container_name="trainer",pod_name="job-9-worker-1",pod_namespace="research"`;
  const row = only(parse(`${HEADER}\n${csvLine({ container: '', pod: '', namespace: '', labels_raw: labels })}\n`).rows);
  assert.equal(row.container, 'trainer');
  assert.equal(row.pod, 'job-9-worker-1');
  assert.equal(row.namespace, 'research');
});

test('non-empty Kubernetes columns win over the legacy labels', () => {
  const labels = `${BASE_FIELDS.labels_raw},container_name="other",pod_name="other",pod_namespace="other"`;
  const row = only(parse(`${HEADER}\n${csvLine({ labels_raw: labels })}\n`).rows);
  assert.deepEqual([row.container, row.pod, row.namespace], ['trainer', 'job-42-worker-0', 'ml-team']);
});

test('empty Kubernetes columns stay empty when no legacy label exists', () => {
  const row = only(parse(`${HEADER}\n${csvLine({ container: '', pod: '', namespace: '' })}\n`).rows);
  assert.deepEqual([row.container, row.pod, row.namespace], ['', '', '']);
});

test('a generated file parses with zero rejections and every row counted', async () => {
  const text = await generated({ hosts: 3, gpusPerHost: 2, ticks: 4 });
  const result = parse(text);
  assert.equal(result.rejects.length, 0);
  assert.equal(result.rows.length, 3 * 2 * 4 * 16);
  assert.deepEqual(result.stats, { rowsRead: 3 * 2 * 4 * 16, rowsRejected: 0, headerLines: 1, blankLines: 0 });
});

test('a BOM is no part of the first line however the input is cut: an over-long first line is refused at byte 3 either way', () => {
  const input = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${csvLine()}\n${csvLine()}\n`)]);
  const maxLineBytes = Buffer.byteLength(csvLine()) + 1;
  const whole = parse(input, [], { headerSeen: true, maxLineBytes: maxLineBytes - 1 });
  for (const cuts of [[1], [2], [3], [10], [1, 2]]) assert.deepEqual(parse(input, cuts, { headerSeen: true, maxLineBytes: maxLineBytes - 1 }), whole);
  assert.deepEqual(whole.rejects.map((r) => r.byteOffset), [3, 3 + maxLineBytes]);
  // A line exactly at the bound after the BOM is read in either case.
  for (const cuts of [[], [2], [40]]) assert.equal(parse(input, cuts, { headerSeen: true, maxLineBytes }).rows.length, 2);
});

test('a file of only a BOM, or of its first bytes, has no line and ends at its end', () => {
  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  const only = parse(bom, [1]);
  assert.equal(only.committedOffset, 3);
  assert.equal(only.nextLineNumber, 1);
  assert.throws(() => parse(bom.subarray(0, 2), [], {}), { code: 'BAD_INPUT' });
  assert.equal(parse(bom.subarray(0, 2), [1], { headerSeen: true }).stats.rowsRejected, 1);
});
