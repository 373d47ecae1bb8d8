/**
 * Live stream benchmark: one gateway, 256 GPUs (32 hosts × 8) each storing a
 * record every second (one transaction per host, as a collector writes a
 * host's chunks), and K WebSocket clients (in a child process) each
 * subscribed to one GPU, so each receives 1 update/s. For each K it prints
 * the gateway's memory per client (RSS and heap, after GC) and the latency
 * from a record's write to the store to its arrival at a client (p50/p99),
 * with the records received against those expected. The latency starts at
 * the store write: what comes before (the streamer's flush interval, the
 * queue, the collector) is the ingest benchmarks' business. Not a test; the
 * machine is shared: read ratios and trends, not absolutes.
 *
 *   npm run build && node --expose-gc dist/bench/ws-stream.js [--clients 1000,5000,10000] [--seconds 10] [--store embedded|etcd] [--burst]
 *   … [--pipeline [--flush-ms 10] [--burst]]: rows from the simulator through streamer, queue and
 *   collector instead; hosts sample spread over the second as real hosts do, or with --burst all
 *   256 GPUs on the same instant (the worst case)
 *   … [--json FILE]: writes every step's figures for `npm run bench` (bench/figures-file.ts)
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../src/common/logger.js';
import { Collector } from '../src/collector/collector.js';
import { Gateway } from '../src/gateway/gateway.js';
import { SimulatorSource } from '../src/ingest/simulator-source.js';
import { Streamer } from '../src/streamer/streamer.js';
import { SpreadHostsSource } from './spread-hosts-source.js';
import { EtcdKvStore } from '../src/kv/etcd-kv-store.js';
import { KeySpace } from '../src/kv/key-space.js';
import type { KvStore, TxnOp } from '../src/kv/kv-store.js';
import { openKvStore } from '../src/kv/open-kv-store.js';
import { encodeChunk } from '../src/store/chunk-codec.js';
import { encodeJson, type GpuMetadata } from '../src/store/gpu-records.js';
import { NAMED_FIELDS } from '../src/store/named-fields.js';
import { startEtcd } from '../test/support/etcd-process.js';
import { jsonPathArgument, writeFigures } from './figures-file.js';
import { percentile } from './percentile.js';

const HOSTS = 32;
const GPUS_PER_HOST = 8;
const CLUSTER = 'default';
const METRICS = NAMED_FIELDS.map(([, field]) => field);

function argument(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

const hostname = (h: number): string => `bench-node-${String(h).padStart(2, '0')}`;
const uuid = (h: number, g: number): string => `GPU-bench-${h}-${g}`;

async function register(kv: KvStore, keys: KeySpace): Promise<void> {
  for (let h = 0; h < HOSTS; h++) {
    const ops: TxnOp[] = [];
    for (let g = 0; g < GPUS_PER_HOST; g++) {
      const metadata: GpuMetadata = {
        gpuKey: uuid(h, g), uuid: uuid(h, g), gpuId: g, hostname: hostname(h), device: `nvidia${g}`, modelName: 'H100', driverVersion: '',
        migInstanceId: '', migProfile: '', firstSeenMs: Date.now(), maxChunkSpanMs: 0, metricAliases: {},
      };
      ops.push({ type: 'put', key: keys.gpuMetadata(CLUSTER, hostname(h), uuid(h, g)), value: encodeJson(metadata) });
      ops.push({ type: 'put', key: keys.gpuIndex(CLUSTER, uuid(h, g), hostname(h)), value: encodeJson(metadata) });
    }
    await kv.txn({ success: ops });
  }
}

/**
 * Writes one record per GPU, one transaction per host: all at once with
 * `burst`, else spread evenly over the second, as unsynchronised streamers
 * flush (the burst measures fanning out 256 records to every client at once).
 */
async function writeSecond(kv: KvStore, keys: KeySpace, sequence: number, burst: boolean): Promise<void> {
  const secondStartMs = Date.now();
  await Promise.all(
    Array.from({ length: HOSTS }, async (_, h) => {
      if (!burst) await sleep(Math.max(0, secondStartMs + (h * 1_000) / HOSTS - Date.now()));
      const nowMs = Date.now();
      const ops: TxnOp[] = [];
      for (let g = 0; g < GPUS_PER_HOST; g++) {
        const chunk = {
          timestampsMs: Float64Array.of(nowMs),
          metrics: METRICS,
          columns: METRICS.map((_, m) => Float64Array.of(m * 10 + g)),
          attributions: [{ container: '', pod: '', namespace: '' }],
          attributionIndex: new Uint32Array(1),
        };
        ops.push({ type: 'put', key: keys.gpuChunk(CLUSTER, hostname(h), uuid(h, g), nowMs, nowMs, `w${sequence}-${h}`), value: encodeChunk(chunk) });
      }
      return kv.txn({ success: ops });
    }),
  );
}

