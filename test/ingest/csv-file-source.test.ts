/**
 * CsvFileSource: file identity on resume, tailing with --follow (growth,
 * partial lines, rotation, truncation), stdin, and refusals naming the path.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CsvFileSource, type CsvFilePosition } from '../../src/ingest/csv-file-source.js';
import type { RejectedRow } from '../../src/ingest/dcgm-row.js';
import type { SourcePosition } from '../../src/ingest/source.js';
import { CSV_HEADER as HEADER, csvLines as lines } from '../support/csv-lines.js';

const dir = mkdtempSync(join(tmpdir(), 'gputel-file-source-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function csv(count: number, tag: number): string {
  return `${HEADER}\n${lines(count, tag)}`;
}

interface Run {
  values: number[];
  rejects: RejectedRow[];
  last: CsvFilePosition | undefined;
}

/** Reads a source to its end (or until `stopWhen` holds at a yield), keeping values and the last position. */
async function readAll(source: CsvFileSource, from: SourcePosition = null, stopWhen?: (run: Run) => boolean): Promise<Run> {
  const run: Run = { values: [], rejects: [], last: undefined };
  const controller = new AbortController();
  for await (const position of source.read(from, { row: (r) => run.values.push(r.value), reject: (r) => run.rejects.push(r) }, controller.signal)) {
    run.last = position as CsvFilePosition;
    if (stopWhen?.(run)) controller.abort();
  }
  return run;
}

test('a file read again from its checkpoint resumes after the rows the position covers', async () => {
  const path = join(dir, 'resume.csv');
  writeFileSync(path, csv(3000, 1));
  const first = await readAll(new CsvFileSource({ path, readBytes: 4096 }), null, (run) => run.values.length >= 1000);
  assert.ok(first.values.length >= 1000 && first.values.length < 3000);
  const rest = await readAll(new CsvFileSource({ path }), first.last as SourcePosition);
  assert.deepEqual([...first.values, ...rest.values], Array.from({ length: 3000 }, (_, i) => 100_000 + i));
});

test('the position records the file identity: device, inode, size and a hash of the first 4 KiB', async () => {
  const path = join(dir, 'identity.csv');
  writeFileSync(path, csv(100, 2));
  const { last } = await readAll(new CsvFileSource({ path }));
  assert.ok(last?.identity);
  assert.equal(typeof last.identity.device, 'number');
  assert.ok(last.identity.inode > 0);
  assert.equal(last.identity.headBytes, 4096);
  assert.match(last.identity.headHash, /^[0-9a-f]{32}$/);
});

test('a different, longer file at the same path (replaced by rename) is read from byte 0', async () => {
  const path = join(dir, 'replaced.csv');
  writeFileSync(path, csv(200, 3));
  const first = await readAll(new CsvFileSource({ path }));
  writeFileSync(`${path}.new`, csv(500, 4));
  renameSync(`${path}.new`, path);
  const second = await readAll(new CsvFileSource({ path }), first.last as SourcePosition);
  assert.deepEqual(second.values, Array.from({ length: 500 }, (_, i) => 400_000 + i));
});

test('a file rewritten in place with other content (same inode) is read from byte 0', async () => {
  const path = join(dir, 'rewritten.csv');
  writeFileSync(path, csv(200, 5));
  const first = await readAll(new CsvFileSource({ path }));
  writeFileSync(path, csv(400, 6));
  const second = await readAll(new CsvFileSource({ path }), first.last as SourcePosition);
  assert.equal(second.values.length, 400);
  assert.equal(second.values[0], 600_000);
});

test('a truncated file is read from byte 0', async () => {
  const path = join(dir, 'truncated.csv');
  writeFileSync(path, csv(200, 7));
  const first = await readAll(new CsvFileSource({ path }));
  truncateSync(path, 0);
  writeFileSync(path, csv(10, 7));
  const second = await readAll(new CsvFileSource({ path }), first.last as SourcePosition);
  assert.equal(second.values.length, 10);
});

test('a file that only grew since the checkpoint resumes: appended rows only', async () => {
  const path = join(dir, 'grown.csv');
  writeFileSync(path, csv(100, 8));
  const first = await readAll(new CsvFileSource({ path }));
  appendFileSync(path, lines(50, 8, 100));
  const second = await readAll(new CsvFileSource({ path }), first.last as SourcePosition);
  assert.deepEqual(second.values, Array.from({ length: 50 }, (_, i) => 800_100 + i));
});

