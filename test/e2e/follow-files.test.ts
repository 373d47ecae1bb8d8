/**
 * `--follow` through the real binary: a file appended to and then rotated
 * is stored row for row (issue test 7, files); and a `gputel streamer`
 * whose other source failed answers /readyz 503 naming it while it goes on.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXIT } from '../../src/cli/exit-codes.js';
import { assertApiMatches, getJson, waitForSamples } from '../support/api-checks.js';
import { readOracle } from '../support/csv-oracle.js';
import { findFreePort, startEtcd } from '../support/etcd-process.js';
import { runGputel, type GputelProcess } from '../support/gputel-process.js';

describe('following files', { timeout: 90_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'gputel-follow-'));
  const processes: GputelProcess[] = [];
  const stops: (() => Promise<void>)[] = [];
  after(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    for (const stop of stops) await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function generate(out: string, seed: number, duration: string, start: string): Promise<void> {
    const generator = runGputel(['generate', '--out', out, '--hosts', '2', '--gpus-per-host', '2', '--duration', duration, '--interval', '10s', '--seed', String(seed), '--start', start]);
    processes.push(generator);
    assert.equal(await generator.exited, 0, generator.stderr());
  }

  it('gputel start --follow stores every row of a file appended to, then rotated', async () => {
    const parts = join(dir, 'parts');
    await generate(`${parts}-1.csv`, 1, '20m', '2026-03-02T08:00:00Z');
    await generate(`${parts}-2.csv`, 2, '10m', '2026-03-02T09:00:00Z');
    const [first, second] = [readFileSync(`${parts}-1.csv`, 'utf8'), readFileSync(`${parts}-2.csv`, 'utf8')];
    const lines = first.split('\n');
    const file = join(dir, 'live.csv');
    writeFileSync(file, lines.slice(0, 400).join('\n') + '\n');

    const gputel = runGputel(['start', '--file', file, '--follow', '--port', '0', '--host', '127.0.0.1', '--data-dir', join(dir, 'data')]);
    processes.push(gputel);
    const [, port] = await gputel.waitForOutput(/API on http:\/\/localhost:(\d+)/);
    const baseUrl = `http://127.0.0.1:${port}`;
    await waitForSamples(baseUrl, 399);
    // Appended in two writes that cut a line in the middle.
    const rest = lines.slice(400).join('\n');
    appendFileSync(file, rest.slice(0, 5000));
    await sleep(300);
    appendFileSync(file, rest.slice(5000));
    const firstRows = readOracle(`${parts}-1.csv`);
    await waitForSamples(baseUrl, firstRows.length);
    // Rotated: the old file moves away, a new one takes the path.
    renameSync(file, `${file}.1`);
    writeFileSync(file, second);
    const secondRows = readOracle(`${parts}-2.csv`);
    await waitForSamples(baseUrl, firstRows.length + secondRows.length);
    await sleep(500); // anything stored twice would show now
    await assertApiMatches(baseUrl, [...firstRows, ...secondRows]);
    await gputel.stop();
    assert.match(gputel.stdout(), new RegExp(`live\\.csv: rows read ${firstRows.length + secondRows.length}, rows rejected 0`));
  });

  it('gputel streamer: a failed source answers /readyz 503 naming it, while the other source goes on', async () => {
    const etcd = await startEtcd();
    stops.push(() => etcd.stop());
    const good = join(dir, 'good.csv');
    await generate(good, 3, '5m', '2026-03-02T10:00:00Z');
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, '\u0000\u0001binary\n');
    const port = await findFreePort();
    const streamer = runGputel(['streamer', '--etcd', etcd.endpoints.join(','), '--host', '127.0.0.1', '--port', String(port), '--file', good, bad, '--follow']);
    processes.push(streamer);
    let ready = { status: 0, body: { checks: [] as { name: string; ok: boolean; error?: string }[] } };
    for (let i = 0; i < 200 && ready.status !== 503; i++) {
      await sleep(50);
      ready = await getJson<{ checks: { name: string; ok: boolean; error?: string }[] }>(`http://127.0.0.1:${port}/readyz`).catch(() => ready);
    }
    assert.equal(ready.status, 503);
    const failed = ready.body.checks.filter((c) => !c.ok);
    assert.deepEqual(failed.map((c) => c.name), [`source ${bad}`]);
    assert.match(failed[0].error ?? '', /\\x00\\x01binary.* is not the DCGM CSV header|is not the DCGM CSV header: found "\\x00\\x01binary"/);
    assert.equal(streamer.child.exitCode, null, 'the streamer goes on following the good file');
    await streamer.stop();
    assert.match(streamer.stderr(), /source .*bad\.csv failed: /);
    assert.equal(await streamer.exited, EXIT.FAILED, 'stopped by SIGTERM, the exit code still says a source failed');
  });
});
