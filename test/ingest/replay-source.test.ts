import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GputelError } from '../../src/common/gputel-error.js';
import type { DcgmRow, RejectedRow } from '../../src/ingest/dcgm-row.js';
import { ReplaySource, type ReplayOptions } from '../../src/ingest/replay-source.js';
import type { RowSink, Source, SourcePosition } from '../../src/ingest/source.js';

const T0 = Date.UTC(2026, 2, 2, 9, 0, 0);

/** A finite in-memory source: rows in order, a position `{ next }` after every `every` rows, one refusal after row 2. */
class ArraySource implements Source {
  readonly id = 'array';
  readonly location = 'memory';
  readonly resumable = true;
  reads = 0;
  constructor(
    private readonly rows: DcgmRow[],
    private readonly every = 2,
  ) {}

  async *read(from: SourcePosition, sink: RowSink, signal: AbortSignal): AsyncIterable<SourcePosition> {
    this.reads++;
    const start = (from as { next?: number } | null)?.next ?? 0;
    const row = { ...this.rows[0] };
    for (let i = start; i < this.rows.length && !signal.aborted; i++) {
      Object.assign(row, this.rows[i]);
      sink.row(row);
      if (i === 1) sink.reject({ lineNumber: 99, byteOffset: 1234, reason: 'a refused line' });
      if ((i + 1) % this.every === 0 || i === this.rows.length - 1) yield { next: i + 1 };
    }
  }
}

/** 2 GPUs × 3 timestamps, 10 s apart. */
function fileRows(): DcgmRow[] {
  const rows: DcgmRow[] = [];
  for (let k = 0; k < 3; k++) {
    for (let gpu = 0; gpu < 2; gpu++) {
      rows.push({ lineNumber: rows.length + 2, timestampMs: T0 + k * 10_000, metricName: 'DCGM_FI_DEV_GPU_TEMP', sourceMetricName: 'DCGM_FI_DEV_GPU_TEMP', gpuId: gpu, device: `nvidia${gpu}`, uuid: `GPU-${gpu}`, modelName: 'H100', hostname: 'h', container: '', pod: '', namespace: '', value: 40 + k + gpu, labelsRaw: '' });
    }
  }
  return rows;
}

interface Played {
  rows: DcgmRow[];
  rejects: RejectedRow[];
  positions: SourcePosition[];
  deliveredAt: number[];
}

async function play(source: Source, options: { from?: SourcePosition; stopAfterPositions?: number; stopAfterRows?: number } = {}): Promise<Played> {
  const controller = new AbortController();
  const played: Played = { rows: [], rejects: [], positions: [], deliveredAt: [] };
  const sink: RowSink = {
    row: (r) => {
      played.rows.push({ ...r });
      played.deliveredAt.push(Date.now());
    },
    reject: (r) => played.rejects.push(r),
  };
  for await (const position of source.read(options.from ?? null, sink, controller.signal)) {
    played.positions.push(position);
    if (played.positions.length === options.stopAfterPositions || (options.stopAfterRows !== undefined && played.rows.length >= options.stopAfterRows)) controller.abort();
  }
  return played;
}

const replay = (options: ReplayOptions, rows = fileRows(), every = 2): ReplaySource => new ReplaySource(new ArraySource(rows, every), options);

test('asfast keeps the file\'s timestamps and rows, passes refusals on, and wraps the positions', async () => {
  const played = await play(replay({ mode: 'asfast' }));
  assert.deepEqual(played.rows, fileRows());
  assert.deepEqual(played.rejects, [{ lineNumber: 99, byteOffset: 1234, reason: 'a refused line' }]);
  assert.deepEqual(played.positions.map((p) => (p as { inner: unknown }).inner), [{ next: 2 }, { next: 4 }, { next: 6 }]);
});

test('asfast --rebase-time makes the file end now, every row shifted alike', async () => {
  const now = T0 + 86_400_000;
  const source = new ArraySource(fileRows());
  const played = await play(new ReplaySource(source, { mode: 'asfast', rebaseTime: true, now: () => now }));
  assert.equal(source.reads, 2, 'read once to find the last timestamp, then played');
  const shift = now - (T0 + 20_000);
  assert.deepEqual(played.rows, fileRows().map((r) => ({ ...r, timestampMs: r.timestampMs + shift })));
  // A resumed replay keeps its shift and does not measure again.
  const resumedSource = new ArraySource(fileRows());
  const resumed = await play(new ReplaySource(resumedSource, { mode: 'asfast', rebaseTime: true, now: () => now + 5_000 }), { from: played.positions[0] });
  assert.equal(resumedSource.reads, 1);
  assert.deepEqual(resumed.rows, played.rows.slice(2));
});

test('realtime paces rows by their timestamps divided by --speed, one timestamp at a time', async () => {
  // 10 s gaps at speed 200 → 50 ms apart.
  const played = await play(replay({ mode: 'realtime', speed: 200 }));
  assert.deepEqual(played.rows, fileRows());
  const first = played.deliveredAt[0];
  played.rows.forEach((row, i) => {
    const dueMs = first + (row.timestampMs - T0) / 200;
    // A timer may fire up to 1 ms before its time in Node (it rounds): never earlier than that.
    assert.ok(played.deliveredAt[i] >= dueMs - 1, `row ${i} delivered ${dueMs - played.deliveredAt[i]} ms before its time`);
  });
});