/** One step of the bench: `clients` clients held for `seconds`. */
interface StepFigures {
  clients: number;
  connectSeconds: number;
  rssBytesPerClient: number;
  heapBytesPerClient: number;
  recordsReceived: number;
  recordsExpected: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
}

/** Connects `clients` clients (each to one GPU of `gpuIds`) in a child process, measures for `seconds`, prints a row and returns its figures. */
async function measureClients(url: string, gpuIds: string[], clients: number, seconds: number): Promise<StepFigures> {
  collectGarbage();
  const before = process.memoryUsage();
  const child = fork(new URL('./ws-stream-clients.js', import.meta.url), [url, String(clients), gpuIds.join(',')], { stdio: 'inherit' });
  const next = async (type: string): Promise<Record<string, unknown>> => {
    for (;;) {
      const [message] = (await once(child, 'message')) as [Record<string, unknown>];
      if (message.type === 'failed') throw new Error(`clients failed: ${String(message.error)}`);
      if (message.type === type) return message;
    }
  };
  const connectStarted = Date.now();
  await next('connected');
  const connectSeconds = (Date.now() - connectStarted) / 1000;
  await sleep(2_000);
  collectGarbage();
  const after = process.memoryUsage();
  child.send({ type: 'reset' });
  await next('reset');
  await sleep(seconds * 1_000);
  child.send({ type: 'report' });
  const report = (await next('report')) as { records: number; latenciesMs: number[] };
  child.send({ type: 'close' });
  await once(child, 'exit');
  const sorted = report.latenciesMs.sort((a, b) => a - b);
  const perClient = (bytes: number): string => `${(bytes / clients / 1024).toFixed(1)} KiB`;
  console.log(
    `${clients} | ${connectSeconds.toFixed(1)} | ${perClient(after.rss - before.rss)} | ${perClient(after.heapUsed - before.heapUsed)} | ` +
      `${report.records}/${clients * seconds} | ${percentile(sorted, 50)} ms | ${percentile(sorted, 99)} ms`,
  );
  await sleep(2_000); // the gateway sees the clients go
  return {
    clients,
    connectSeconds,
    rssBytesPerClient: (after.rss - before.rss) / clients,
    heapBytesPerClient: (after.heapUsed - before.heapUsed) / clients,
    recordsReceived: report.records,
    recordsExpected: clients * seconds,
    latencyP50Ms: percentile(sorted, 50),
    latencyP99Ms: percentile(sorted, 99),
  };
}

async function openStore(storeKind: string): Promise<{ kv: KvStore; close: () => Promise<void> }> {
  if (storeKind !== 'etcd') {
    const kv = await openKvStore({ dataDir: ':memory:' });
    return { kv, close: () => kv.close() };
  }
  const etcd = await startEtcd();
  const kv = await EtcdKvStore.connect({ endpoints: etcd.endpoints });
  return {
    kv,
    close: async () => {
      await kv.close();
      await etcd.stop();
    },
  };
}

