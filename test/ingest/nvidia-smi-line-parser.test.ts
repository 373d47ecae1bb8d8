import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DcgmRow, RejectedRow } from '../../src/ingest/dcgm-row.js';
import { parseLabelsRaw } from '../../src/ingest/labels-raw.js';
import { isAbsentNvidiaSmiValue, NvidiaSmiLineParser, parseNvidiaSmiTimestamp } from '../../src/ingest/nvidia-smi-line-parser.js';

function parseLines(lines: string[], hostname = 'gpu-box-1'): { rows: DcgmRow[]; rejects: RejectedRow[]; results: Array<number | undefined> } {
  const parser = new NvidiaSmiLineParser({ hostname, timeZone: 'utc' });
  const rows: DcgmRow[] = [];
  const rejects: RejectedRow[] = [];
  const results = lines.map((line, i) => parser.parse(line, i + 1, { row: (r) => rows.push({ ...r }), reject: (r) => rejects.push(r) }));
  return { rows, rejects, results };
}

const EXAMPLE = '2026/03/02 09:15:00.123, 0, GPU-0a1b2c3d-1111-2222-3333-444455556666, NVIDIA H200, 550.54.15, 143771, 512, 142640, 37, 4, 33, 118.42, 1980, 3201';
const T = Date.UTC(2026, 2, 2, 9, 15, 0, 123);

test('the line of DATA.md becomes one row per field, named as DCGM names it', () => {
  const { rows, rejects, results } = parseLines([EXAMPLE]);
  assert.deepEqual(rejects, []);
  assert.deepEqual(results, [T]);
  const identity = { lineNumber: 1, timestampMs: T, gpuId: 0, device: 'nvidia0', uuid: 'GPU-0a1b2c3d-1111-2222-3333-444455556666', modelName: 'NVIDIA H200', hostname: 'gpu-box-1', container: '', pod: '', namespace: '' };
  assert.deepEqual(
    rows.map(({ labelsRaw: _labelsRaw, ...rest }) => rest),
    [
      ['DCGM_FI_DEV_FB_TOTAL', 'memory.total', 143771],
      ['DCGM_FI_DEV_FB_USED', 'memory.used', 512],
      ['DCGM_FI_DEV_FB_FREE', 'memory.free', 142640],
      ['DCGM_FI_DEV_GPU_UTIL', 'utilization.gpu', 37],
      ['DCGM_FI_DEV_MEM_COPY_UTIL', 'utilization.memory', 4],
      ['DCGM_FI_DEV_GPU_TEMP', 'temperature.gpu', 33],
      ['DCGM_FI_DEV_POWER_USAGE', 'power.draw', 118.42],
      ['DCGM_FI_DEV_SM_CLOCK', 'clocks.sm', 1980],
      ['DCGM_FI_DEV_MEM_CLOCK', 'clocks.mem', 3201],
    ].map(([metricName, sourceMetricName, value]) => ({ ...identity, metricName, sourceMetricName, value })),
  );
  // labels_raw carries the driver version and identity as a DCGM CSV export would.
  assert.equal(
    rows[6].labelsRaw,
    'DCGM_FI_DRIVER_VERSION=""550.54.15"",Hostname=""gpu-box-1"",UUID=""GPU-0a1b2c3d-1111-2222-3333-444455556666"",__name__=""DCGM_FI_DEV_POWER_USAGE"",device=""nvidia0"",gpu=""0"",modelName=""NVIDIA H200""',
  );
  assert.equal(parseLabelsRaw(rows[0].labelsRaw).get('__name__'), 'DCGM_FI_DEV_FB_TOTAL');
});

test('[N/A], N/A, [Not Supported] and [Unknown Error] are absent values: no row, no refusal', () => {
  const line = '2026/03/02 09:15:00.123, 1, GPU-b, NVIDIA T4, 535.129.03, 15360, 0, 14930, [N/A], N/A, 40, [Not Supported], [Unknown Error], 5000';
  const { rows, rejects } = parseLines([line]);
  assert.deepEqual(rejects, []);
  assert.deepEqual(rows.map((r) => [r.metricName, r.value]), [
    ['DCGM_FI_DEV_FB_TOTAL', 15360],
    ['DCGM_FI_DEV_FB_USED', 0],
    ['DCGM_FI_DEV_FB_FREE', 14930],
    ['DCGM_FI_DEV_GPU_TEMP', 40],
    ['DCGM_FI_DEV_MEM_CLOCK', 5000],
  ]);
  assert.equal(isAbsentNvidiaSmiValue('[GPU requires reset]'), true);
  assert.equal(isAbsentNvidiaSmiValue('0'), false);
});