test('realtime --rebase-time stamps each row with the time it is played at: the file\'s spacing divided by --speed, never ahead of the clock', async () => {
  const before = Date.now();
  const played = await play(replay({ mode: 'realtime', speed: 200, rebaseTime: true }));
  const first = played.rows[0].timestampMs;
  assert.ok(first >= before && first <= played.deliveredAt[0]);
  // 10 s gaps at speed 200 → stamped 50 ms apart.
  assert.deepEqual(played.rows, fileRows().map((r) => ({ ...r, timestampMs: first + (r.timestampMs - T0) / 200 })));
  played.rows.forEach((row, i) => assert.ok(row.timestampMs <= played.deliveredAt[i] + 1, `row ${i} stamped ${row.timestampMs - played.deliveredAt[i]} ms ahead of its delivery`));
});

test('realtime --rebase-time --loop: each pass follows the last at the same sped-up spacing', async () => {
  const played = await play(replay({ mode: 'realtime', speed: 1_000, rebaseTime: true, loop: true }), { stopAfterRows: 12 });
  const times = [...new Set(played.rows.slice(0, 12).map((r) => r.timestampMs))];
  // 3 timestamps a pass, 10 s apart, and the next pass one interval later: 10 ms apart at speed 1000.
  assert.deepEqual(times.slice(1).map((t, i) => t - times[i]), new Array(5).fill(10));
});

test('--loop plays the file again, each pass one period (span + interval) later, without gap or repeat', async () => {
  const played = await play(replay({ mode: 'asfast', loop: true }), { stopAfterRows: 18 });
  const period = 20_000 + 10_000;
  const expected = [0, 1, 2].flatMap((pass) => fileRows().map((r) => ({ ...r, timestampMs: r.timestampMs + pass * period })));
  assert.deepEqual(played.rows.slice(0, 18), expected);
  const times = [...new Set(played.rows.slice(0, 18).map((r) => r.timestampMs))];
  assert.deepEqual(times.slice(1).map((t, i) => t - times[i]), new Array(8).fill(10_000));
});

test('a looping replay resumed from a position continues exactly where it stopped, in the same pass', async () => {
  const whole = await play(replay({ mode: 'asfast', loop: true }), { stopAfterRows: 18 });
  // Position 5: inside the second pass (pass 1, after its first 2 rows).
  const before = await play(replay({ mode: 'asfast', loop: true }), { stopAfterPositions: 5 });
  const restored = JSON.parse(JSON.stringify(before.positions[4])) as SourcePosition;
  assert.equal((restored as { pass: number }).pass, 1);
  const after = await play(replay({ mode: 'asfast', loop: true }), { from: restored, stopAfterRows: 18 - before.rows.length });
  assert.deepEqual([...before.rows, ...after.rows].slice(0, 18), whole.rows.slice(0, 18));
});

test('an abort during a realtime wait ends the replay at once, without an error and without the held rows', async () => {
  const rows = fileRows();
  rows[4].timestampMs = rows[5].timestampMs = T0 + 3_600_000_000; // an hour at speed 1000
  const controller = new AbortController();
  const got: DcgmRow[] = [];
  const positions: SourcePosition[] = [];
  setTimeout(() => controller.abort(), 100);
  for await (const p of replay({ mode: 'realtime', speed: 1_000 }, rows).read(null, { row: (r) => got.push({ ...r }), reject: () => undefined }, controller.signal)) positions.push(p);
  assert.deepEqual(got.map((r) => r.lineNumber), [2, 3, 4, 5]);
  assert.equal(positions.length, 2, 'the position after the held rows is never reached');
});

test('refused settings name the flag', () => {
  const refused = (options: ReplayOptions, pattern: RegExp): void => {
    assert.throws(() => replay(options), (e: unknown) => e instanceof GputelError && e.code === 'BAD_CONFIG' && pattern.test(e.message));
  };
  refused({ mode: 'realtime', speed: 0 }, /--speed must be a positive number/);
  refused({ mode: 'asfast', speed: 2 }, /--speed applies to --replay realtime/);
  refused({ mode: 'asfast', loop: true, rebaseTime: true }, /--loop with --rebase-time needs --replay realtime/);
  refused({ mode: 'fast' as 'asfast' }, /--replay must be asfast or realtime/);
  assert.equal(replay({ mode: 'asfast' }).id, 'array-replay');
  const stdin: Source = { id: 'stdin', location: 'standard input', resumable: false, read: async function* () {} };
  for (const options of [{ mode: 'realtime', loop: true }, { mode: 'asfast', rebaseTime: true }] as ReplayOptions[]) {
    assert.throws(() => new ReplaySource(stdin, options), (e: unknown) => e instanceof GputelError && /reads standard input more than once/.test(e.message));
  }
  assert.equal(new ReplaySource(stdin, { mode: 'realtime', rebaseTime: true }).resumable, false);
});

test('realtime --rebase-time at a speed where a step is under 1 ms still gives every file time its own stamp', async () => {
  // 10 s steps at speed 40,000: 0.25 ms apart, rounded they would share milliseconds.
  const played = await play(replay({ mode: 'realtime', speed: 40_000, rebaseTime: true, loop: true }), { stopAfterRows: 30 });
  const byTime = new Map<number, Set<number>>();
  for (const row of played.rows.slice(0, 30)) byTime.set(row.timestampMs, (byTime.get(row.timestampMs) ?? new Set()).add(row.gpuId));
  assert.equal(byTime.size, 15, 'one stamp per file time: 3 a pass, 5 passes');
  for (const gpus of byTime.values()) assert.equal(gpus.size, 2, 'both GPUs of one file time share its stamp');
});
