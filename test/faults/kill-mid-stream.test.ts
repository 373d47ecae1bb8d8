/**
 * kill -9 of a streamer and of a collector in the middle of a stream, on a
 * real etcd: after restarts, every sample is stored exactly once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertApiMatches, getJson, waitForSamples } from '../support/api-checks.js';
import { readOracle } from '../support/csv-oracle.js';
import { findFreePort, startEtcd } from '../support/etcd-process.js';
import { runGputel, type GputelProcess } from '../support/gputel-process.js';

describe('faults: kill -9 mid-stream', { timeout: 120_000 }, () => {
  let etcd: Awaited<ReturnType<typeof startEtcd>>;
  let dir: string;
  const processes: GputelProcess[] = [];
  before(async () => {
    etcd = await startEtcd();
    dir = mkdtempSync(join(tmpdir(), 'gputel-faults-'));
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

  it('stores every sample exactly once after the streamer and the collector are killed and restarted', async () => {
    const file = join(dir, 'fleet.csv');
    const generate = run(['generate', '--out', file, '--hosts', '6', '--gpus-per-host', '4', '--duration', '10m', '--interval', '1s', '--seed', '9', '--start', '2026-03-02T08:00:00Z']);
    assert.equal(await generate.exited, 0, generate.stderr());
    const rows = readOracle(file);

    const common = ['--etcd', etcd.endpoints.join(','), '--host', '127.0.0.1'];
    const port = await findFreePort();
    const gateway = run(['gateway', ...common, '--port', String(port)]);
    const baseUrl = `http://127.0.0.1:${port}`;
    const firstCollector = run(['collector', ...common, '--port', '0', '--consumer-id', 'first']);
    await sleep(1_000);

    // Small flushes make many commits, so the kills land between and inside them.
    const streamerArgs = ['streamer', ...common, '--port', '0', '--file', file, '--batch-samples', '500'];
    const firstStreamer = run(streamerArgs);
    const storedSamples = async (): Promise<number> =>
      (await getJson<{ samples: number }>(`${baseUrl}/api/v1/stats`).catch(() => ({ body: { samples: 0 } }))).body.samples;
    for (let i = 0; i < 500 && (await storedSamples()) === 0; i++) await sleep(20);
    await sleep(300);
    firstStreamer.child.kill('SIGKILL');
    firstCollector.child.kill('SIGKILL');
    await Promise.all([firstStreamer.exited, firstCollector.exited]);
    const before = await storedSamples();
    assert.ok(before > 0 && before < rows.length, `the kill came mid-stream (${before} of ${rows.length} stored)`);

    // The replacement collector takes the partitions once the dead one's lease expires.
    run(['collector', ...common, '--port', '0', '--consumer-id', 'second']);
    const secondStreamer = run(streamerArgs);
    assert.equal(await secondStreamer.exited, 0, secondStreamer.stderr());
    assert.match(secondStreamer.stdout(), /resumed at byte \d+/);

    await waitForSamples(baseUrl, rows.length, 60_000);
    await sleep(500); // anything counted twice would show up now
    await assertApiMatches(baseUrl, rows);
    assert.ok(gateway.child.exitCode === null, 'the gateway kept serving');
  });
});