test('a field that is not a number is refused alone; the other fields of the line still give rows', () => {
  const line = EXAMPLE.replace('118.42', '118,42W').replace(', 1980', ', fast');
  // "118,42W" adds a field, so that line is refused whole; a bad value in place is refused alone.
  const { rows, rejects } = parseLines([line, EXAMPLE.replace('1980', 'fast')]);
  assert.equal(rejects.length, 2);
  assert.match(rejects[0].reason, /expected 14 comma-separated fields of the nvidia-smi query, found 15/);
  assert.deepEqual(rejects[1], { lineNumber: 2, byteOffset: -1, reason: 'GPU 0 clocks.sm "fast" is not a number' });
  assert.equal(rows.length, 8);
  assert.ok(rows.every((r) => r.lineNumber === 2 && r.metricName !== 'DCGM_FI_DEV_SM_CLOCK'));
});

test('nvidia-smi\'s own error messages and bad identities are refused whole, with the reason; blank lines are ignored', () => {
  const { rows, rejects } = parseLines([
    'NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.',
    '',
    EXAMPLE.replace('2026/03/02', '2026/02/30'),
    EXAMPLE.replace(', 0, GPU', ', x, GPU'),
    EXAMPLE.replace('GPU-0a1b2c3d-1111-2222-3333-444455556666', '[N/A]'),
    EXAMPLE.replace('09:15:00.123', '09:15:00.123\u0007'),
  ]);
  assert.equal(rows.length, 0);
  assert.deepEqual(rejects.map((r) => r.lineNumber), [1, 3, 4, 5, 6]);
  assert.match(rejects[0].reason, /found 1: "NVIDIA-SMI has failed/);
  assert.match(rejects[1].reason, /timestamp "2026\/02\/30 09:15:00.123" is not a time/);
  assert.match(rejects[2].reason, /index "x" is not a GPU index/);
  assert.match(rejects[3].reason, /GPU 0 has no uuid/);
  assert.match(rejects[4].reason, /\\x07/);
});

test('timestamps: read as UTC, or as this process\'s local time', () => {
  assert.equal(parseNvidiaSmiTimestamp('2026/03/02 09:15:00.123', 'utc'), T);
  assert.equal(parseNvidiaSmiTimestamp('2026/03/02 09:15:00', 'utc'), Date.UTC(2026, 2, 2, 9, 15, 0));
  assert.equal(parseNvidiaSmiTimestamp('2026/03/02 09:15:00.5', 'utc'), Date.UTC(2026, 2, 2, 9, 15, 0, 500));
  assert.equal(parseNvidiaSmiTimestamp('2026/03/02 09:15:00.123', 'local'), new Date(2026, 2, 2, 9, 15, 0, 123).getTime());
  assert.ok(Number.isNaN(parseNvidiaSmiTimestamp('2026-03-02T09:15:00Z', 'utc')));
  assert.ok(Number.isNaN(parseNvidiaSmiTimestamp('2026/13/02 09:15:00', 'utc')));
});

test('Windows line endings are accepted', () => {
  const { rows, rejects } = parseLines([`${EXAMPLE}\r`]);
  assert.deepEqual(rejects, []);
  assert.equal(rows.length, 9);
  assert.equal(rows[8].value, 3201);
});

test('a field too large for a double is refused, not handed on as Infinity (one would make the collector refuse the whole message)', () => {
  const fields = EXAMPLE.split(', ');
  fields[11] = '9'.repeat(400);
  const { rows, rejects } = parseLines([fields.join(', ')]);
  assert.equal(rows.length, 8);
  assert.ok(rows.every((row) => Number.isFinite(row.value)));
  assert.equal(rejects.length, 1);
  assert.match(rejects[0].reason, /power\.draw "9{10}.*" is not a number/);
});

test('a field of 64 Ki digits and a letter is refused in linear time (a backtracking check took seconds)', () => {
  const fields = EXAMPLE.split(', ');
  fields[6] = `${'1'.repeat(64 * 1024 - 300)}x`;
  const startedMs = performance.now();
  const { rejects } = parseLines([fields.join(', ')]);
  assert.equal(rejects.length, 1);
  assert.ok(performance.now() - startedMs < 500, `took ${performance.now() - startedMs} ms`);
});
