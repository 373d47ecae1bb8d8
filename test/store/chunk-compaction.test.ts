/**
 * Chunk compaction on both store drivers (embedded, real etcd): merged
 * windows keep every sample and the exact stats, readers see the same records
 * before, during and after, a crash at any step loses and duplicates nothing,
 * a queued message's chunks are left alone, format-1 chunks are rewritten,
 * and the open window is merged in steps (planCompaction) that each take the
 * previous partial merge as an input, ending as one chunk when it closes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Packr } from 'msgpackr';
import { KeySpace, chunkTimeRange, isCompactedChunkKey } from '../../src/kv/key-space.js';
import type { KvStore } from '../../src/kv/kv-store.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { decodeChunk } from '../../src/store/chunk-codec.js';
import { decodeGpuMetadata } from '../../src/store/gpu-records.js';
import { ChunkCompactor, DEFAULT_COMPACTION_GRACE_MS, DEFAULT_COMPACTION_WINDOW_MS, DEFAULT_OPEN_WINDOW_MERGE_AGE_MS, planCompaction } from '../../src/store/maintenance/chunk-compactor.js';
import type { ChunkKey } from '../../src/store/maintenance/gpu-chunk-list.js';
import { useEtcdStore } from '../support/etcd-store.js';
import { gputelError } from '../support/gputel-error-check.js';
import { CLUSTER, crashingStore, distinctCounts, fleetMessages, logger, MaintenanceFixture, T0, type Sample } from '../support/maintenance-fixture.js';

const HOUR = 3_600_000;
const WINDOW = DEFAULT_COMPACTION_WINDOW_MS;

/** Chunk keys of a GPU whose start lies in [fromMs, toMs). */
function inWindow(chunkKeys: string[], fromMs: number, toMs: number): string[] {
  return chunkKeys.filter((key) => {
    const start = Number(key.slice(key.lastIndexOf('/') + 1).slice(0, 13));
    return start >= fromMs && start < toMs;
  });
}

