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
 *   … --store etcd --gateways N: N `gputel gateway` processes instead of one in this process, and the
 *   clients split evenly over them, one client process each (as behind a load balancer): what one
 *   process cannot hold where open files are limited (20,000 clients need 20,000 sockets). Their
 *   memory per client is the gateways' RSS from /proc, without a forced GC, and no heap figure.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
import { findFreePort, startEtcd } from '../test/support/etcd-process.js';
import { runGputel, type GputelProcess } from '../test/support/gputel-process.js';
import { waitFor } from '../test/support/wait-for.js';
import { writeFigures } from './figures-file.js';
import { benchOptions, usageError } from './bench-options.js';
import { percentile } from './percentile.js';

const HOSTS = 32;
const GPUS_PER_HOST = 8;
const CLUSTER = 'default';
const METRICS = NAMED_FIELDS.map(([, field]) => field);

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
  /** Gateways the clients were split over. */
  gateways: number;
  connectSeconds: number;
  rssBytesPerClient: number;
  heapBytesPerClient: number;
  recordsReceived: number;
  recordsExpected: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
}

/** Where clients connect: the gateway in this process (no pid), or a gateway process. */
interface GatewayTarget {
  url: string;
  pid?: number;
}

/** Memory of the gateways: this process's after a GC, or the processes' RSS (bytes) as the kernel counts it. */
function gatewayMemory(targets: readonly GatewayTarget[]): { rss: number; heapUsed: number } {
  if (targets.every((target) => target.pid === undefined)) {
    collectGarbage();
    return process.memoryUsage();
  }
  let rss = 0;
  for (const { pid } of targets) rss += Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;
  return { rss, heapUsed: NaN };
}

/** One client process: `clients` clients of one gateway, driven through IPC (bench/ws-stream-clients.ts). */
function clientProcess(url: string, clients: number, gpuIds: string[]): { next: (type: string) => Promise<Record<string, unknown>>; child: ChildProcess } {
  const child = fork(new URL('./ws-stream-clients.js', import.meta.url), [url, String(clients), gpuIds.join(',')], { stdio: 'inherit' });
  const messages: Record<string, unknown>[] = [];
  let wake: (() => void) | undefined;
  let exit: string | undefined;
  child.on('message', (message: Record<string, unknown>) => {
    messages.push(message);
    wake?.();
  });
  // A client process that dies without a word (EMFILE, OOM) must fail the step, not leave it waiting for ever.
  child.once('exit', (code, signal) => {
    exit = `the client process exited (${code ?? signal}) before it answered`;
    wake?.();
  });
  const next = async (type: string): Promise<Record<string, unknown>> => {
    for (;;) {
      const message = messages.shift();
      if (message?.type === 'failed') throw new Error(`clients failed: ${String(message.error)}`);
      if (message?.type === type) return message;
      if (message !== undefined) continue;
      if (exit !== undefined) throw new Error(exit);
      await new Promise<void>((resolve) => (wake = resolve));
    }
  };
  return { next, child };
}

/**
 * Connects `clients` clients (each to one GPU of `gpuIds`), split evenly over the gateways with a client process each,
 * measures for `seconds`, prints a row and returns its figures.
 */
