import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GputelError } from '../../src/common/gputel-error.js';
import { DcgmCsvParser } from '../../src/ingest/dcgm-csv-parser.js';
import { generateDcgmCsv, GENERATED_METRICS } from '../../src/ingest/dcgm-generator.js';
import type { DcgmRow } from '../../src/ingest/dcgm-row.js';
import { SimulatorSource, type SimulatorSourceOptions } from '../../src/ingest/simulator-source.js';
import type { SourcePosition } from '../../src/ingest/source.js';

const NOW = Date.UTC(2026, 2, 2, 9, 15, 0);
const HOUR_MS = 3_600_000;
const SMALL: SimulatorSourceOptions = { hosts: 2, gpusPerHost: 2, intervalMs: 10_000, seed: 5, backfillMs: 60_000, now: () => NOW };
const ROWS_PER_TICK = 2 * 2 * GENERATED_METRICS.length;

/** Reads `ticks` positions (or until the source waits for the clock, when `ticks` is undefined), then aborts. */
async function take(source: SimulatorSource, from: SourcePosition, ticks: number): Promise<{ rows: DcgmRow[]; positions: SourcePosition[] }> {
  const controller = new AbortController();
  const rows: DcgmRow[] = [];
  const positions: SourcePosition[] = [];
  for await (const position of source.read(from, { row: (r) => rows.push({ ...r }), reject: () => assert.fail('no rejects') }, controller.signal)) {
    positions.push(position);
    if (positions.length === ticks) controller.abort();
  }
  return { rows, positions };
}

async function generatedRows(startMs: number, ticks: number): Promise<DcgmRow[]> {
  let text = '';
  await generateDcgmCsv({ hosts: 2, gpusPerHost: 2, intervalMs: 10_000, seed: 5, startMs, durationMs: ticks * 10_000 }, (chunk) => {
    text += chunk;
  });
  const rows: DcgmRow[] = [];
  const parser = new DcgmCsvParser({ onRow: (r) => rows.push({ ...r }), onReject: (r) => assert.fail(r.reason) });
  parser.push(Buffer.from(text));
  parser.end();
  return rows;
}

test('a fresh simulator back-fills the last hour, tick by tick, with exactly the rows gputel generate writes', async () => {
  const { rows, positions } = await take(new SimulatorSource(SMALL), null, 7);
  const expected = await generatedRows(NOW - 60_000, 7);
  assert.equal(rows.length, 7 * ROWS_PER_TICK);
  // The CSV's line numbers count its header; everything else is the same row.
  assert.deepEqual(rows, expected.map((r) => ({ ...r, lineNumber: r.lineNumber - 1 })));
  assert.deepEqual(positions.map((p) => (p as { nextMs: number }).nextMs), [1, 2, 3, 4, 5, 6, 7].map((k) => NOW - 60_000 + k * 10_000));
  assert.ok(rows.some((r) => r.pod !== '') && rows.some((r) => r.pod === ''), 'pods come and go as in generated files');
});

test('the same seed gives the same rows; another seed other rows', async () => {
  const first = await take(new SimulatorSource(SMALL), null, 3);
  const second = await take(new SimulatorSource(SMALL), null, 3);
  const other = await take(new SimulatorSource({ ...SMALL, seed: 6 }), null, 3);
  assert.deepEqual(second.rows, first.rows);
  assert.notDeepEqual(other.rows.map((r) => r.value), first.rows.map((r) => r.value));
});

test('a restart from a position continues without gap or repeat, with the values of an uninterrupted run', async () => {
  const whole = await take(new SimulatorSource(SMALL), null, 7);
  const before = await take(new SimulatorSource(SMALL), null, 3);
  const after = await take(new SimulatorSource(SMALL), before.positions[2], 4);
  const stitched = [...before.rows, ...after.rows.map((r) => ({ ...r, lineNumber: r.lineNumber + before.rows.length }))];
  assert.deepEqual(stitched, whole.rows);
  // JSON round trip: positions live in checkpoints.
  const restored = JSON.parse(JSON.stringify(before.positions[2])) as SourcePosition;
  assert.deepEqual((await take(new SimulatorSource(SMALL), restored, 1)).rows, after.rows.slice(0, ROWS_PER_TICK));
});