function compactionSpec(driver: string, open: () => Promise<{ kv: KvStore; keys: KeySpace; close(): Promise<void> }>): void {
  describe(`chunk compaction (${driver})`, { timeout: 60_000 }, () => {
    it('merges each closed window into one chunk, keeping every record, value and the stats', async () => {
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
        assert.equal(first.windowsCompacted, 8, 'window [0, 4 h) of 4 GPUs is closed, and [4 h, 5 h) of the open one merged so far');
        assert.equal(await fixture.snapshot(), before, 'merged chunks and their inputs side by side read the same');
        const second = await fixture.round(maintenance);
        assert.equal(second.inputsDeleted, first.chunksMerged, 'the next round deletes the inputs');
        assert.equal(await fixture.snapshot(), before);
        assert.deepEqual(await fixture.stats(), stats, 'compaction changes no count');

        const chunks = await fixture.chunkKeys('h0', 'GPU-h0-0');
        const closed = inWindow(chunks, T0, T0 + WINDOW);
        assert.equal(closed.length, 1, 'the closed window is one chunk');
        assert.ok(isCompactedChunkKey(closed[0]));
        const open = inWindow(chunks, T0 + WINDOW, T0 + 2 * WINDOW);
        assert.ok(isCompactedChunkKey(open[0]), 'the open window starts with its partial merge');
        assert.ok(open.slice(1).every((key) => !isCompactedChunkKey(key)), 'then the chunks too recent to merge yet');
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

    it('merges the open window in steps, each merge taking the last one as an input, until the window closes', async () => {
      const { kv, keys, close } = await open();
      try {
        const fixture = new MaintenanceFixture(kv, keys);
        await fixture.claim();
        const maintenance = fixture.maintenance();
        const messages = fleetMessages({ hosts: ['h0'], gpus: 1, hours: 1 });
        for (const message of messages) await fixture.apply(message);
        const newestMs = T0 + HOUR - 10_000;
        const chunksBefore = (await fixture.chunkKeys('h0', 'GPU-h0-0')).length;
        let before = await fixture.snapshot();
        const stats = await fixture.stats();

        const first = await fixture.round(maintenance);
        assert.equal(first.windowsCompacted, 1, 'the open window is merged up to a grace before the newest sample');
        assert.equal(await fixture.snapshot(), before, 'partial merge and its inputs side by side read the same');
        assert.equal((await fixture.round(maintenance)).inputsDeleted, first.chunksMerged);
        assert.equal(await fixture.snapshot(), before);
        assert.deepEqual(await fixture.stats(), stats, 'merging the open window changes no count');
        let chunks = await fixture.chunkKeys('h0', 'GPU-h0-0');
        assert.ok(isCompactedChunkKey(chunks[0]));
        const recent = chunks.slice(1);
        assert.ok(recent.length > 0 && recent.length < chunksBefore / 2, `${recent.length} of ${chunksBefore} chunks left unmerged`);
        for (const key of recent) {
          assert.ok(!isCompactedChunkKey(key));
          assert.ok(chunkTimeRange(key).endMs + DEFAULT_COMPACTION_GRACE_MS > newestMs, `${key} ended within the grace: not merged yet`);
        }
        const idle = await fixture.round(maintenance);
        assert.deepEqual([idle.windowsCompacted, idle.inputsDeleted], [0, 0], 'nothing more until the oldest unmerged chunk reaches the merge age');

        // Half an hour more: the next step merges the partial merge, the chunks left and the new ones.
        const more = fleetMessages({ hosts: ['h0'], gpus: 1, hours: 0.5, fromMs: T0 + HOUR });
        for (const message of more) await fixture.apply(message);
        before = await fixture.snapshot();
        const step = await fixture.round(maintenance);
        assert.equal(step.windowsCompacted, 1);
        assert.equal(await fixture.snapshot(), before);
        await fixture.round(maintenance);
        chunks = await fixture.chunkKeys('h0', 'GPU-h0-0');
        assert.equal(chunks.filter(isCompactedChunkKey).length, 1, 'the earlier partial merge went with its inputs');
        assert.ok(chunkTimeRange(chunks[0]).endMs > T0 + HOUR, 'the partial merge grew');
        assert.equal(await fixture.snapshot(), before);

        // A late row into the merged part: merged into it at the next step, the later value winning as it does for readers.
        await fixture.apply([{ host: 'h0', uuid: 'GPU-h0-0', metric: 'DCGM_FI_DEV_FB_USED', timestampMs: T0 + 60_000, value: 7 }]);
        before = await fixture.snapshot();
        await fixture.round(maintenance);
        await fixture.round(maintenance);
        assert.equal(await fixture.snapshot(), before);
        assert.equal((await fixture.chunkKeys('h0', 'GPU-h0-0')).filter(isCompactedChunkKey).length, 1);

        // The window closes: one chunk for all of it, as if it had never been merged in steps.
        const rest = fleetMessages({ hosts: ['h0'], gpus: 1, hours: WINDOW / HOUR - 1, fromMs: T0 + 1.5 * HOUR });
        for (const message of rest) await fixture.apply(message);
        before = await fixture.snapshot();
        await fixture.round(maintenance);
        await fixture.round(maintenance);
        assert.equal(await fixture.snapshot(), before);
        assert.equal(inWindow(await fixture.chunkKeys('h0', 'GPU-h0-0'), T0, T0 + WINDOW).length, 1, 'the closed window is one chunk');
        const expected = distinctCounts([...messages, ...more, [{ host: 'h0', uuid: 'GPU-h0-0', metric: 'DCGM_FI_DEV_FB_USED', timestampMs: T0 + 60_000, value: 7 }], ...rest]);
        const after = await fixture.stats();
        assert.deepEqual({ samples: after.samples, records: after.records }, expected);
        assert.deepEqual(await fixture.readableCounts(), expected);
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

describe('planCompaction', () => {
  const MIN = 60_000;
  const options = { windowMs: WINDOW, graceMs: DEFAULT_COMPACTION_GRACE_MS, openWindowMergeAgeMs: DEFAULT_OPEN_WINDOW_MERGE_AGE_MS };
  /** Chunks of one message each, `minutes` long, from `fromMin` on (relative to T0). */
  function chunk(fromMin: number, minutes: number, messageId: string): ChunkKey {
    return { key: `${T0 + fromMin * MIN}-${messageId}`, startMs: T0 + fromMin * MIN, endMs: T0 + (fromMin + minutes) * MIN, messageId, compacted: messageId === '~compacted' };
  }
  const names = (plan: ChunkKey[][]): string[][] => plan.map((merge) => merge.map((c) => c.key.slice(String(T0).length)));

  it('merges nothing in the open window before its oldest unmerged chunk reaches the merge age', () => {
    const chunks = [0, 5, 10].map((m) => chunk(m, 5, `m${m}`));
    assert.deepEqual(planCompaction(chunks, new Set(), options), []);
  });

  it('merges the key-order prefix that ended a grace ago, with the partial merge before it', () => {
    const chunks = [chunk(0, 20, '~compacted'), ...[20, 25, 30, 35, 40].map((m) => chunk(m, 5, `m${m}`))];
    // Newest sample at 45 min: m20 (started 25 min before) is due; m20..m30 ended at least 10 min before.
    assert.deepEqual(names(planCompaction(chunks, new Set(), options)), [['-~compacted', '-m20', '-m25', '-m30']]);
  });

  it('stops the open prefix at a queued chunk, and leaves queued chunks out of closed windows', () => {
    const open = [0, 5, 10, 15, 20, 25, 30, 35, 40].map((m) => chunk(m, 5, `m${m}`));
    assert.deepEqual(names(planCompaction(open, new Set(['m10']), options)), [['-m0', '-m5']]);
    const closed = [...open, chunk(WINDOW / MIN + 20, 5, 'late')];
    const [merge] = planCompaction(closed, new Set(['m10']), options);
    assert.equal(merge.length, open.length - 1);
    assert.ok(merge.every((c) => c.messageId !== 'm10'));
  });

  it('refuses an open-window merge age under the grace (it would merge chunks late rows still land in)', () => {
    assert.throws(() => new ChunkCompactor(undefined as never, new KeySpace('/gputel'), { logger, graceMs: 10 * MIN, openWindowMergeAgeMs: 5 * MIN }), gputelError('BAD_CONFIG', /open-window merge age/));
  });

  it('has nothing to do for a window that is one compacted chunk', () => {
    assert.deepEqual(planCompaction([chunk(0, 120, '~compacted'), chunk(WINDOW / MIN + 30, 5, 'm')], new Set(), options), []);
  });
});

compactionSpec('embedded', async () => {
  const kv = await openKvStore({ dataDir: ':memory:' });
  return { kv, keys: new KeySpace('/gputel'), close: () => kv.close() };
});

describe('on a real etcd', { timeout: 120_000 }, () => {
  const etcd = useEtcdStore();
  let suite = 0;
  compactionSpec('etcd', async () => ({ kv: etcd.store, keys: new KeySpace(`/compaction${++suite}`), close: async () => undefined }));
});
