/**
 * The collector runs compaction and retention itself, between messages of
 * each partition it owns: a generated export streamed through the real
 * streamer and collector ends with every closed window merged, the open one
 * merged up to its merge age, old data removed, and stats that count exactly
 * what readers see.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeGeneratedFile } from '../../src/cli/generate-command.js';
import { Collector } from '../../src/collector/collector.js';
import { CsvFileSource } from '../../src/ingest/csv-file-source.js';
import { KeySpace } from '../../src/kv/key-space.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { decodePartitionStats } from '../../src/store/gpu-records.js';
import { DEFAULT_COMPACTION_GRACE_MS, DEFAULT_COMPACTION_WINDOW_MS, DEFAULT_OPEN_WINDOW_MERGE_AGE_MS, planCompaction } from '../../src/store/maintenance/chunk-compactor.js';
import { listGpuChunks } from '../../src/store/maintenance/gpu-chunk-list.js';
import { Streamer } from '../../src/streamer/streamer.js';
import { MaintenanceFixture, logger, CLUSTER } from '../support/maintenance-fixture.js';

const HOUR = 3_600_000;
/** Less than the data's 7 h minus the 4 h window: the closed window [0, 4 h) goes whole, the open one stays. */
const RETENTION = 2 * HOUR;

describe('collector maintenance', { timeout: 60_000 }, () => {
  it('compacts closed windows and applies retention by itself, keeping stats equal to what is stored', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gputel-maintenance-'));
    const kv = await openKvStore({ dataDir: ':memory:' });
    const keys = new KeySpace('/gputel');
    const collector = new Collector(kv, keys, { topic: 'telemetry', partitions: 4, logger, retentionMs: RETENTION, maintenanceIntervalMs: 100, compaction: { inputDeleteDelayMs: 0 } });
    try {
      await collector.start();
      const file = join(dir, 'fleet.csv');
      const startMs = Date.parse('2026-03-02T00:00:00Z');
      const rows = await writeGeneratedFile(file, { hosts: 3, gpusPerHost: 2, durationMs: 7 * HOUR, intervalMs: 60_000, seed: 7, startMs });
      const summary = await new Streamer(kv, keys, { source: new CsvFileSource({ path: file, logger }), cluster: CLUSTER, topic: 'telemetry', partitions: 4, batchSamples: 2_000, highWatermark: 1_000, logger }).run();
      assert.equal(summary.goodRows, rows);

      // Done when no GPU has a merge due (the compactor's own plan) and nothing from before the cutoff.
      const plan = { windowMs: DEFAULT_COMPACTION_WINDOW_MS, graceMs: DEFAULT_COMPACTION_GRACE_MS, openWindowMergeAgeMs: DEFAULT_OPEN_WINDOW_MERGE_AGE_MS };
      const newestMs = startMs + 7 * HOUR - 60_000;
      const settled = async (): Promise<boolean> => {
        if ((await kv.range({ prefix: keys.topicPrefix('telemetry') + 'p/' }, { countOnly: true })).count > 0) return false;
        const index = await kv.range({ prefix: keys.gpuIndexPrefix(CLUSTER) }, { keysOnly: true });
        if (index.count !== 6) return false;
        for (const { key } of index.kvs) {
          const [gpuKey, hostname] = key.slice(keys.gpuIndexPrefix(CLUSTER).length).split('/');
          const chunks = await listGpuChunks(kv, keys, { cluster: CLUSTER, hostname, gpuKey });
          if (chunks.some((chunk) => chunk.endMs < newestMs - RETENTION)) return false;
          if (planCompaction(chunks, new Set(), plan).length > 0) return false;
        }
        return true;
      };
      for (let i = 0; i < 300 && !(await settled()); i++) await sleep(100);
      assert.ok(await settled(), 'compaction and retention ran');

      // The open window [4 h, 8 h): its partial merge, then only chunks too recent to merge (ended within the grace, or after one that did).
      for (const { key } of (await kv.range({ prefix: keys.gpuIndexPrefix(CLUSTER) }, { keysOnly: true })).kvs) {
        const [gpuKey, hostname] = key.slice(keys.gpuIndexPrefix(CLUSTER).length).split('/');
        const chunks = await listGpuChunks(kv, keys, { cluster: CLUSTER, hostname, gpuKey });
        assert.ok(chunks[0].compacted && chunks[0].startMs >= startMs + 4 * HOUR, `${gpuKey}: the open window (what retention left of it) starts with its partial merge: ${chunks.map((chunk) => chunk.key.slice(-60)).join(' ')}`);
        assert.equal(chunks.filter((chunk) => chunk.compacted).length, 1, `${gpuKey}: one partial merge`);
        const unmerged = chunks.filter((chunk) => !chunk.compacted);
        assert.ok(unmerged.length > 0 && unmerged[0].startMs + DEFAULT_OPEN_WINDOW_MERGE_AGE_MS > newestMs, `${gpuKey}: what is left unmerged is younger than the merge age`);
      }

      let samples = 0;
      let records = 0;
      for (const { value } of (await kv.range({ prefix: keys.statsPrefix(CLUSTER) })).kvs) {
        const stats = decodePartitionStats(value);
        samples += stats.samples;
        records += stats.records;
      }
      const readable = await new MaintenanceFixture(kv, keys).readableCounts();
      assert.deepEqual({ samples, records }, readable);
      assert.ok(samples < rows * 0.5, `${samples} of ${rows} samples kept: the first 4 h are gone`);
    } finally {
      await collector.stop();
      await kv.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('after a restart, removes the data of a host that stopped sending once other hosts move the cluster on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gputel-maintenance-'));
    const kv = await openKvStore({ dataDir: ':memory:' });
    const keys = new KeySpace('/gputel');
    const options = { topic: 'telemetry', partitions: 4, cluster: CLUSTER, logger, retentionMs: 1 * HOUR, maintenanceIntervalMs: 100, compaction: { inputDeleteDelayMs: 0 } };
    const stream = async (file: string): Promise<void> => {
      const summary = await new Streamer(kv, keys, { source: new CsvFileSource({ path: file, logger }), cluster: CLUSTER, topic: 'telemetry', partitions: 4, batchSamples: 2_000, highWatermark: 1_000, logger }).run();
      assert.equal(summary.failure, undefined);
    };
    const startMs = Date.parse('2026-03-02T00:00:00Z');
    let collector = new Collector(kv, keys, options);
    try {
      await collector.start();
      // gpu-node-01 and gpu-node-02 fall in different partitions of 4 (2 and 3).
      const first = join(dir, 'first.csv');
      await writeGeneratedFile(first, { hosts: 2, gpusPerHost: 1, durationMs: 2 * HOUR, intervalMs: 60_000, seed: 3, startMs });
      await stream(first);
      for (let i = 0; i < 100 && (await kv.range({ prefix: keys.topicPrefix('telemetry') + 'p/' }, { countOnly: true })).count > 0; i++) await sleep(50);
      await collector.stop();

      // A new collector; only gpu-node-01 sends again, hours later: gpu-node-02's partition gets no message.
      collector = new Collector(kv, keys, options);
      await collector.start();
      await sleep(2_000); // its first rounds (a new owner's, then any left work) are over before the cluster moves on
      const later = join(dir, 'later.csv');
      await writeGeneratedFile(later, { hosts: 1, gpusPerHost: 1, durationMs: 1 * HOUR, intervalMs: 60_000, seed: 4, startMs: startMs + 6 * HOUR });
      await stream(later);
      const gone = async (): Promise<boolean> => (await kv.range({ prefix: keys.hostPrefix(CLUSTER, 'gpu-node-02') }, { countOnly: true })).count === 0;
      for (let i = 0; i < 150 && !(await gone()); i++) await sleep(100);
      assert.ok(await gone(), "the quiet host's chunks and metadata are removed by retention");
      assert.equal(await kv.get(keys.latest(CLUSTER, 'gpu-node-02')), undefined);
    } finally {
      await collector.stop();
      await kv.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
