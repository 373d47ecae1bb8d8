/**
 * Issue test 2: a streamer killed with kill -9 mid-file and restarted stores
 * every row exactly once; then the file is replaced by a different, longer
 * one at the same path, and every row of that one is stored too (the
 * checkpoint's file identity tells the files apart). Real etcd, real gputel.
 */
import assert from 'node:assert/strict';
import { renameSync } from 'node:fs';
import { describe, it } from 'node:test';
import { waitForSamples } from '../support/api-checks.js';
import { readOracle } from '../support/csv-oracle.js';
import { usePipelineHarness } from '../support/pipeline-harness.js';

describe('faults: streamer restarted, then its file replaced', { timeout: 120_000 }, () => {
  const h = usePipelineHarness('replaced');
  const fleet = { hosts: 4, gpusPerHost: 2, interval: '1s' };

  it('stores every row exactly once across a kill -9, and every row of a different file put at the same path', async () => {
    const file = await h.generate('fleet.csv', { ...fleet, seed: 3, duration: '5m', start: '2026-03-02T08:00:00Z' });
    const first = readOracle(file);

    const { baseUrl } = await h.startGateway();
    h.startCollector();

    const killed = h.startStreamer(file, ['--batch-samples', '500']);
    await h.waitForStored();
    killed.child.kill('SIGKILL');
    await killed.exited;
    const before = await h.storedSamples();
    assert.ok(before > 0 && before < first.length, `the kill came mid-file (${before} of ${first.length} stored)`);

    // The dead streamer's claim lapses with its lease; the restart waits for that, then resumes.
    const restarted = h.startStreamer(file, ['--batch-samples', '500']);
    assert.equal(await restarted.exited, 0, restarted.stderr());
    assert.match(restarted.stdout(), /resumed at byte \d+/);
    await waitForSamples(baseUrl, first.length, 60_000);

    // A different, longer export replaces the file at the same path.
    const replacement = await h.generate('fleet.csv.new', { ...fleet, seed: 4, duration: '8m', start: '2026-03-02T09:00:00Z' });
    const second = readOracle(replacement);
    assert.ok(second.length > first.length);
    renameSync(replacement, file);
    const again = h.startStreamer(file, ['--batch-samples', '500']);
    assert.equal(await again.exited, 0, again.stderr());
    assert.doesNotMatch(again.stdout(), /resumed at byte/);
    assert.match(again.stdout(), new RegExp(`rows read ${second.length}, rows rejected 0, good rows ${second.length},`));

    await h.assertStoredExactlyOnce([...first, ...second]);
  });
});
