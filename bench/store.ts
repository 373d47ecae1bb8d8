/**
 * Bytes per sample at rest. Streams a DCGM CSV (default: `gputel generate`,
 * 8 hosts × 8 GPUs × 24 h at 10 s) through a real etcd with the real
 * streamer and collector (in this process, so that maintenance runs every
 * few seconds instead of every 30 s), waits until compaction has done all it
 * would (closed windows, and the open one up to its merge age) and deleted
 * the inputs, then prints:
 *   - chunk keys + values per stored sample,
 *   - the same plus per-GPU metadata, uuid index, latest and host metadata,
 *   - etcd's database size after history compaction and defragmentation,
 * beside the 0.6 target and Prometheus's 1.42 on the same data. Not a test.
 *
 *   npm run bench:store [-- --file F] [-- --hours 24] [-- --no-compaction]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeGeneratedFile } from '../src/cli/generate-command.js';
import { Collector } from '../src/collector/collector.js';
import { createLogger } from '../src/common/logger.js';
import { CsvFileSource } from '../src/ingest/csv-file-source.js';
import { KeySpace } from '../src/kv/key-space.js';
import type { KvStore } from '../src/kv/kv-store.js';
import { openKvStore } from '../src/kv/open-kv-store.js';
import { Streamer } from '../src/streamer/streamer.js';
import { startEtcd } from '../test/support/etcd-process.js';
import { storedSamples, uncompactedChunks } from './store-progress.js';

const TARGET_BYTES_PER_SAMPLE = 0.6;
const PROMETHEUS_BYTES_PER_SAMPLE = 1.42;
const CLUSTER = 'default';
const TOPIC = 'telemetry';
const PARTITIONS = 16;

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

/** Waits until the queue is empty and the stats stop moving. */
async function waitForIngest(kv: KvStore, keys: KeySpace): Promise<number> {
  let last = -1;
  for (;;) {
    const queued = (await kv.range({ prefix: `${keys.topicPrefix(TOPIC)}p/` }, { countOnly: true })).count;
    const samples = await storedSamples(kv, keys);
    if (queued === 0 && samples === last) return samples;
    last = samples;
    await sleep(1_000);
  }
}

interface Footprint {
  chunks: number;
  chunkBytes: number;
  metadataBytes: number;
}

/** Bytes of keys + values: chunks, and GPU/host metadata, uuid index and latest values. */
async function footprint(kv: KvStore, keys: KeySpace): Promise<Footprint> {
  const result: Footprint = { chunks: 0, chunkBytes: 0, metadataBytes: 0 };
  const hosts = await kv.range({ prefix: keys.hostsPrefix(CLUSTER) });
  for (const { key, value } of hosts.kvs) {
    if (key.includes('/data/')) {
      result.chunks++;
      result.chunkBytes += key.length + value.length;
    } else {
      result.metadataBytes += key.length + value.length;
    }
  }
  for (const prefix of [keys.gpuIndexPrefix(CLUSTER), keys.latestPrefix(CLUSTER)]) {
    for (const { key, value } of (await kv.range({ prefix })).kvs) result.metadataBytes += key.length + value.length;
  }
  return result;
}

/** etcd 3.4's JSON gateway: defragments the member (not in the KV contract: gputel never defragments by itself). */
async function defragment(endpoint: string): Promise<void> {
  const response = await fetch(`${endpoint}/v3/maintenance/defragment`, { method: 'POST', body: '{}' });
  if (!response.ok) throw new Error(`defragment: HTTP ${response.status} ${await response.text()}`);
}

async function main(): Promise<void> {
  const compaction = !process.argv.includes('--no-compaction');
  const hours = Number(option('hours') ?? 24);
  const dir = mkdtempSync(join(tmpdir(), 'gputel-bench-store-'));
  const etcd = await startEtcd();
  const logger = createLogger('warn');
  const kv = await openKvStore({ endpoints: etcd.endpoints });
  const keys = new KeySpace();
  const collector = new Collector(kv, keys, {
    topic: TOPIC,
    partitions: PARTITIONS,
    logger,
    maintenanceIntervalMs: compaction ? 2_000 : 365 * 86_400_000,
    // The file's whole span stays: retention counts back from its newest sample.
    retentionMs: 3_650 * 86_400_000,
  });
  try {
    let file = option('file');
    if (file === undefined) {
      file = join(dir, 'dcgm.csv');
      const rows = await writeGeneratedFile(file, { hosts: 8, gpusPerHost: 8, durationMs: hours * 3_600_000, intervalMs: 10_000, seed: 42, startMs: Date.parse('2026-03-02T00:00:00Z') });
      console.log(`store benchmark: gputel generate, 8 hosts × 8 GPUs × ${hours} h at 10 s, ${rows.toLocaleString('en-US')} rows (${(statSync(file).size / 1e6).toFixed(0)} MB)`);
    } else {
      console.log(`store benchmark: ${file} (${(statSync(file).size / 1e6).toFixed(0)} MB)`);
    }
    await collector.start();
    const started = performance.now();
    const summary = await new Streamer(kv, keys, { source: new CsvFileSource({ path: file, logger }), cluster: CLUSTER, topic: TOPIC, partitions: PARTITIONS, batchSamples: 20_000, highWatermark: 1_000, logger }).run();
    if (summary.failure !== undefined) throw new Error(`streaming failed: ${summary.failure}`);
    const samples = await waitForIngest(kv, keys);
    console.log(`ingested ${samples.toLocaleString('en-US')} samples in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    if (compaction) {
      const compactStart = performance.now();
      for (let left = await uncompactedChunks(kv, keys); left > 0; left = await uncompactedChunks(kv, keys)) await sleep(1_000);
      console.log(`compaction done ${((performance.now() - compactStart) / 1000).toFixed(1)} s after ingest`);
    }
    const stored = await storedSamples(kv, keys);
    if (stored !== samples) throw new Error(`stats say ${stored} samples after compaction, ${samples} before`);
    await collector.stop();

    const at = await footprint(kv, keys);
    await kv.compact(await kv.revision());
    await defragment(etcd.endpoints[0]);
    const status = await kv.status();
    const per = (bytes: number): string => (bytes / stored).toFixed(3);
    console.log(`${compaction ? 'after compaction' : 'without compaction'}: ${at.chunks.toLocaleString('en-US')} chunks, ${(stored / at.chunks).toFixed(0)} samples per chunk`);
    console.log(`bytes/sample, chunk keys + values                       : ${per(at.chunkBytes)}`);
    console.log(`bytes/sample, + GPU/host metadata, uuid index, latest   : ${per(at.chunkBytes + at.metadataBytes)}   (target ${TARGET_BYTES_PER_SAMPLE}: ${((at.chunkBytes + at.metadataBytes) / stored / TARGET_BYTES_PER_SAMPLE).toFixed(2)}× it; Prometheus ${PROMETHEUS_BYTES_PER_SAMPLE}: ${((at.chunkBytes + at.metadataBytes) / stored / PROMETHEUS_BYTES_PER_SAMPLE).toFixed(2)}× it)`);
    console.log(`bytes/sample, etcd db after history compaction + defrag : ${per(status.dbSizeBytes)}   (${(status.dbSizeBytes / 1e6).toFixed(1)} MB; in use ${(status.dbSizeInUseBytes / 1e6).toFixed(1)} MB)`);
  } finally {
    await collector.stop();
    await kv.close();
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
