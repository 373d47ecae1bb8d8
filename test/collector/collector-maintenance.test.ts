/**
 * The collector runs compaction and retention itself, between messages of
 * each partition it owns: a generated export streamed through the real
 * streamer and collector ends with every closed window merged, old data
 * removed, and stats that count exactly what readers see.
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
import { listGpuChunks } from '../../src/store/maintenance/gpu-chunk-list.js';
import { Streamer } from '../../src/streamer/streamer.js';
import { MaintenanceFixture, logger, CLUSTER } from '../support/maintenance-fixture.js';

const HOUR = 3_600_000;

describe('collector maintenance', { timeout: 60_000 }, () => {
  it('compacts closed windows and applies retention by itself, keeping stats equal to what is stored', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gputel-maintenance-'));
    const kv = await openKvStore({ dataDir: ':memory:' });
    const keys = new KeySpace('/gputel');
    const collector = new Collector(kv, keys, { topic: 'telemetry', partitions: 4, logger, retentionMs: 3 * HOUR, maintenanceIntervalMs: 100, compaction: { inputDeleteDelayMs: 0 } });
    try {
      await collector.start();
      const file = join(dir, 'fleet.csv');
      const startMs = Date.parse('2026-03-02T00:00:00Z');
      const rows = await writeGeneratedFile(file, { hosts: 3, gpusPerHost: 2, durationMs: 7 * HOUR, intervalMs: 60_000, seed: 7, startMs });
      const summary = await new Streamer(kv, keys, { source: new CsvFileSource({ path: file, logger }), cluster: CLUSTER, topic: 'telemetry', partitions: 4, batchSamples: 2_000, highWatermark: 1_000, logger }).run();
      assert.equal(summary.goodRows, rows);

      // Done when every GPU holds only compacted chunks in closed windows, and nothing from before the cutoff.
      const newestMs = startMs + 7 * HOUR - 60_000;
      const settled = async (): Promise<boolean> => {
        if ((await kv.range({ prefix: keys.topicPrefix('telemetry') + 'p/' }, { countOnly: true })).count > 0) return false;
        const index = await kv.range({ prefix: keys.gpuIndexPrefix(CLUSTER) }, { keysOnly: true });
        if (index.count !== 6) return false;
        for (const { key } of index.kvs) {
          const [gpuKey, hostname] = key.slice(keys.gpuIndexPrefix(CLUSTER).length).split('/');
          for (const chunk of await listGpuChunks(kv, keys, { cluster: CLUSTER, hostname, gpuKey })) {
            if (chunk.endMs < newestMs - 3 * HOUR) return false;
            if (!chunk.compacted && chunk.startMs < startMs + 6 * HOUR) return false;
          }
        }
        return true;
      };
      for (let i = 0; i < 300 && !(await settled()); i++) await sleep(100);
      assert.ok(await settled(), 'compaction and retention ran');

      let samples = 0;
      let records = 0;
      for (const { value } of (await kv.range({ prefix: keys.statsPrefix(CLUSTER) })).kvs) {
        const stats = decodePartitionStats(value);
        samples += stats.samples;
        records += stats.records;
      }
      const readable = await new MaintenanceFixture(kv, keys).readableCounts();
      assert.deepEqual({ samples, records }, readable);
      assert.ok(samples < rows * 0.8, `${samples} of ${rows} samples kept: the first 2 h are gone`);
    } finally {
      await collector.stop();
      await kv.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
