/**
 * Issue 5, test 3: etcd is restarted mid-stream on the same data dir. Every
 * sample is stored exactly once, and no gputel process is restarted: the
 * streamer, the collector and the gateway ride out the outage (retryable
 * errors, backoff, watches resumed) on their own.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { readOracle } from '../support/csv-oracle.js';
import { usePipelineHarness } from '../support/pipeline-harness.js';

describe('faults: etcd restarted mid-stream', { timeout: 120_000 }, () => {
  const h = usePipelineHarness('etcd-restart');

  it('stores every sample exactly once, and no gputel process restarts', async () => {
    const file = await h.generate('fleet.csv', { hosts: 6, gpusPerHost: 4, duration: '10m', interval: '1s', seed: 5, start: '2026-03-02T08:00:00Z' });
    const rows = readOracle(file);

    const { gateway, baseUrl, collector, streamer } = await h.startPipeline(file, { consumerId: 'only', streamerArgs: ['--batch-samples', '500'] });

    // Twice, with the stream going on: etcd down, then back on the same data.
    const pidsBefore = [gateway.pid, collector.pid, streamer.pid];
    for (let restart = 0; restart < 2; restart++) {
      await sleep(300);
      await h.etcd.restart(async () => {
        // While etcd is down, the gateway says so on /readyz (and stays alive).
        const readyz = await fetch(`${baseUrl}/readyz`);
        assert.equal(readyz.status, 503);
        const body = (await readyz.json()) as { checks: { name: string; ok: boolean; error?: string }[] };
        assert.equal(body.checks.find((check) => check.name === 'store (etcd)')?.ok, false, JSON.stringify(body));
        assert.equal((await fetch(`${baseUrl}/healthz`)).status, 200);
        await sleep(700);
      });
    }
    const during = await h.storedSamples();
    assert.ok(during < rows.length, `the restarts came mid-stream (${during} of ${rows.length} stored)`);

    assert.equal(await streamer.exited, 0, `the streamer finished by itself: ${streamer.stderr().slice(-2000)}`);
    await h.assertStoredExactlyOnce(rows);
    for (const [index, process] of [gateway, collector].entries()) {
      assert.equal(process.child.exitCode, null, `${['gateway', 'collector'][index]} is still running`);
      assert.equal(process.pid, pidsBefore[index]);
    }
    // /readyz of the gateway is ready again without a restart.
    assert.equal((await fetch(`${baseUrl}/readyz`)).status, 200);
  });
});