test('a position written with other settings starts a new fleet at its next tick', async () => {
  const { positions } = await take(new SimulatorSource(SMALL), null, 2);
  const next = (positions[1] as { nextMs: number }).nextMs;
  const { rows } = await take(new SimulatorSource({ ...SMALL, seed: 9 }), positions[1], 1);
  assert.equal(rows[0].timestampMs, next);
  assert.deepEqual(rows, (await take(new SimulatorSource({ ...SMALL, seed: 9, backfillMs: NOW - next }), null, 1)).rows);
});

test('after a long stop only maxCatchUpMs of missed ticks are emitted, continuing the same fleet', async () => {
  const { positions } = await take(new SimulatorSource(SMALL), null, 1);
  const later = NOW + 2 * 86_400_000;
  const resumed = await take(new SimulatorSource({ ...SMALL, now: () => later, maxCatchUpMs: 30_000 }), positions[0], 4);
  const times = [...new Set(resumed.rows.map((r) => r.timestampMs))];
  assert.deepEqual(times, [later - 30_000, later - 20_000, later - 10_000, later]);
});

test('live: after the back-fill it ticks on the wall clock, aligned, with no gap, until aborted', async () => {
  const intervalMs = 40;
  const source = new SimulatorSource({ hosts: 1, gpusPerHost: 1, intervalMs, backfillMs: 80 });
  const controller = new AbortController();
  const startedAt = Date.now();
  const tickTimes: number[] = [];
  let deliveredEarly = 0;
  for await (const _ of source.read(null, {
    row: (r) => {
      if (r.timestampMs > Date.now()) deliveredEarly++;
      if (tickTimes.at(-1) !== r.timestampMs) tickTimes.push(r.timestampMs);
    },
    reject: () => assert.fail('no rejects'),
  }, controller.signal)) {
    if (tickTimes.length === 8) controller.abort();
  }
  assert.equal(deliveredEarly, 0, 'no tick is emitted before its time');
  assert.ok(tickTimes.every((t) => t % intervalMs === 0));
  assert.deepEqual(tickTimes.slice(1).map((t, i) => t - tickTimes[i]), new Array(7).fill(intervalMs));
  assert.ok(tickTimes[0] < startedAt, 'the first ticks are back-fill');
  assert.ok(tickTimes[7] > startedAt, 'the last ticks are live');
});

// Fast-forwarding a restarted fleet ran seconds of work in one go: a stop waited for all of it, and so
// did every timer and socket of the process (lease keep-alives, the gateway).
test('a stop during the fast-forward of a restarted fleet ends the read before any tick', { timeout: 60_000 }, async () => {
  const interval = 10_000;
  const nextMs = Math.floor((Date.now() - 600_000) / interval) * interval;
  // Six days of the default fleet to step through: seconds of work.
  const from = { originMs: nextMs - 6 * 24 * HOUR_MS, nextMs, seed: 1, hosts: 4, gpusPerHost: 8, intervalMs: interval };
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 20);
  let yields = 0;
  for await (const _ of new SimulatorSource({ intervalMs: interval }).read(from, { row: () => undefined, reject: () => assert.fail('no rejects') }, controller.signal)) yields++;
  assert.equal(yields, 0, 'the stop was seen during the fast-forward, not after it');
});

test('bad settings are refused with the option named', () => {
  assert.throws(() => new SimulatorSource({ hosts: 0 }), (e: unknown) => e instanceof GputelError && /hosts/.test(e.message));
  assert.throws(() => new SimulatorSource({ backfillMs: -1 }), (e: unknown) => e instanceof GputelError && /backfill/.test(e.message));
  assert.equal(new SimulatorSource().id, 'simulator-4x8-seed-1');
});

test('a share of a fleet (firstHost) has a source id and location of its own; the whole fleet keeps its id', () => {
  const share = new SimulatorSource({ hosts: 2, firstHost: 3 });
  assert.equal(share.id, 'simulator-2x8-seed-1-from-host-3');
  assert.match(share.location, /2 hosts from host 3 × 8 GPUs/);
  assert.equal(new SimulatorSource({ hosts: 4, firstHost: 1 }).id, 'simulator-4x8-seed-1');
  assert.throws(() => new SimulatorSource({ hosts: 2, firstHost: 9999 }), (e: unknown) => e instanceof GputelError && /firstHost \+ hosts - 1/.test(e.message));
});
