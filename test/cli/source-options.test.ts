/** The file-source options: patterns, refusals at start, and the new settings. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Command } from 'commander';
import { withCommonOptions, configFrom } from '../../src/cli/common-options.js';
import { expandGlob } from '../../src/cli/expand-glob.js';
import { resolveFileSources, withFileSourceOptions } from '../../src/cli/source-options.js';

const dir = mkdtempSync(join(tmpdir(), 'gputel-source-options-'));
after(() => rmSync(dir, { recursive: true, force: true }));
for (const name of ['a.csv', 'b.csv', 'c.txt', '.hidden.csv']) writeFileSync(join(dir, name), 'x');
mkdirSync(join(dir, 'sub.csv'));
mkdirSync(join(dir, 'day-1'));
writeFileSync(join(dir, 'day-1', 'x.csv'), 'x');

function parse(args: string[]): Record<string, unknown> {
  const command = withFileSourceOptions(withCommonOptions(new Command('t'), ['server', 'streamer'])).exitOverride();
  command.parse(args, { from: 'user' });
  return command.opts();
}

test('a pattern expands to the matching files, sorted, skipping dot files and folders', async () => {
  assert.deepEqual(await expandGlob(join(dir, '*.csv')), [join(dir, 'a.csv'), join(dir, 'b.csv')]);
  assert.deepEqual(await expandGlob(join(dir, '?.*')), [join(dir, 'a.csv'), join(dir, 'b.csv'), join(dir, 'c.txt')]);
  assert.deepEqual(await expandGlob(join(dir, 'day-*', '*.csv')), [join(dir, 'day-1', 'x.csv')]);
  assert.deepEqual(await expandGlob(join(dir, '[ab].csv')), [join(dir, 'a.csv'), join(dir, 'b.csv')]);
});

test('--file takes several paths and patterns; each file is its own source, duplicates once', async () => {
  const specs = await resolveFileSources(parse(['--file', join(dir, 'a.csv'), join(dir, '*.csv'), '--follow']));
  assert.deepEqual(specs.map((s) => s.path), [join(dir, 'a.csv'), join(dir, 'b.csv')]);
  assert.ok(specs.every((s) => s.follow));
});

test('--file DIR is refused, naming the folder and what to pass instead', async () => {
  await assert.rejects(resolveFileSources(parse(['--file', dir])), (e: Error & { code?: string }) => e.code === 'BAD_CONFIG' && e.message.includes(`--file ${dir} is a directory`) && e.message.includes(`${dir}/*.csv`));
});

test('a missing file and a pattern that matches nothing are refused', async () => {
  await assert.rejects(resolveFileSources(parse(['--file', join(dir, 'nope.csv')])), /no such file/);
  await assert.rejects(resolveFileSources(parse(['--file', join(dir, '*.parquet')])), /no file matches this pattern/);
});

test('--source-id with several files, and stdin mixed with files, are refused', async () => {
  await assert.rejects(resolveFileSources(parse(['--file', join(dir, '*.csv'), '--source-id', 'x'])), /--source-id names one source but --file gives 2 files/);
  await assert.rejects(resolveFileSources(parse(['--file', '-', join(dir, 'a.csv')])), /stdin\) cannot be combined with files/);
  assert.deepEqual(await resolveFileSources(parse(['--file', '-'])), [{ path: '-', follow: false, sourceId: undefined }]);
});

test('--max-clock-skew, --max-rate and --low-watermark are settings with defaults, flags and validation', () => {
  const defaults = configFrom({}, {});
  assert.equal(defaults.maxClockSkewMs, 3_600_000);
  assert.equal(defaults.maxRate, 0);
  assert.equal(defaults.lowWatermark, 0);
  const set = configFrom(parse(['--max-clock-skew', '90s', '--max-rate', '5000', '--low-watermark', '10']));
  assert.deepEqual([set.maxClockSkewMs, set.maxRate, set.lowWatermark], [90_000, 5000, 10]);
  assert.throws(() => configFrom(parse(['--max-clock-skew', 'soon'])), /--max-clock-skew = "soon": must be a positive duration/);
});