test('a checkpoint from before file identities (offset and line only) still resumes', async () => {
  const path = join(dir, 'legacy.csv');
  const text = csv(100, 9);
  writeFileSync(path, text);
  const offset = text.indexOf('\n', text.indexOf('\n') + 1) + 1; // after the header and one row
  const resumed = await readAll(new CsvFileSource({ path }), { byteOffset: offset, nextLineNumber: 3 });
  assert.equal(resumed.values.length, 99);
  assert.equal(resumed.values[0], 900_001);
  assert.ok(resumed.last?.identity, 'the next position records the identity');
});

test('--follow: appended rows are read, a partial last line waits for its end, rotation and truncation start over at byte 0', async () => {
  const path = join(dir, 'followed.csv');
  writeFileSync(path, csv(100, 1));
  const source = new CsvFileSource({ path, follow: true, pollIntervalMs: 20 });
  const values: number[] = [];
  const rejects: RejectedRow[] = [];
  const controller = new AbortController();
  const reading = (async () => {
    for await (const position of source.read(null, { row: (r) => values.push(r.value), reject: (r) => rejects.push(r) }, controller.signal)) void position;
  })();
  const waitFor = async (count: number): Promise<void> => {
    for (let i = 0; i < 500 && values.length < count; i++) await sleep(10);
    assert.equal(values.length, count);
  };
  await waitFor(100);
  // Grows, with the last line cut in two writes: it must wait, never be rejected.
  const more = lines(50, 1, 100);
  appendFileSync(path, more.slice(0, more.length - 40));
  await sleep(100);
  appendFileSync(path, more.slice(more.length - 40));
  await waitFor(150);
  // Rotated by rename (the writer adds a last row to the old file), then a new file at the path.
  renameSync(path, `${path}.1`);
  appendFileSync(`${path}.1`, lines(1, 1, 150));
  writeFileSync(path, csv(70, 2));
  await waitFor(221);
  // Truncated (copytruncate) and written again.
  truncateSync(path, 0);
  writeFileSync(path, csv(30, 3));
  await waitFor(251);
  controller.abort();
  await reading;
  assert.deepEqual(rejects, []);
  const expected = [
    ...Array.from({ length: 151 }, (_, i) => 100_000 + i),
    ...Array.from({ length: 70 }, (_, i) => 200_000 + i),
    ...Array.from({ length: 30 }, (_, i) => 300_000 + i),
  ];
  assert.deepEqual(values, expected);
});

test('--follow ends promptly without error when stopped at the end of the file', async () => {
  const path = join(dir, 'stopped.csv');
  writeFileSync(path, csv(5, 1));
  const run = await readAll(new CsvFileSource({ path, follow: true, pollIntervalMs: 10_000 }), null, (r) => r.values.length === 5);
  assert.equal(run.values.length, 5);
});

test('stdin ("-") is read to its end and is not resumable', async () => {
  const source = new CsvFileSource({ path: '-', stdin: Readable.from([Buffer.from(csv(40, 4).slice(0, 777)), Buffer.from(csv(40, 4).slice(777))]) });
  assert.equal(source.resumable, false);
  assert.equal(source.id, `stdin-${hostname()}`, 'stdin of each host is its own source');
  const run = await readAll(source);
  assert.equal(run.values.length, 40);
});

test('a directory, a missing file and a file that is not a DCGM export fail with BAD_INPUT naming the path', async () => {
  await assert.rejects(readAll(new CsvFileSource({ path: dir })), (e: Error & { code?: string }) => e.code === 'BAD_INPUT' && e.message.includes(dir) && /directory/.test(e.message));
  await assert.rejects(readAll(new CsvFileSource({ path: join(dir, 'nope.csv') })), (e: Error & { code?: string }) => e.code === 'BAD_INPUT' && /no such file/.test(e.message));
  const other = join(dir, 'other.csv');
  writeFileSync(other, 'a,b,c\n1,2,3\n');
  await assert.rejects(readAll(new CsvFileSource({ path: other })), (e: Error & { code?: string }) => e.code === 'BAD_INPUT' && /not the DCGM CSV header/.test(e.message));
});
