/**
 * Issue test 2: a streamer killed with kill -9 mid-file and restarted stores
 * every row exactly once; then the file is replaced by a different, longer
 * one at the same path, and every row of that one is stored too (the
 * checkpoint's file identity tells the files apart). Real etcd, real gputel.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertApiMatches, getJson, waitForSamples } from '../support/api-checks.js';
import { readOracle } from '../support/csv-oracle.js';
import { findFreePort, startEtcd } from '../support/etcd-process.js';
import { runGputel, type GputelProcess } from '../support/gputel-process.js';

describe('faults: streamer restarted, then its file replaced', { timeout: 120_000 }, () => {
  let etcd: Awaited<ReturnType<typeof startEtcd>>;
  let dir: string;
  const processes: GputelProcess[] = [];
  before(async () => {
    etcd = await startEtcd();
    dir = mkdtempSync(join(tmpdir(), 'gputel-replaced-'));
  });
  after(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function run(args: string[]): GputelProcess {
    const child = runGputel(args);
    processes.push(child);
    return child;
  }

  async function generate(out: string, seed: number, duration: string, start: string): Promise<void> {
    const generator = run(['generate', '--out', out, '--hosts', '4', '--gpus-per-host', '2', '--duration', duration, '--interval', '1s', '--seed', String(seed), '--start', start]);
    assert.equal(await generator.exited, 0, generator.stderr());
  }

  it('stores every row exactly once across a kill -9, and every row of a different file put at the same path', async () => {
    const file = join(dir, 'fleet.csv');
    await generate(file, 3, '5m', '2026-03-02T08:00:00Z');
    const first = readOracle(file);

    const common = ['--etcd', etcd.endpoints.join(','), '--host', '127.0.0.1'];
    const port = await findFreePort();
    run(['gateway', ...common, '--port', String(port)]);
    const baseUrl = `http://127.0.0.1:${port}`;
    run(['collector', ...common, '--port', '0']);

    const streamerArgs = ['streamer', ...common, '--port', '0', '--file', file, '--batch-samples', '500'];
    const killed = run(streamerArgs);
    const storedSamples = async (): Promise<number> =>
      (await getJson<{ samples: number }>(`${baseUrl}/api/v1/stats`).catch(() => ({ body: { samples: 0 } }))).body.samples;
    for (let i = 0; i < 500 && (await storedSamples()) === 0; i++) await sleep(20);
    killed.child.kill('SIGKILL');
    await killed.exited;
    const before = await storedSamples();
    assert.ok(before > 0 && before < first.length, `the kill came mid-file (${before} of ${first.length} stored)`);

    // The dead streamer's claim lapses with its lease; the restart waits for that, then resumes.
    const restarted = run(streamerArgs);
    assert.equal(await restarted.exited, 0, restarted.stderr());
    assert.match(restarted.stdout(), /resumed at byte \d+/);
    await waitForSamples(baseUrl, first.length, 60_000);

    // A different, longer export replaces the file at the same path.
    const replacement = join(dir, 'fleet.csv.new');
    await generate(replacement, 4, '8m', '2026-03-02T09:00:00Z');
    const second = readOracle(replacement);
    assert.ok(second.length > first.length);
    renameSync(replacement, file);
    const again = run(streamerArgs);
    assert.equal(await again.exited, 0, again.stderr());
    assert.doesNotMatch(again.stdout(), /resumed at byte/);
    assert.match(again.stdout(), new RegExp(`rows read ${second.length}, rows rejected 0, good rows ${second.length},`));

    await waitForSamples(baseUrl, first.length + second.length, 60_000);
    await sleep(500); // anything stored twice would show now
    await assertApiMatches(baseUrl, [...first, ...second]);
  });
});