/** Records written straight to the store: what the gateway adds, from the store write to the client. */
async function fromStore(storeKind: string, clientCounts: number[], seconds: number, burst: boolean): Promise<StepFigures[]> {
  const { kv, close } = await openStore(storeKind);
  const keys = new KeySpace('/gputel');
  await register(kv, keys);
  const gateway = new Gateway(kv, keys, { cluster: CLUSTER, host: '127.0.0.1', port: 0, logger: createLogger('warn') });
  await gateway.start();
  const gpuIds = Array.from({ length: HOSTS * GPUS_PER_HOST }, (_, i) => uuid(Math.floor(i / GPUS_PER_HOST), i % GPUS_PER_HOST));
  let sequence = 0;
  let writing = true;
  const writer = (async () => {
    while (writing) {
      const started = Date.now();
      await writeSecond(kv, keys, sequence++, burst);
      await sleep(Math.max(0, 1_000 - (Date.now() - started)));
    }
  })();
  console.log(
    `live stream: ${HOSTS * GPUS_PER_HOST} GPUs, 1 record/s each (${burst ? 'all hosts at once' : 'hosts spread over the second'}), ${storeKind} store, clients each subscribed to one GPU; ${seconds} s per step`,
  );
  console.log('clients | connect s | RSS/client | heap/client | records got/expected | write→client p50 | p99');
  try {
    const steps: StepFigures[] = [];
    for (const clients of clientCounts) steps.push(await measureClients(`ws://127.0.0.1:${gateway.port}/ws`, gpuIds, clients, seconds));
    return steps;
  } finally {
    writing = false;
    await writer;
    await gateway.stop();
    await close();
  }
}

/**
 * The whole pipeline: the simulator (rows stamped with the wall clock of
 * their tick, 256 GPUs at 1 s; hosts spread over the second unless `burst`)
 * → streamer (flush interval `flushIntervalMs`) → queue → collector → store
 * → gateway → client: the latency of a row entering the streamer to its
 * record reaching a client.
 */
async function fromStreamer(storeKind: string, clientCounts: number[], seconds: number, flushIntervalMs: number, burst: boolean): Promise<StepFigures[]> {
  const { kv, close } = await openStore(storeKind);
  const keys = new KeySpace('/gputel');
  const logger = createLogger('warn');
  const collector = new Collector(kv, keys, { topic: 'telemetry', partitions: 16, logger });
  const gateway = new Gateway(kv, keys, { cluster: CLUSTER, host: '127.0.0.1', port: 0, logger });
  await collector.start();
  await gateway.start();
  const fleet = { hosts: HOSTS, gpusPerHost: GPUS_PER_HOST, intervalMs: 1_000, backfillMs: 0 };
  const source = burst ? new SimulatorSource(fleet) : new SpreadHostsSource(fleet);
  const streamer = new Streamer(kv, keys, { source, cluster: CLUSTER, topic: 'telemetry', partitions: 16, batchSamples: 20_000, highWatermark: 1_000, flushIntervalMs, logger });
  const streaming = streamer.run();
  const baseUrl = `http://127.0.0.1:${gateway.port}`;
  let gpuIds: string[] = [];
  for (let i = 0; i < 300 && gpuIds.length < HOSTS * GPUS_PER_HOST; i++) {
    await sleep(100);
    gpuIds = ((await (await fetch(`${baseUrl}/api/v1/gpus`)).json()) as { data: { uuid: string }[] }).data.map((gpu) => gpu.uuid);
  }
  console.log(
    `live stream through the whole pipeline: simulator ${HOSTS * GPUS_PER_HOST} GPUs at 1 s (${burst ? 'all hosts on the same instant' : 'hosts spread over the second'}), ` +
      `streamer flush interval ${flushIntervalMs} ms, ${storeKind} store; ${seconds} s per step`,
  );
  console.log('clients | connect s | RSS/client | heap/client | records got/expected | row→client p50 | p99');
  try {
    const steps: StepFigures[] = [];
    for (const clients of clientCounts) steps.push(await measureClients(`ws://127.0.0.1:${gateway.port}/ws`, gpuIds, clients, seconds));
    return steps;
  } finally {
    await streamer.stop();
    await streaming;
    await gateway.stop();
    await collector.stop();
    await close();
  }
}

async function main(): Promise<void> {
  const clientCounts = argument('clients', '1000,5000,10000').split(',').map(Number);
  const seconds = Number(argument('seconds', '10'));
  const storeKind = argument('store', 'embedded');
  const pipeline = process.argv.includes('--pipeline');
  const burst = process.argv.includes('--burst');
  const flushIntervalMs = Number(argument('flush-ms', '10'));
  const jsonPath = jsonPathArgument();
  const steps = pipeline ? await fromStreamer(storeKind, clientCounts, seconds, flushIntervalMs, burst) : await fromStore(storeKind, clientCounts, seconds, burst);
  writeFigures(jsonPath, { gpus: HOSTS * GPUS_PER_HOST, pipeline, burst, store: storeKind, flushIntervalMs: pipeline ? flushIntervalMs : undefined, secondsPerStep: seconds, steps });
}

await main();
