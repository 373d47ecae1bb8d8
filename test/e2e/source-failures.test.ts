/**
 * Failed ingest must not look healthy (issue 5 §4b): a file that is not a
 * DCGM export makes /readyz 503 naming the source and the reason, and the
 * summary says FAILED; a directory is refused at start; text quoted from a
 * binary file reaches the terminal escaped. Real gputel processes.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EXIT } from '../../src/cli/exit-codes.js';
import { getJson, waitForSamples } from '../support/api-checks.js';
import { readOracle } from '../support/csv-oracle.js';
import { runGputel, type GputelProcess } from '../support/gputel-process.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/dcgm-export-sample.csv', import.meta.url));

describe('failed sources', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'gputel-source-failures-'));
  const processes: GputelProcess[] = [];
  after(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  function start(args: string[]): GputelProcess {
    const dataDir = mkdtempSync(join(dir, 'data-'));
    const gputel = runGputel(['start', ...args, '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir]);
    processes.push(gputel);
    return gputel;
  }

  it('gputel start: a file that is not a DCGM export makes /readyz 503 naming the source and why, and the summary says FAILED', async () => {
    const bad = join(dir, 'wrong-header.csv');
    writeFileSync(bad, 'time,gpu,temp\n2026-03-02T08:00:00Z,0,41\n');
    const gputel = start(['--file', FIXTURE, bad]);
    const [, port] = await gputel.waitForOutput(/API on http:\/\/localhost:(\d+)/);
    await gputel.waitForOutput(/wrong-header\.csv: rows read 0, .*; FAILED: .*is not the DCGM CSV header/);
    const ready = await getJson<{ status: string; checks: { name: string; ok: boolean; error?: string }[] }>(`http://127.0.0.1:${port}/readyz`);
    assert.equal(ready.status, 503);
    const failed = ready.body.checks.find((c) => !c.ok);
    assert.equal(failed?.name, `source ${bad}`);
    assert.match(failed?.error ?? '', /is not the DCGM CSV header/);
    // The good file of the same command was streamed all the same.
    await waitForSamples(`http://127.0.0.1:${port}`, readOracle(FIXTURE).length);
    assert.match(gputel.stderr(), /source .*wrong-header\.csv failed: /);
  });

  it('gputel start refuses a directory as --file before serving', async () => {
    const folder = join(dir, 'exports');
    mkdirSync(folder);
    const gputel = start(['--file', folder]);
    assert.equal(await gputel.exited, EXIT.CONFIG);
    assert.match(gputel.stderr(), /--file .*exports is a directory; pass the files in it, e\.g\. --file '.*exports\/\*\.csv'/);
  });

  it('text quoted from a binary file reaches the terminal with its control bytes escaped', async () => {
    const binary = join(dir, 'model.bin');
    writeFileSync(binary, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x00, 0x00, 0x1b, 0x5b, 0x32, 0x4a, 0x07, 0x0a, 0x00, 0x01]));
    const gputel = start(['--file', binary, '--source-id', 'binary-file']);
    await gputel.waitForOutput(/FAILED/);
    const output = gputel.stdout() + gputel.stderr();
    // eslint-disable-next-line no-control-regex -- no control byte of the file may reach the terminal
    assert.doesNotMatch(output.replace(/\n/g, ''), /[\u0000-\u0008\u000b-\u001f\u007f]/);
    assert.match(output, /\\x7fELF\\x02\\x00\\x00\\x1b\[2J\\x07/);
  });

  it('gputel start accepts --source-id and a pattern of files', async () => {
    const folder = join(dir, 'many');
    mkdirSync(folder);
    copyFileSync(FIXTURE, join(folder, 'a.csv'));
    const gputel = start(['--file', join(folder, '*.csv'), '--source-id', 'fleet-a']);
    const [, port] = await gputel.waitForOutput(/API on http:\/\/localhost:(\d+)/);
    await gputel.waitForOutput(/a\.csv: rows read 84, rows rejected 0, good rows 84/);
    const ready = await getJson(`http://127.0.0.1:${port}/readyz`);
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
  });
});