async function measureClients(targets: readonly GatewayTarget[], gpuIds: string[], clients: number, seconds: number): Promise<StepFigures> {
  const before = gatewayMemory(targets);
  const share = (i: number): number => Math.floor(clients / targets.length) + (i < clients % targets.length ? 1 : 0);
  // Each process's clients start at a different GPU, so that the GPUs stay evenly watched whatever the split.
  let firstGpu = 0;
  const processes = targets.map((target, i) => {
    const rotated = [...gpuIds.slice(firstGpu % gpuIds.length), ...gpuIds.slice(0, firstGpu % gpuIds.length)];
    firstGpu += share(i);
    return clientProcess(target.url, share(i), rotated);
  });
  const all = async (type: string): Promise<Record<string, unknown>[]> => Promise.all(processes.map((p) => p.next(type)));
  try {
    const connectStarted = Date.now();
    await all('connected');
    const connectSeconds = (Date.now() - connectStarted) / 1000;
    await sleep(2_000);
    const after = gatewayMemory(targets);
    for (const { child } of processes) child.send({ type: 'reset' });
    await all('reset');
    await sleep(seconds * 1_000);
    for (const { child } of processes) child.send({ type: 'report' });
    const reports = (await all('report')) as unknown as { records: number; latenciesMs: number[] }[];
    const records = reports.reduce((sum, report) => sum + report.records, 0);
    const sorted = reports.flatMap((report) => report.latenciesMs).sort((a, b) => a - b);
    const perClient = (bytes: number): string => (Number.isNaN(bytes) ? '—' : `${(bytes / clients / 1024).toFixed(1)} KiB`);
    console.log(
      `${clients}${targets.length > 1 ? ` (${targets.length} gateways)` : ''} | ${connectSeconds.toFixed(1)} | ${perClient(after.rss - before.rss)} | ${perClient(after.heapUsed - before.heapUsed)} | ` +
        `${records}/${clients * seconds} | ${percentile(sorted, 50)} ms | ${percentile(sorted, 99)} ms`,
    );
    return {
      clients,
      gateways: targets.length,
      connectSeconds,
      rssBytesPerClient: (after.rss - before.rss) / clients,
      heapBytesPerClient: (after.heapUsed - before.heapUsed) / clients,
      recordsReceived: records,
      recordsExpected: clients * seconds,
      latencyP50Ms: percentile(sorted, 50),
      latencyP99Ms: percentile(sorted, 99),
    };
  } finally {
    for (const { child } of processes) if (child.exitCode === null && child.connected) child.send({ type: 'close' });
    for (const { child } of processes) if (child.exitCode === null && !child.connected) child.kill('SIGKILL');
    await Promise.all(processes.filter(({ child }) => child.exitCode === null && child.signalCode === null).map(({ child }) => once(child, 'exit')));
    await sleep(2_000); // the gateways see the clients go
  }
}

/** Gateway processes started and not yet stopped: killed as a last resort if this process exits or is signalled first. */
const startedGateways = new Set<GputelProcess>();

function killStartedGateways(): void {
  for (const gateway of startedGateways) {
    try {
      process.kill(gateway.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.once('exit', killStartedGateways);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killStartedGateways();
    // Then the signal's own course (etcd-process.ts stops its etcd the same way).
    process.kill(process.pid, signal);
  });
}

/** Starts `count` `gputel gateway` processes on etcd, each on a free loopback port, and waits until they are ready; `into` gets each as it starts. */
async function startGatewayProcesses(endpoints: string[], count: number, into: GputelProcess[]): Promise<GatewayTarget[]> {
  const targets: GatewayTarget[] = [];
  for (let i = 0; i < count; i++) {
    const port = await findFreePort();
    // All clients come from 127.0.0.1: the per-address rate limit would refuse most of their upgrades.
    const gateway = runGputel(['gateway', '--etcd', endpoints.join(','), '--cluster', CLUSTER, '--host', '127.0.0.1', '--port', String(port), '--rate-limit', '0']);
    into.push(gateway);
    startedGateways.add(gateway);
    void gateway.exited.then(() => startedGateways.delete(gateway));
    targets.push({ url: `ws://127.0.0.1:${port}/ws`, pid: gateway.pid });
    await waitFor(`gateway ${i + 1} ready`, 30_000, async () => {
      if (gateway.child.exitCode !== null || gateway.child.signalCode !== null) throw new Error(`gateway ${i + 1} exited: ${gateway.stderr().slice(-500)}`);
      return (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0)) === 200 ? true : undefined;
    }, 100);
  }
  return targets;
}

async function openStore(storeKind: string): Promise<{ kv: KvStore; endpoints: string[]; close: () => Promise<void> }> {
  if (storeKind !== 'etcd') {
    const kv = await openKvStore({ dataDir: ':memory:' });
    return { kv, endpoints: [], close: () => kv.close() };
  }
  const etcd = await startEtcd();
  const kv = await EtcdKvStore.connect({ endpoints: etcd.endpoints });
  return {
    kv,
    endpoints: etcd.endpoints,
    close: async () => {
      await kv.close();
      await etcd.stop();
    },
  };
}

