/**
 * Fleet summary benchmark: 64 GPUs (8 hosts × 8) streamed through the real
 * streamer and collector, then GET /api/v1/summary?window=1h through HTTP,
 * on etcd and on the embedded store. Prints p50/p99 against the 5 ms
 * target, first with the rollups the data made, then with every host's
 * rollup at its largest (7 days of 10 s samples), plus the rollups' bytes
 * and the collector's cost of updating them. Not a test; run it while the
 * machine is quiet and read ratios, not absolutes.
 *
 *   npm run bench:summary [-- --hours 2 --requests 2000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeGeneratedFile } from '../src/cli/generate-command.js';
import { Collector } from '../src/collector/collector.js';
import { createLogger } from '../src/common/logger.js';
import { Gateway } from '../src/gateway/gateway.js';
import { CsvFileSource } from '../src/ingest/csv-file-source.js';
import { EtcdKvStore } from '../src/kv/etcd-kv-store.js';
import { KeySpace } from '../src/kv/key-space.js';
import type { KvStore } from '../src/kv/kv-store.js';
import { openKvStore } from '../src/kv/open-kv-store.js';
import { Streamer } from '../src/streamer/streamer.js';
import { ROLLUP_MAX_WINDOW_MS, UtilizationRollup } from '../src/store/utilization-rollup.js';
import { FleetSummary } from '../src/store/fleet-summary.js';
import { Registry } from '../src/store/registry.js';
import { startEtcd } from '../test/support/etcd-process.js';
import { median } from './median.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitForSamples } from '../test/support/api-checks.js';
import { percentile } from './percentile.js';

const HOSTS = 8;
const GPUS_PER_HOST = 8;
const INTERVAL_MS = 10_000;
const TARGET_P99_MS = 5;
const START_MS = Date.parse('2026-03-02T00:00:00Z');
const RUNS = 3;

function argument(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

/** p50 and p99 of `requests` sequential requests, the medians of RUNS runs (the machine is shared: single runs vary). */
async function latencies(url: string, requests: number): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 200; i++) await (await fetch(url)).arrayBuffer(); // warm-up: JIT, connections
  const p50s: number[] = [];
  const p99s: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const times: number[] = [];
    for (let i = 0; i < requests; i++) {
      const started = performance.now();
      const response = await fetch(url);
      await response.arrayBuffer();
      times.push(performance.now() - started);
      if (response.status !== 200) throw new Error(`GET ${url}: ${response.status}`);
    }
    times.sort((a, b) => a - b);
    p50s.push(percentile(times, 50));
    p99s.push(percentile(times, 99));
  }
  return { p50: median(p50s), p99: median(p99s) };
}

