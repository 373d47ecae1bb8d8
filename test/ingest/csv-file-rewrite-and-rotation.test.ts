/**
 * File identity and rotation of CsvFileSource: a file rewritten in place is
 * told apart on resume even when its head is the shared DCGM header (head
 * hash taken again as a followed file grows, hash of the bytes before the
 * offset), and the end of a rotated file is not lost: found by its inode
 * when rotated while no streamer ran, read on while its writer still
 * appends after the rename when following.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CsvFileSource, type CsvFilePosition } from '../../src/ingest/csv-file-source.js';
import type { SourcePosition } from '../../src/ingest/source.js';
import { CSV_HEADER as HEADER, csvLines as lines } from '../support/csv-lines.js';

const dir = mkdtempSync(join(tmpdir(), 'gputel-file-identity-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function range(tag: number, from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => tag * 100_000 + from + i);
}

interface Run {
  values: number[];
  rejects: string[];
  last: CsvFilePosition | undefined;
}

/** Reads a source to its end, or until `stopWhen` holds at a yield (bounded by `limitMs` for followed files). */
async function readAll(source: CsvFileSource, from: SourcePosition = null, stopWhen?: (run: Run) => boolean, limitMs = 10_000): Promise<Run> {
  const run: Run = { values: [], rejects: [], last: undefined };
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), limitMs);
  try {
    for await (const position of source.read(from, { row: (r) => run.values.push(r.value), reject: (r) => run.rejects.push(r.reason) }, controller.signal)) {
      run.last = position as CsvFilePosition;
      if (stopWhen?.(run)) controller.abort();
    }
  } finally {
    clearTimeout(timer);
  }
  return run;
}

test('a followed file that began as its header alone, rewritten in place (same inode, longer), is read again from byte 0', async () => {
  const path = join(dir, 'from-header.csv');
  writeFileSync(path, `${HEADER}\n`);
  let appended = false;
  const first = await readAll(new CsvFileSource({ path, follow: true, pollIntervalMs: 20 }), null, (run) => {
    if (!appended) {
      appended = true;
      appendFileSync(path, lines(200, 1));
    }
    return run.values.length >= 200;
  });
  assert.deepEqual(first.values, range(1, 0, 200));
  assert.ok(first.last!.identity!.headBytes === 4096, 'the head hash was taken again as the file grew');
  writeFileSync(path, `${HEADER}\n${lines(400, 2)}`); // `>` redirect: same inode, other rows
  const again = await readAll(new CsvFileSource({ path }), first.last as SourcePosition);
  assert.deepEqual(again.values, range(2, 0, 400), 'every row of the rewritten file, none skipped');
  assert.deepEqual(again.rejects, []);
});

test('a file rewritten in place with the same first 4 KiB but other rows before the checkpoint is read again from byte 0', async () => {
  const path = join(dir, 'same-head.csv');
  const head = `${HEADER}\n${lines(60, 1)}`; // over 4 KiB: the whole head hash is the same after the rewrite
  writeFileSync(path, head + lines(100, 3, 60));
  const first = await readAll(new CsvFileSource({ path }));
  assert.equal(first.values.length, 160);
  writeFileSync(path, head + lines(300, 4, 60));
  const again = await readAll(new CsvFileSource({ path }), first.last as SourcePosition);
  assert.deepEqual(again.values, [...range(1, 0, 60), ...range(4, 60, 300)]);
});

test('a file that only grew still resumes after the checkpoint (the bytes before it are unchanged)', async () => {
  const path = join(dir, 'grew.csv');
  writeFileSync(path, `${HEADER}\n${lines(50, 1)}`);
  const first = await readAll(new CsvFileSource({ path }));
  appendFileSync(path, lines(30, 1, 50));
  const rest = await readAll(new CsvFileSource({ path }), first.last as SourcePosition);
  assert.deepEqual(rest.values, range(1, 50, 30));
});

test('rotated while no streamer ran: the rest of the old file (found by its inode) is read, then the new file from byte 0', async () => {
  const path = join(dir, 'rotated.csv');
  writeFileSync(path, `${HEADER}\n${lines(60, 1)}`);
  const first = await readAll(new CsvFileSource({ path }));
  appendFileSync(path, lines(40, 1, 60));
  renameSync(path, `${path}.1`);
  writeFileSync(path, `${HEADER}\n${lines(30, 2)}`);
  const resumed = await readAll(new CsvFileSource({ path }), first.last as SourcePosition);
  assert.deepEqual(resumed.values, [...range(1, 60, 40), ...range(2, 0, 30)], '100 rows in the old file, 30 in the new: all read once');
  // Its last position is in the new file: resuming again reads nothing twice.
  const third = await readAll(new CsvFileSource({ path }), resumed.last as SourcePosition);
  assert.deepEqual(third.values, []);
});

test('rotated while no streamer ran and the old file is gone: the new file is read from byte 0', async () => {
  const path = join(dir, 'gone.csv');
  writeFileSync(path, `${HEADER}\n${lines(60, 1)}`);
  const first = await readAll(new CsvFileSource({ path }));
  renameSync(path, `${path}.1`);
  unlinkSync(`${path}.1`);
  writeFileSync(path, `${HEADER}\n${lines(30, 2)}`);
  const resumed = await readAll(new CsvFileSource({ path }), first.last as SourcePosition);
  assert.deepEqual(resumed.values, range(2, 0, 30));
});

test('--follow: rows the writer appends to the renamed file shortly after rotation are read before the new file is', async () => {
  const path = join(dir, 'late-writer.csv');
  writeFileSync(path, `${HEADER}\n${lines(50, 1)}`);
  let step = 0;
  const run = readAll(new CsvFileSource({ path, follow: true, pollIntervalMs: 20, rotationGraceMs: 1_000 }), null, (r) => r.values.length >= 50 + 20 + 10);
  // Drive the writer from outside the read loop: rotate, then append to the old inode after the source has seen the rotation.
  for (let i = 0; i < 200 && step < 3; i++) {
    await sleep(25);
    if (step === 0) {
      renameSync(path, `${path}.1`);
      writeFileSync(path, `${HEADER}\n${lines(10, 2)}`);
      step = 1;
    } else if (step === 1 && i >= 10) {
      appendFileSync(`${path}.1`, lines(20, 1, 50));
      step = 3;
    }
  }
  const { values } = await run;
  assert.deepEqual(values, [...range(1, 0, 70), ...range(2, 0, 10)], '70 rows in the old inode, 10 in the new: all read, in order');
});
