/**
 * Chunk compaction on both store drivers (embedded, real etcd): merged
 * windows keep every sample and the exact stats, readers see the same records
 * before, during and after, a crash at any step loses and duplicates nothing,
 * a queued message's chunks are left alone, and format-1 chunks are rewritten.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Packr } from 'msgpackr';
import { KeySpace, isCompactedChunkKey } from '../../src/kv/key-space.js';
import type { KvStore } from '../../src/kv/kv-store.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { decodeChunk } from '../../src/store/chunk-codec.js';
import { decodeGpuMetadata } from '../../src/store/gpu-records.js';
import { useEtcdStore } from '../support/etcd-store.js';
import { CLUSTER, crashingStore, distinctCounts, fleetMessages, MaintenanceFixture, T0, type Sample } from '../support/maintenance-fixture.js';

const HOUR = 3_600_000;
const WINDOW = 2 * HOUR;

/** Chunk keys of a GPU whose start lies in [fromMs, toMs). */
function inWindow(chunkKeys: string[], fromMs: number, toMs: number): string[] {
  return chunkKeys.filter((key) => {
    const start = Number(key.slice(key.lastIndexOf('/') + 1).slice(0, 13));
    return start >= fromMs && start < toMs;
  });
}

function compactionSpec(driver: string, open: () => Promise<{ kv: KvStore; keys: KeySpace; close(): Promise<void> }>): void {
  describe(`chunk compaction (${driver})`, { timeout: 60_000 }, () => {
    it('merges each closed 2 h window into one chunk, keeping every record, value and the stats', async () => {
      const { kv, keys, close } = await open();
      try {
        const fixture = new MaintenanceFixture(kv, keys);
        await fixture.claim();
        const messages = fleetMessages({ hosts: ['h0', 'h1'], gpus: 2, hours: 5 });
        // The same rows again (a batch cut), and one conflicting value: a later message's value wins for readers.
        messages.push(messages[3].slice(0, 20), [{ ...messages[5][0], value: 12345 }]);
        for (const message of messages) await fixture.apply(message);
        const before = await fixture.snapshot();
        const stats = await fixture.stats();
        assert.deepEqual({ samples: stats.samples, records: stats.records }, distinctCounts(messages));
        const chunksBefore = (await fixture.chunkKeys('h0', 'GPU-h0-0')).length;

        const maintenance = fixture.maintenance();
        const first = await fixture.round(maintenance);
        assert.equal(first.windowsCompacted, 8, 'windows [0, 2 h) and [2 h, 4 h) of 4 GPUs are closed');
        assert.equal(await fixture.snapshot(), before, 'merged chunks and their inputs side by side read the same');
        const second = await fixture.round(maintenance);
        assert.equal(second.inputsDeleted, first.chunksMerged, 'the next round deletes the inputs');
        assert.equal(await fixture.snapshot(), before);
        assert.deepEqual(await fixture.stats(), stats, 'compaction changes no count');

        const chunks = await fixture.chunkKeys('h0', 'GPU-h0-0');
        for (const window of [0, 1]) {
          const merged = inWindow(chunks, T0 + window * WINDOW, T0 + (window + 1) * WINDOW);
          assert.equal(merged.length, 1, `window ${window} is one chunk`);
          assert.ok(isCompactedChunkKey(merged[0]));
        }
        assert.ok(chunks.length < chunksBefore / 3, `${chunks.length} chunks after, ${chunksBefore} before`);
        const metadata = decodeGpuMetadata((await kv.get(keys.gpuMetadata(CLUSTER, 'h0', 'GPU-h0-0')))!.value);
        assert.ok(metadata.maxChunkSpanMs! >= WINDOW - 10_000, 'metadata covers the merged span, so readers scan far enough back');

        const third = await fixture.round(maintenance);
        assert.deepEqual([third.windowsCompacted, third.inputsDeleted], [0, 0], 'idempotent: nothing left to do');
        // Late rows into a compacted window are merged into it again.
        await fixture.apply([{ host: 'h0', uuid: 'GPU-h0-0', metric: 'DCGM_FI_DEV_FB_USED', timestampMs: T0 + 60_000, value: 7 }]);
        const late = await fixture.snapshot();
        await fixture.round(maintenance);
        await fixture.round(maintenance);
        assert.equal(await fixture.snapshot(), late);
        assert.equal(inWindow(await fixture.chunkKeys('h0', 'GPU-h0-0'), T0, T0 + WINDOW).length, 1);
        assert.equal((await fixture.stats()).samples, stats.samples + 1);
      } finally {
        await close();
      }
    });

    it('loses and duplicates nothing when it crashes between or inside its steps', async () => {
      const { kv, keys, close } = await open();
      try {
        const fixture = new MaintenanceFixture(kv, keys);
        await fixture.claim();
        const messages = fleetMessages({ hosts: ['h0'], gpus: 2, hours: 5 });
        for (const message of messages) await fixture.apply(message);
        const before = await fixture.snapshot();
        const stats = await fixture.stats();

        // A crash inside phase 1: the second write transaction fails.
        let writes = 0;
        const crashing = crashingStore(kv, (request) => (request.success ?? []).some((op) => op.type === 'put') && ++writes === 2);
        const crashed = new MaintenanceFixture(crashing, keys);
        crashed.claimRevision = fixture.claimRevision;
        await assert.rejects(crashed.maintenance().run(0, fixture.claimRevision, fixture.processor.clusterNewestSamples), { code: 'KV_UNAVAILABLE' });
        assert.equal(await fixture.snapshot(), before);

        // A crash between the phases: merged chunks written, the process gone before deleting the inputs.
        await fixture.round(fixture.maintenance());
        assert.equal(await fixture.snapshot(), before);
        assert.deepEqual(await fixture.stats(), stats);

        // A new owner (nothing remembered) merges again and deletes the inputs a round later.
        const successor = fixture.maintenance();
        const again = await fixture.round(successor);
        assert.equal(again.windowsCompacted, 4);
        await fixture.round(successor);
        assert.equal(await fixture.snapshot(), before);
        assert.deepEqual(await fixture.stats(), stats);
        assert.equal(inWindow(await fixture.chunkKeys('h0', 'GPU-h0-1'), T0, T0 + WINDOW).length, 1);
        assert.deepEqual({ samples: stats.samples, records: stats.records }, distinctCounts(messages));
      } finally {
        await close();
      }
    });

    it("never merges the chunks of a message still queued, so its replay counts its own samples", async () => {
      const { kv, keys, close } = await open();
      try {
        const fixture = new MaintenanceFixture(kv, keys);
        await fixture.claim();
        const messages = fleetMessages({ hosts: ['h0'], gpus: 1, hours: 5 });
        for (const message of messages) await fixture.apply(message);
        // New samples (a metric not sent before) for the first hour: written, then a crash before the commit.
        const late: Sample[] = [];
        for (let i = 0; i < 40; i++) late.push({ host: 'h0', uuid: 'GPU-h0-0', metric: 'DCGM_FI_DEV_SM_CLOCK', timestampMs: T0 + i * 10_000, value: 1410 });
        // Enough GPUs that its writes take more than the commit's transaction (a message's chunks then land before it).
        for (let g = 0; g < 50; g++) late.push({ host: 'h0', uuid: `GPU-z-${g}`, metric: 'DCGM_FI_DEV_GPU_TEMP', timestampMs: T0, value: 40 });
        const queued = await fixture.applyUntilCommit(late);
        const maintenance = fixture.maintenance();
        await fixture.round(maintenance);
        await fixture.round(maintenance);
        const own = (await fixture.chunkKeys('h0', 'GPU-h0-0')).filter((key) => key.endsWith(`-${queued.messageId}`));
        assert.equal(own.length, 1, "the queued message's chunk is still its own");
        // The replay after the crash counts its 40 samples once.
        await fixture.processor.process({ ...queued, claimRevision: fixture.claimRevision });
        const expected = distinctCounts([...messages, late]);
        const stats = await fixture.stats();
        assert.deepEqual({ samples: stats.samples, records: stats.records }, expected);
        assert.deepEqual(await fixture.readableCounts(), expected);
        // Once applied, it is merged like any other.
        await fixture.round(maintenance);
        await fixture.round(maintenance);
        assert.equal(inWindow(await fixture.chunkKeys('h0', 'GPU-h0-0'), T0, T0 + WINDOW).length, 1);
        assert.deepEqual(await fixture.readableCounts(), expected);
      } finally {
        await close();
      }
    });

    it('rewrites format-1 chunks in the format encodeChunk writes now', async () => {
      const { kv, keys, close } = await open();
      try {
        const fixture = new MaintenanceFixture(kv, keys);
        await fixture.claim();
        for (const message of fleetMessages({ hosts: ['h0'], gpus: 1, hours: 3 })) await fixture.apply(message);
        // A format-1 chunk (raw float64 columns in MessagePack, as the first gputel wrote) in the first window.
        const times = new Float64Array([T0 + 5_000, T0 + 15_000]);
        const format1 = new Packr({ useRecords: false, variableMapSize: true }).pack([
          1,
          Buffer.from(times.buffer),
          ['DCGM_FI_DEV_MEM_CLOCK'],
          [Buffer.from(new Float64Array([1593, 1594]).buffer)],
          [['', 'legacy', '']],
          Buffer.from(new Uint32Array([0, 0]).buffer),
        ]);
        const legacyKey = keys.gpuChunk(CLUSTER, 'h0', 'GPU-h0-0', T0 + 5_000, T0 + 15_000, '0000000000001-00000000-000000000001');
        await kv.put(legacyKey, format1);
        const before = await fixture.snapshot();
        const maintenance = fixture.maintenance();
        await fixture.round(maintenance);
        await fixture.round(maintenance);
        assert.equal(await kv.get(legacyKey), undefined, 'the format-1 chunk was merged and deleted');
        assert.equal(await fixture.snapshot(), before);
        const [merged] = inWindow(await fixture.chunkKeys('h0', 'GPU-h0-0'), T0, T0 + WINDOW);
        const chunk = decodeChunk((await kv.get(merged))!.value, merged);
        assert.ok(chunk.metrics.includes('DCGM_FI_DEV_MEM_CLOCK'));
      } finally {
        await close();
      }
    });
  });
}

compactionSpec('embedded', async () => {
  const kv = await openKvStore({ dataDir: ':memory:' });
  return { kv, keys: new KeySpace('/gputel'), close: () => kv.close() };
});

describe('on a real etcd', { timeout: 120_000 }, () => {
  const etcd = useEtcdStore();
  let suite = 0;
  compactionSpec('etcd', async () => ({ kv: etcd.store, keys: new KeySpace(`/compaction${++suite}`), close: async () => undefined }));
});
