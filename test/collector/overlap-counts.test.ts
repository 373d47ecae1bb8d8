/**
 * The collector's duplicate check reads the chunks stored before a message
 * for every GPU block that overlaps them, all blocks in one batched read: the
 * counts stay exact with more blocks than one transaction holds, with
 * compacted chunks, and with values that conflict.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeySpace } from '../../src/kv/key-space.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { distinctCounts, MaintenanceFixture, T0, type Sample } from '../support/maintenance-fixture.js';

/** One sample per GPU for `gpus` GPUs of host h at `timestampMs`. */
function fleetAt(gpus: number, timestampMs: number, metric = 'DCGM_FI_DEV_GPU_TEMP', value = (g: number) => 40 + (g % 10)): Sample[] {
  return Array.from({ length: gpus }, (_, g) => ({ host: 'h', uuid: `GPU-${String(g).padStart(3, '0')}`, metric, timestampMs, value: value(g) }));
}

describe('batched overlap reads of the duplicate check', () => {
  it('counts exactly over 200 overlapping GPU blocks, compacted chunks and conflicting values', async () => {
    const kv = await openKvStore({ dataDir: ':memory:' });
    try {
      const fixture = new MaintenanceFixture(kv, new KeySpace('/gputel'));
      await fixture.claim();
      const messages: Sample[][] = [];
      for (let i = 0; i < 6; i++) messages.push(fleetAt(200, T0 + i * 1_800_000));
      for (const message of messages) await fixture.apply(message);
      // Windows [0, 2 h) are compacted: the check must read merged chunks too.
      const maintenance = fixture.maintenance();
      await fixture.round(maintenance);
      await fixture.round(maintenance);

      // The first timestamp again for every GPU: nothing new; a conflicting value on 7 of them.
      const again = fleetAt(200, T0, 'DCGM_FI_DEV_GPU_TEMP', (g) => (g < 7 ? 99 : 40 + (g % 10)));
      // And a new metric at an old time for every GPU: all new.
      const newMetric = fleetAt(200, T0 + 1_800_000, 'DCGM_FI_DEV_POWER_USAGE');
      await fixture.apply(again);
      await fixture.apply(newMetric);
      const stats = await fixture.stats();
      const expected = distinctCounts([...messages, again, newMetric]);
      assert.deepEqual({ samples: stats.samples, records: stats.records }, expected);
      assert.equal(stats.conflictingDuplicates, 7);
      assert.deepEqual(await fixture.readableCounts(), expected);
    } finally {
      await kv.close();
    }
  });
});
