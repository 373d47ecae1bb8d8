/**
 * Retention on both store drivers (embedded, real etcd): chunks older than
 * the cluster's newest sample minus the retention go, the partition stats
 * then count exactly what readers still see, GPUs and hosts with no data
 * left lose their metadata, index and latest entries, and a queued message's
 * chunks wait for its replay.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configFrom } from '../../src/cli/common-options.js';
import { loadConfig } from '../../src/common/config.js';
import { chunkTimeRange, KeySpace } from '../../src/kv/key-space.js';
import type { KvStore } from '../../src/kv/kv-store.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { decodeLatestHost } from '../../src/store/gpu-records.js';
import { useEtcdStore } from '../support/etcd-store.js';
import { CLUSTER, distinctCounts, fleetMessages, MaintenanceFixture, T0, type Sample } from '../support/maintenance-fixture.js';

const HOUR = 3_600_000;

function retentionSpec(driver: string, open: () => Promise<{ kv: KvStore; keys: KeySpace; close(): Promise<void> }>): void {
  describe(`retention (${driver})`, { timeout: 60_000 }, () => {
    it('removes chunks older than the retention and subtracts exactly what readers no longer see', async () => {
      const { kv, keys, close } = await open();
      try {
        const fixture = new MaintenanceFixture(kv, keys);
        await fixture.claim();
        const messages = [
          ...fleetMessages({ hosts: ['h0'], gpus: 2, hours: 10 }),
          // A host that went away after the first hour.
          ...fleetMessages({ hosts: ['gone'], gpus: 1, hours: 1 }),
        ];
        for (const message of messages) await fixture.apply(message);
        // Compacted windows first, as they will be by the time data ages out.
        const compacting = fixture.maintenance();
        await fixture.round(compacting);
        await fixture.round(compacting);
        assert.deepEqual(await fixture.readableCounts(), distinctCounts(messages));

        assert.ok(await kv.get(keys.rollup(CLUSTER, 'gone')), 'the host that went away has a utilisation rollup');
        const retention = fixture.maintenance({ retentionMs: 4 * HOUR });
        const summary = await fixture.round(retention);
        const cutoffMs = T0 + 10 * HOUR - 10_000 - 4 * HOUR;
        assert.ok(summary.chunksRemoved > 0);
        const stats = await fixture.stats();
        const readable = await fixture.readableCounts();
        assert.deepEqual({ samples: stats.samples, records: stats.records }, readable, 'stats count what is still stored');
        assert.ok(readable.samples < distinctCounts(messages).samples * 0.7, 'the first 6 h are gone');
        for (const key of await fixture.chunkKeys('h0', 'GPU-h0-0')) assert.ok(chunkTimeRange(key).endMs >= cutoffMs, `${key} ends after the cutoff`);

        // The host with no data left is gone everywhere; the GPU list no longer names it.
        assert.deepEqual(summary.gpusRemoved, 1);
        assert.equal(summary.hostsRemoved, 1);
        assert.equal((await kv.range({ prefix: keys.hostPrefix(CLUSTER, 'gone') }, { countOnly: true })).count, 0);
        assert.equal(await kv.get(keys.latest(CLUSTER, 'gone')), undefined);
        assert.equal(await kv.get(keys.rollup(CLUSTER, 'gone')), undefined, 'nor does its rollup stay behind');
        assert.equal(await kv.get(keys.gpuIndex(CLUSTER, 'GPU-gone-0', 'gone')), undefined);
        assert.deepEqual(Object.keys(decodeLatestHost((await kv.get(keys.latest(CLUSTER, 'h0')))!.value).gpus).sort(), ['GPU-h0-0', 'GPU-h0-1']);

        const again = await fixture.round(retention);
        assert.deepEqual([again.chunksRemoved, again.samplesRemoved], [0, 0], 'idempotent');
        assert.deepEqual(await fixture.stats(), stats);
      } finally {
        await close();
      }
    });

    it("leaves a queued message's old chunks to its replay, then removes them with exact stats", async () => {
      const { kv, keys, close } = await open();
      try {
        const fixture = new MaintenanceFixture(kv, keys);
        await fixture.claim();
        const messages = fleetMessages({ hosts: ['h0'], gpus: 1, hours: 6 });
        for (const message of messages) await fixture.apply(message);
        // Old samples written, then a crash before the commit; 50 GPUs so its chunks land before the commit's transaction.
        const late: Sample[] = [{ host: 'h0', uuid: 'GPU-h0-0', metric: 'DCGM_FI_DEV_SM_CLOCK', timestampMs: T0 + 10_000, value: 1410 }];
        for (let g = 0; g < 50; g++) late.push({ host: 'h0', uuid: `GPU-z-${g}`, metric: 'DCGM_FI_DEV_GPU_TEMP', timestampMs: T0 + 10_000, value: 40 });
        const queued = await fixture.applyUntilCommit(late);
        const retention = fixture.maintenance({ retentionMs: 2 * HOUR });
        await fixture.round(retention);
        assert.equal((await fixture.chunkKeys('h0', 'GPU-h0-0')).filter((key) => key.endsWith(`-${queued.messageId}`)).length, 1, 'still there for the replay');
        await fixture.processor.process({ ...queued, claimRevision: fixture.claimRevision });
        let stats = await fixture.stats();
        assert.deepEqual({ samples: stats.samples, records: stats.records }, await fixture.readableCounts());
        await fixture.round(retention);
        stats = await fixture.stats();
        assert.deepEqual({ samples: stats.samples, records: stats.records }, await fixture.readableCounts());
        assert.equal((await fixture.chunkKeys('h0', 'GPU-h0-0')).filter((key) => key.endsWith(`-${queued.messageId}`)).length, 0);
        assert.equal((await kv.range({ prefix: keys.gpuPrefix(CLUSTER, 'h0', 'GPU-z-1') }, { countOnly: true })).count, 0, 'GPUs with only old data are removed');
      } finally {
        await close();
      }
    });
  });
}

describe('the retention setting', () => {
  it('defaults to 7 days and accepts 1 h to 10 years', () => {
    assert.equal(loadConfig({ env: {} }).retentionMs, 7 * 24 * HOUR);
    assert.equal(loadConfig({ env: {}, flags: { retentionMs: '90d' } }).retentionMs, 90 * 24 * HOUR);
    assert.throws(() => loadConfig({ env: {}, flags: { retentionMs: '30m' } }), /retention/);
    assert.throws(() => loadConfig({ env: {}, flags: { retentionMs: '4000d' } }), /at most 3650d/);
    assert.equal(loadConfig({ env: { GPUTEL_RETENTION: '30d' } }).retentionMs, 30 * 24 * HOUR);
    assert.equal(configFrom({ retention: '2h' }).retentionMs, 2 * HOUR, 'the --retention flag');
  });
});

retentionSpec('embedded', async () => {
  const kv = await openKvStore({ dataDir: ':memory:' });
  return { kv, keys: new KeySpace('/gputel'), close: () => kv.close() };
});

describe('on a real etcd', { timeout: 120_000 }, () => {
  const etcd = useEtcdStore();
  let suite = 0;
  retentionSpec('etcd', async () => ({ kv: etcd.store, keys: new KeySpace(`/retention${++suite}`), close: async () => undefined }));
});
