/**
 * Progress of long work: a bar with rows/s and ETA on a terminal (drawn by
 * cli-progress into a fake terminal here), plain periodic lines elsewhere
 * (checked through the real binary streaming a file), never both; none with
 * --no-progress or a quiet log level.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeGeneratedFile } from '../../src/cli/generate-command.js';
import { formatProgressLine, progressFigures, ProgressReporter, progressSettingsOf, type ProgressSnapshot, type ProgressTask } from '../../src/cli/progress-reporter.js';
import { runGputel } from '../support/gputel-process.js';
import { waitFor } from '../support/wait-for.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/dcgm-export-sample.csv', import.meta.url));
// eslint-disable-next-line no-control-regex -- what a terminal escape starts with
const ESCAPE = /\u001b\[/;

/** A stream that records what is written; a terminal when `isTTY`. */
function fakeStream(isTTY: boolean): { isTTY: boolean; columns: number; text: string; write(chunk: string): boolean } {
  return {
    isTTY,
    columns: 120,
    text: '',
    write(chunk: string) {
      this.text += chunk;
      return true;
    },
  };
}

/** A task 40% through a 1,000,000-byte file, 8,000 rows read in 2 s (clock at 2,000 ms). */
function halfwayTask(): { task: ProgressTask; now: () => number } {
  const snapshot: ProgressSnapshot = { count: 8_000, done: 400_000, startDone: 0, total: 1_000_000, startedAtMs: 0 };
  return { task: { label: 'big.csv', unit: 'rows', snapshot: () => snapshot }, now: () => 2_000 };
}

describe('progress', () => {
  it('computes rows/s from the run, and the percentage and ETA from the size done since it began', () => {
    const figures = progressFigures({ count: 8_000, done: 600_000, startDone: 200_000, total: 1_000_000, startedAtMs: 1_000 }, 3_000);
    assert.equal(figures.perSecond, 4_000);
    assert.equal(figures.percent, 60);
    assert.equal(figures.etaMs, 2_000, '400,000 bytes left at 200,000 bytes/s');
    const unknownSize = progressFigures({ count: 10, done: 0, startDone: 0, startedAtMs: 0 }, 1_000);
    assert.equal(unknownSize.percent, undefined);
    assert.equal(unknownSize.etaMs, undefined);
    assert.equal(formatProgressLine({ label: 'stdin', unit: 'rows', snapshot: () => undefined }, unknownSize), 'progress stdin: 10 rows, 10 rows/s');
  });

  it('on a terminal, draws a bar with the rows, rows/s, percentage and ETA in place, and no plain lines', () => {
    const stream = fakeStream(true);
    const { task, now } = halfwayTask();
    const reporter = new ProgressReporter([task], { stream, intervalMs: 5_000, now });
    reporter.start();
    reporter.stop();
    reporter.stop(); // safe twice
    assert.match(stream.text, /big\.csv █{10}░{14} \| 8,000 rows \| 4,000 rows\/s \| 40% \| ETA 3\.0s/);
    assert.match(stream.text, ESCAPE, 'drawn in place with cursor moves');
    assert.doesNotMatch(stream.text, /progress big\.csv:/);
  });

  it('elsewhere, writes plain lines every interval, without terminal escapes', async () => {
    const stream = fakeStream(false);
    const { task, now } = halfwayTask();
    const reporter = new ProgressReporter([task], { stream, intervalMs: 20, now });
    reporter.start();
    try {
      await waitFor('two progress lines', 5_000, () => (stream.text.split('\n').length > 2 ? true : undefined));
    } finally {
      reporter.stop();
    }
    assert.match(stream.text, /^progress big\.csv: 8,000 rows, 4,000 rows\/s, 40%, ETA 3\.0s\n/);
    assert.doesNotMatch(stream.text, ESCAPE);
  });

  it('is off with --no-progress and at the error, fatal and silent log levels', () => {
    assert.deepEqual(progressSettingsOf({}, { logLevel: 'info' }), { enabled: true, intervalMs: 5_000 });
    assert.deepEqual(progressSettingsOf({ progressInterval: '2s' }, { logLevel: 'warn' }), { enabled: true, intervalMs: 2_000 });
    assert.equal(progressSettingsOf({ progress: false }, { logLevel: 'info' }).enabled, false);
    for (const logLevel of ['error', 'fatal', 'silent'] as const) assert.equal(progressSettingsOf({}, { logLevel }).enabled, false, logLevel);
    assert.throws(() => progressSettingsOf({ progressInterval: 'often' }, { logLevel: 'info' }), /--progress-interval "often" is not a duration/);
  });

  describe('through gputel start --file', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'gputel-progress-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('writes periodic plain lines on a stderr that is not a terminal, while the file streams', async () => {
      const file = join(dir, 'fleet.csv');
      const rows = await writeGeneratedFile(file, { hosts: 2, gpusPerHost: 4, durationMs: 3_600_000, intervalMs: 10_000, seed: 1, startMs: Date.parse('2026-01-01T00:00:00Z') });
      // --max-rate makes the stream last a few seconds whatever the machine (rows / 15,000 per second).
      const gputel = runGputel(['start', '--file', file, '--max-rate', '15000', '--progress-interval', '300ms', '--host', '127.0.0.1', '--port', '0', '--data-dir', join(dir, 'store')]);
      try {
        await gputel.waitForOutput(new RegExp(`rows read ${rows}, rows rejected 0`), 60_000);
      } finally {
        await gputel.stop();
      }
      const lines = gputel.stderr().split('\n').filter((line) => line.startsWith('progress '));
      assert.ok(lines.length >= 2, `several progress lines: ${gputel.stderr().slice(-1000)}`);
      for (const line of lines) assert.match(line, new RegExp(`^progress ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: [\\d,]+ rows, [\\d,]+ rows/s, \\d+%(, ETA \\S+)?$`));
      assert.doesNotMatch(gputel.stderr(), ESCAPE, 'no bar when stderr is not a terminal');
    });

    it('writes none with --no-progress, or at --log-level error', async () => {
      const runs = [['--no-progress'], ['--log-level', 'error']].map((extra, i) =>
        runGputel(['start', '--file', FIXTURE, '--max-rate', '100', '--progress-interval', '50ms', '--host', '127.0.0.1', '--port', '0', '--data-dir', join(dir, `quiet-${i}`), ...extra]),
      );
      for (const gputel of runs) {
        try {
          await gputel.waitForOutput(/rows read 84, rows rejected 0/, 30_000);
        } finally {
          await gputel.stop();
        }
        assert.doesNotMatch(gputel.stderr(), /progress /);
      }
    });
  });
});