/** p50 and p99 of FleetSummary.summarize() itself, in process: what the gateway adds to an HTTP round trip. */
async function inProcess(kv: KvStore, keys: KeySpace, requests: number): Promise<{ p50: number; p99: number }> {
  const registry = new Registry(kv, keys, 'default', createLogger('warn'));
  await registry.start();
  try {
    const summary = new FleetSummary(registry);
    const query = { windowMs: 3_600_000, idleThreshold: 5 };
    for (let i = 0; i < 200; i++) summary.summarize(query);
    const times: number[] = [];
    for (let i = 0; i < requests * RUNS; i++) {
      const started = performance.now();
      summary.summarize(query);
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    return { p50: percentile(times, 50), p99: percentile(times, 99) };
  } finally {
    await registry.stop();
  }
}

/** Replaces every host's rollup with one at its largest: each GPU's 7 days of 10 s samples. */
async function fillRollups(kv: KvStore, keys: KeySpace, newestMs: number): Promise<number> {
  const rollups = await kv.range({ prefix: keys.rollupsPrefix('default') });
  let bytes = 0;
  for (const { key, value } of rollups.kvs) {
    const gpuKeys = UtilizationRollup.decode(value, key).gpuKeys;
    const full = new UtilizationRollup();
    for (const gpuKey of gpuKeys) for (let t = newestMs - ROLLUP_MAX_WINDOW_MS + INTERVAL_MS; t <= newestMs; t += INTERVAL_MS) full.add(gpuKey, t, (t / INTERVAL_MS) % 101);
    const encoded = full.encode().bytes;
    bytes += encoded.length;
    await kv.put(key, encoded);
  }
  return bytes;
}

async function rollupBytes(kv: KvStore, keys: KeySpace): Promise<number> {
  return (await kv.range({ prefix: keys.rollupsPrefix('default') })).kvs.reduce((sum, kv) => sum + kv.value.length + kv.key.length, 0);
}

async function run(driver: string, kv: KvStore, file: string, rows: number, requests: number, newestMs: number): Promise<void> {
  const logger = createLogger('warn');
  const keys = new KeySpace();
  const collector = new Collector(kv, keys, { topic: 'telemetry', partitions: 16, logger });
  const gateway = new Gateway(kv, keys, { cluster: 'default', host: '127.0.0.1', port: 0, logger });
  await collector.start();
  await gateway.start();
  try {
    const baseUrl = `http://127.0.0.1:${gateway.port}`;
    const source = new CsvFileSource({ path: file, logger });
    const summary = await new Streamer(kv, keys, { source, cluster: 'default', topic: 'telemetry', partitions: 16, batchSamples: 20_000, highWatermark: 1_000, logger }).run();
    if (summary.failure !== undefined) throw new Error(`streaming failed: ${summary.failure}`);
    await waitForSamples(baseUrl, rows, 600_000);
    await sleep(2_000); // let the store settle after the ingest
    const url = `${baseUrl}/api/v1/summary?window=1h&idle_threshold=5`;
    // The floor on this machine now: an HTTP round trip that reads nothing (the tails follow the machine's load).
    const floor = await latencies(`${baseUrl}/healthz`, requests);
    const asIngested = await latencies(url, requests);
    const ingestedBytes = await rollupBytes(kv, keys);
    const fullBytes = await fillRollups(kv, keys, newestMs);
    const full = await latencies(url, requests);
    const fullInProcess = await inProcess(kv, keys, requests);
    const line = (what: string, { p50, p99 }: { p50: number; p99: number }): string =>
      `${driver.padEnd(8)} summary 1h, 64 GPUs, ${what.padEnd(28)}: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms (${(p99 / TARGET_P99_MS).toFixed(2)}× the ${TARGET_P99_MS} ms target)`;
    console.log(`${driver.padEnd(8)} GET /healthz (floor: HTTP only)                  : p50 ${floor.p50.toFixed(2)} ms, p99 ${floor.p99.toFixed(2)} ms`);
    console.log(line('rollups as ingested', asIngested));
    console.log(line('rollups at 7 days (largest)', full));
    console.log(line('7 days, summarize() in process', fullInProcess));
    console.log(`${driver.padEnd(8)} rollup bytes at rest (keys included): ${ingestedBytes} as ingested, ${fullBytes} at 7 days (${(fullBytes / HOSTS / GPUS_PER_HOST).toFixed(0)} B per GPU)`);
  } finally {
    await gateway.stop();
    await collector.stop();
  }
}

/** What a collector spends on one host's rollup per message: the new samples added, then the whole value encoded. */
function collectorCost(): void {
  const rollup = new UtilizationRollup();
  const newest = START_MS + ROLLUP_MAX_WINDOW_MS;
  for (let g = 0; g < GPUS_PER_HOST; g++) for (let t = START_MS + INTERVAL_MS; t <= newest; t += INTERVAL_MS) rollup.add(`GPU-${g}`, t, 50);
  rollup.encode();
  // A 20,000-sample flush over 16 partitions gives a host ~1,250 samples: ~9 timestamps of its 8 GPUs.
  const rounds = 2_000;
  let t = newest;
  const started = performance.now();
  for (let r = 0; r < rounds; r++) {
    for (let s = 0; s < 9; s++) {
      t += INTERVAL_MS;
      for (let g = 0; g < GPUS_PER_HOST; g++) rollup.add(`GPU-${g}`, t, 50);
    }
    rollup.encode();
  }
  const perMessageUs = ((performance.now() - started) / rounds) * 1000;
  console.log(`collector: one host's rollup (8 GPUs at 7 days) updated and encoded per message: ${perMessageUs.toFixed(0)} µs, ${rollup.encode().bytes.length} bytes written`);
}

async function main(): Promise<void> {
  const hours = argument('hours', 2);
  const requests = argument('requests', 2_000);
  const dir = mkdtempSync(join(tmpdir(), 'gputel-bench-summary-'));
  const file = join(dir, 'fleet.csv');
  const durationMs = hours * 3_600_000;
  const rows = await writeGeneratedFile(file, { hosts: HOSTS, gpusPerHost: GPUS_PER_HOST, durationMs, intervalMs: INTERVAL_MS, seed: 7, startMs: START_MS });
  const newestMs = START_MS + durationMs - INTERVAL_MS;
  console.log(`${rows} rows: ${HOSTS} hosts × ${GPUS_PER_HOST} GPUs, ${hours} h at ${INTERVAL_MS / 1000} s; medians of ${RUNS} runs of ${requests} requests`);
  const etcd = await startEtcd();
  const etcdKv = await EtcdKvStore.connect({ endpoints: etcd.endpoints });
  try {
    await run('etcd', etcdKv, file, rows, requests, newestMs);
  } finally {
    await etcdKv.close();
    await etcd.stop();
  }
  const embedded = await openKvStore({ dataDir: join(dir, 'embedded') });
  try {
    await run('embedded', embedded, file, rows, requests, newestMs);
  } finally {
    await embedded.close();
  }
  collectorCost();
  rmSync(dir, { recursive: true, force: true });
}

await main();