/** Records written straight to the store: what the gateway adds, from the store write to the client. */
async function fromStore(storeKind: string, clientCounts: number[], seconds: number, burst: boolean, gatewayCount: number): Promise<StepFigures[]> {
  const { kv, endpoints, close } = await openStore(storeKind);
  const keys = new KeySpace('/gputel');
  let gateway: Gateway | undefined;
  const gatewayProcesses: GputelProcess[] = [];
  let writing = true;
  let writer: Promise<void> = Promise.resolve();
  try {
    await register(kv, keys);
    let targets: GatewayTarget[];
    if (gatewayCount === 1) {
      gateway = new Gateway(kv, keys, { cluster: CLUSTER, host: '127.0.0.1', port: 0, logger: createLogger('warn') });
      await gateway.start();
      targets = [{ url: `ws://127.0.0.1:${gateway.port}/ws` }];
    } else {
      targets = await startGatewayProcesses(endpoints, gatewayCount, gatewayProcesses);
    }
    const gpuIds = Array.from({ length: HOSTS * GPUS_PER_HOST }, (_, i) => uuid(Math.floor(i / GPUS_PER_HOST), i % GPUS_PER_HOST));
    let sequence = 0;
    writer = (async () => {
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
    const steps: StepFigures[] = [];
    for (const clients of clientCounts) steps.push(await measureClients(targets, gpuIds, clients, seconds));
    return steps;
  } finally {
    writing = false;
    await writer;
    await gateway?.stop();
    await Promise.all(gatewayProcesses.map((p) => p.stop()));
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
    for (const clients of clientCounts) steps.push(await measureClients([{ url: `ws://127.0.0.1:${gateway.port}/ws` }], gpuIds, clients, seconds));
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
  const options = benchOptions('ws-stream', 'node --expose-gc dist/bench/ws-stream.js [OPTIONS]   (what it measures: bench/ws-stream.ts)', {
    clients: { type: 'string', help: 'clients per step, comma-separated (default 1000,5000,10000)' },
    seconds: { type: 'string', help: 'how long each step is measured (default 10)' },
    store: { type: 'string', help: 'embedded or etcd (default embedded)' },
    gateways: { type: 'string', help: 'gateway processes the clients are split over; above 1 needs --store etcd (default 1, in this process)' },
    pipeline: { type: 'boolean', help: 'rows from the simulator through streamer, queue and collector, instead of records written to the store' },
    burst: { type: 'boolean', help: 'all 256 GPUs on the same instant, instead of hosts spread over the second' },
    'flush-ms': { type: 'string', help: "the streamer's flush interval with --pipeline (default 10)" },
    json: { type: 'string', help: 'also write every step\'s figures to this JSON file (npm run bench)' },
  });
  const clientCounts = (options.clients ?? '1000,5000,10000').split(',').map(Number);
  if (clientCounts.some((count) => !Number.isSafeInteger(count) || count < 1)) usageError('ws-stream', '--clients must be whole numbers of at least 1, comma-separated');
  const seconds = Number(options.seconds ?? 10);
  if (!(seconds > 0)) usageError('ws-stream', '--seconds must be a number above 0');
  const storeKind = options.store ?? 'embedded';
  if (storeKind !== 'embedded' && storeKind !== 'etcd') usageError('ws-stream', '--store must be embedded or etcd');
  const pipeline = options.pipeline === true;
  const burst = options.burst === true;
  const flushIntervalMs = Number(options['flush-ms'] ?? 10);
  if (!(flushIntervalMs >= 0)) usageError('ws-stream', '--flush-ms must be a number of at least 0');
  const gatewayCount = Number(options.gateways ?? 1);
  if (!Number.isSafeInteger(gatewayCount) || gatewayCount < 1) usageError('ws-stream', '--gateways must be a whole number of at least 1');
  if (gatewayCount > 1 && (pipeline || storeKind !== 'etcd')) usageError('ws-stream', '--gateways above 1 needs --store etcd and no --pipeline (gateway processes share the store through etcd)');
  const steps = pipeline ? await fromStreamer(storeKind, clientCounts, seconds, flushIntervalMs, burst) : await fromStore(storeKind, clientCounts, seconds, burst, gatewayCount);
  writeFigures(options.json, { gpus: HOSTS * GPUS_PER_HOST, gateways: gatewayCount, pipeline, burst, store: storeKind, flushIntervalMs: pipeline ? flushIntervalMs : undefined, secondsPerStep: seconds, steps });
}

await main();
