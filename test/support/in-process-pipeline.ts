/**
 * The whole pipeline in this process on an in-memory embedded store, for
 * tests of one layer with real neighbours (no mocks): stream a file, let the
 * collector store it, serve it from a gateway on a real loopback port.
 */
import { Collector } from '../../src/collector/collector.js';
import { createLogger } from '../../src/common/logger.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore } from '../../src/kv/kv-store.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { CsvFileSource } from '../../src/ingest/csv-file-source.js';
import { Streamer, type StreamSummary } from '../../src/streamer/streamer.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitForSamples } from './api-checks.js';

export interface InProcessPipeline {
  kv: KvStore;
  keys: KeySpace;
  collector: Collector;
  gateway: Gateway;
  baseUrl: string;
  /**
   * Streams a file and waits until every good row is stored, or, with
   * `newSamples`, until the queue is drained and that many samples were added.
   */
  ingest(file: string, options?: { batchSamples?: number; newSamples?: number }): Promise<StreamSummary>;
  stop(): Promise<void>;
}

/**
 * Starts the pipeline on `options.kv` (left open at stop: its owner closes
 * it; an etcd driver, say), or on a new in-memory embedded store.
 */
export async function startInProcessPipeline(options: { kv?: KvStore } = {}): Promise<InProcessPipeline> {
  const logger = createLogger('silent');
  const kv = options.kv ?? (await openKvStore({ dataDir: ':memory:' }));
  const keys = new KeySpace('/gputel');
  const collector = new Collector(kv, keys, { topic: 'telemetry', partitions: 4, logger });
  const gateway = new Gateway(kv, keys, { cluster: 'default', host: '127.0.0.1', port: 0, logger });
  await collector.start();
  await gateway.start();
  const baseUrl = `http://127.0.0.1:${gateway.port}`;
  let storedSamples = 0;
  return {
    kv,
    keys,
    collector,
    gateway,
    baseUrl,
    async ingest(file, options = {}) {
      const source = new CsvFileSource({ path: file, logger });
      const summary = await new Streamer(kv, keys, { source, cluster: 'default', topic: 'telemetry', partitions: 4, batchSamples: options.batchSamples ?? 20_000, highWatermark: 1_000, logger }).run();
      if (summary.failure !== undefined) throw new Error(`streaming ${file} failed: ${summary.failure}`);
      storedSamples += options.newSamples ?? summary.goodRows;
      await waitForSamples(baseUrl, storedSamples);
      const queued = `${keys.topicPrefix('telemetry')}p/`;
      for (let i = 0; i < 200 && (await kv.range({ prefix: queued }, { countOnly: true })).count > 0; i++) await sleep(25);
      return summary;
    },
    async stop() {
      await gateway.stop();
      await collector.stop();
      if (!options.kv) await kv.close();
    },
  };
}
