/**
 * kill -9 of a streamer and of a collector in the middle of a stream, on a
 * real etcd: after restarts, every sample is stored exactly once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { readOracle } from '../support/csv-oracle.js';
import { usePipelineHarness } from '../support/pipeline-harness.js';

describe('faults: kill -9 mid-stream', { timeout: 120_000 }, () => {
  const h = usePipelineHarness('faults');

  it('stores every sample exactly once after the streamer and the collector are killed and restarted', async () => {
    const file = await h.generate('fleet.csv', { hosts: 6, gpusPerHost: 4, duration: '10m', interval: '1s', seed: 9, start: '2026-03-02T08:00:00Z' });
    const rows = readOracle(file);

    // Small flushes make many commits, so the kills land between and inside them.
    const streamerArgs = ['--batch-samples', '500'];
    const { gateway, collector: firstCollector, streamer: firstStreamer } = await h.startPipeline(file, { consumerId: 'first', streamerArgs });
    await sleep(300);
    firstStreamer.child.kill('SIGKILL');
    firstCollector.child.kill('SIGKILL');
    await Promise.all([firstStreamer.exited, firstCollector.exited]);
    const before = await h.storedSamples();
    assert.ok(before > 0 && before < rows.length, `the kill came mid-stream (${before} of ${rows.length} stored)`);

    // The replacement collector takes the partitions once the dead one's lease expires.
    h.startCollector('second');
    const secondStreamer = h.startStreamer(file, streamerArgs);
    assert.equal(await secondStreamer.exited, 0, secondStreamer.stderr());
    assert.match(secondStreamer.stdout(), /resumed at byte \d+/);

    await h.assertStoredExactlyOnce(rows);
    assert.ok(gateway.child.exitCode === null, 'the gateway kept serving');
  });
});
