/**
 * Maintenance of a partition stays bounded and keeps going: a GPU with more
 * chunk keys than a round lists (a store that was never compacted) is worked
 * through oldest first over several rounds, and a GPU whose maintenance fails
 * for a reason of its own does not keep the partition's other GPUs from theirs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chunkTimeRange, isCompactedChunkKey, KeySpace } from '../../src/kv/key-space.js';
import type { KvStore } from '../../src/kv/kv-store.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { distinctCounts, fleetMessages, MaintenanceFixture, T0 } from '../support/maintenance-fixture.js';

async function withFixture(run: (fixture: MaintenanceFixture, kv: KvStore) => Promise<void>): Promise<void> {
  const kv = await openKvStore({ dataDir: ':memory:' });
  try {
    const fixture = new MaintenanceFixture(kv, new KeySpace('/gputel'));
    await fixture.claim();
    await run(fixture, kv);
  } finally {
    await kv.close();
  }
}

describe('maintenance bounds', { timeout: 60_000 }, () => {
  it('works through more chunks than a round lists, oldest first, over several rounds', async () => {
    await withFixture(async (fixture) => {
      // 10 h of one-record messages: 3,600 chunks for one GPU, a round lists 500.
      const messages = fleetMessages({ hosts: ['h0'], gpus: 1, hours: 10, recordsPerMessage: 1 });
      for (const message of messages) await fixture.apply(message);
      const maintenance = fixture.maintenance({ maxChunkKeysPerRound: 500 });
      const first = await fixture.round(maintenance);
      assert.equal(first.pending, true, 'a partial listing leaves work for the next round');
      let rounds = 1;
      for (let summary = first; summary.pending && rounds < 40; rounds++) summary = await fixture.round(maintenance);
      assert.ok(rounds > 2, `took ${rounds} rounds`);
      // The two closed 4 h windows are one chunk each; only the open window's last minutes stay per message.
      const closed = (await fixture.chunkKeys('h0', 'GPU-h0-0')).filter((key) => chunkTimeRange(key).startMs < T0 + 8 * 3_600_000);
      assert.deepEqual(closed.map(isCompactedChunkKey), [true, true], closed.join('\n'));
      assert.deepEqual(await fixture.readableCounts(), distinctCounts(messages), 'every sample still read, once');
      const stats = await fixture.stats();
      assert.deepEqual({ samples: stats.samples, records: stats.records }, distinctCounts(messages));
    });
  });

  it("goes on with the partition's other GPUs when one GPU's maintenance fails", async () => {
    await withFixture(async (fixture, kv) => {
      const messages = fleetMessages({ hosts: ['h0'], gpus: 2, hours: 6 });
      for (const message of messages) await fixture.apply(message);
      // GPU-h0-0's chunk listing fails with an error of its own (not the store away, not the claim lost).
      const listing = fixture.keys.gpuDataPrefix('default', 'h0', 'GPU-h0-0');
      const range = kv.range.bind(kv);
      kv.range = async (r, options) => {
        if ('prefix' in r && r.prefix === listing) throw new RangeError('Maximum call stack size exceeded');
        return range(r, options);
      };
      const summary = await fixture.round(fixture.maintenance());
      kv.range = range;
      assert.equal(summary.pending, true, 'the failed GPU is tried again');
      const after = await fixture.chunkKeys('h0', 'GPU-h0-1');
      assert.ok(after.some((key) => key.endsWith('~compacted')), 'the other GPU was compacted');
      assert.deepEqual(await fixture.readableCounts(), distinctCounts(messages));
    });
  });

  it('deletes a merge\'s inputs only while every part it wrote still stands', async () => {
    await withFixture(async (fixture, kv) => {
      const messages = fleetMessages({ hosts: ['h0'], gpus: 1, hours: 6 });
      for (const message of messages) await fixture.apply(message);
      const maintenance = fixture.maintenance();
      await fixture.round(maintenance); // merged: the inputs wait for the next round
      const compacted = (await fixture.chunkKeys('h0', 'GPU-h0-0')).filter(isCompactedChunkKey);
      assert.ok(compacted.length > 0);
      // The first part goes before the inputs do (retention can remove a part while an input reaching past its cutoff stays).
      await kv.delete({ start: compacted[0] });
      await fixture.round(maintenance);
      assert.deepEqual(await fixture.readableCounts(), distinctCounts(messages), 'no sample lost with its part');
      for (let round = 0; round < 3; round++) await fixture.round(maintenance);
      assert.deepEqual(await fixture.readableCounts(), distinctCounts(messages));
      assert.ok((await fixture.chunkKeys('h0', 'GPU-h0-0')).some((key) => key === compacted[0]), 'merged again');
    });
  });
});
