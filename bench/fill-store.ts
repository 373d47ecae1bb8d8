/**
 * Fills a store the way a user would: a `gputel generate` file streamed by
 * an in-process streamer and collector, then waits until every sample is
 * counted as stored and compaction has merged every closed window.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeGeneratedFile } from '../src/cli/generate-command.js';
import { Collector } from '../src/collector/collector.js';
import { createLogger } from '../src/common/logger.js';
import { CsvFileSource } from '../src/ingest/csv-file-source.js';
import type { KeySpace } from '../src/kv/key-space.js';
import type { KvStore } from '../src/kv/kv-store.js';
import { Streamer } from '../src/streamer/streamer.js';
import { storedSamples, uncompactedChunks } from './store-progress.js';

export interface FleetShape {
  hosts: number;
  gpusPerHost: number;
  hours: number;
  intervalMs: number;
  startMs: number;
}

/** The generator seed of every filled store: another bench generating the same fleet (the Prometheus reference) uses it too. */
export const FILL_SEED = 42;

/** Streams a generated fleet into the store; returns the rows written. */
export async function fillStore(kv: KvStore, keys: KeySpace, shape: FleetShape): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'gputel-bench-fill-'));
  try {
    const file = join(dir, 'dcgm.csv');
    let started = performance.now();
    const rows = await writeGeneratedFile(file, { hosts: shape.hosts, gpusPerHost: shape.gpusPerHost, durationMs: shape.hours * 3_600_000, intervalMs: shape.intervalMs, seed: FILL_SEED, startMs: shape.startMs });
    console.log(`generated ${rows.toLocaleString('en-US')} rows (${(statSync(file).size / 1e6).toFixed(0)} MB) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const logger = createLogger('warn');
    // Maintenance every 2 s (default 30 s) so that compaction has merged every closed window before the measurements.
    const collector = new Collector(kv, keys, { topic: 'telemetry', partitions: 16, logger, maintenanceIntervalMs: 2_000, retentionMs: 3_650 * 86_400_000 });
    await collector.start();
    started = performance.now();
    const source = new CsvFileSource({ path: file, logger });
    const summary = await new Streamer(kv, keys, { source, cluster: 'default', topic: 'telemetry', partitions: 16, batchSamples: 20_000, highWatermark: 1_000, logger }).run();
    if (summary.failure !== undefined) throw new Error(`streaming failed: ${summary.failure}`);
    while ((await storedSamples(kv, keys)) < rows) await sleep(200);
    console.log(`stored through etcd in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    started = performance.now();
    while ((await uncompactedChunks(kv, keys)) > 0) await sleep(1_000);
    await collector.stop();
    console.log(`compacted by the collector ${((performance.now() - started) / 1000).toFixed(1)} s after`);
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
