/**
 * The query layer on both drivers (embedded, and a real etcd): raw pages in
 * columns equal to the record reader's, chunks merged whatever their order,
 * downsampled pages, latest values (from latest/ and, for a GPU dropped from
 * there, from its chunks), stats, and the latest-values subscription.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../src/common/logger.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore, WatchOptions } from '../../src/kv/kv-store.js';
import { GputelError } from '../../src/common/gputel-error.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { encodeChunk, type Chunk } from '../../src/store/chunk-codec.js';
import { FleetQuery } from '../../src/store/fleet-query.js';
import { encodeJson, type GpuMetadata, type LatestHost, type PartitionStats } from '../../src/store/gpu-records.js';
import type { LatestUpdate } from '../../src/store/latest-subscription.js';
import { Registry, type GpuEntry } from '../../src/store/registry.js';
import type { TelemetryColumns } from '../../src/store/telemetry-columns.js';
import { readTelemetry } from '../../src/store/telemetry-reader.js';
import { useEtcdStore } from '../support/etcd-store.js';
import { withOverrides } from '../support/kv-overrides.js';

const CLUSTER = 'default';
const HOST = 'node-a';
const UUID = 'GPU-query-0';
const OTHER = 'GPU-query-1';
const T0 = Date.parse('2026-03-02T00:00:00Z');
const logger = createLogger('silent');
let rootNumber = 0;

/** A chunk of `records` records every 10 s from startMs; metric B only on even records. */
function chunkAt(startMs: number, records: number, base = 0): Chunk {
  const timestampsMs = Float64Array.from({ length: records }, (_, r) => startMs + r * 10_000);
  return {
    timestampsMs,
    metrics: ['A', 'B'],
    columns: [Float64Array.from(timestampsMs, (t) => base + (t - T0) / 10_000), Float64Array.from(timestampsMs, (t) => (((t - T0) / 10_000) % 2 === 0 ? 1 : NaN))],
    attributions: [{ container: '', pod: '', namespace: '' }],
    attributionIndex: new Uint32Array(records),
  };
}

function metadata(uuid: string, gpuId: number, maxChunkSpanMs: number): GpuMetadata {
  return { gpuKey: uuid, uuid, gpuId, hostname: HOST, device: `nvidia${gpuId}`, modelName: 'H100', driverVersion: '', migInstanceId: '', migProfile: '', firstSeenMs: T0, maxChunkSpanMs, metricAliases: {} };
}

interface Fixture {
  keys: KeySpace;
  registry: Registry;
  query: FleetQuery;
}

/** Stores GPU 0 with 100 chunks of 5 records (T0 … T0 + 4,990 s), GPU 1 with one chunk; only GPU 1 in latest/. */
async function fixture(kv: KvStore): Promise<Fixture> {
  const keys = new KeySpace(`/gputel-fq-${++rootNumber}`);
  const chunks = Array.from({ length: 100 }, (_, i) => chunkAt(T0 + i * 50_000, 5));
  await kv.put(keys.gpuMetadata(CLUSTER, HOST, UUID), encodeJson(metadata(UUID, 0, 40_000)));
  await kv.put(keys.gpuIndex(CLUSTER, UUID, HOST), encodeJson(metadata(UUID, 0, 40_000)));
  await kv.put(keys.gpuMetadata(CLUSTER, HOST, OTHER), encodeJson(metadata(OTHER, 1, 20_000)));
  await kv.put(keys.gpuIndex(CLUSTER, OTHER, HOST), encodeJson(metadata(OTHER, 1, 20_000)));
  for (const [i, chunk] of chunks.entries()) {
    await kv.put(keys.gpuChunk(CLUSTER, HOST, UUID, chunk.timestampsMs[0], chunk.timestampsMs.at(-1)!, `m${String(i).padStart(4, '0')}`), encodeChunk(chunk));
  }
  await kv.put(keys.gpuChunk(CLUSTER, HOST, OTHER, T0, T0 + 20_000, 'm0'), encodeChunk(chunkAt(T0, 3, 1000)));
  const latest: LatestHost = { hostname: HOST, gpus: { [OTHER]: { lastSeenMs: T0 + 20_000, values: { A: 1002 }, container: '', pod: '', namespace: '' } } };
  await kv.put(keys.latest(CLUSTER, HOST), encodeJson(latest));
  const stats: PartitionStats = { samples: 753, records: 503, messages: 101 };
  await kv.put(keys.partitionStats(CLUSTER, 'telemetry', 0), encodeJson(stats));
  await kv.put(keys.partitionStats(CLUSTER, 'telemetry', 1), encodeJson(stats));
  const registry = new Registry(kv, keys, CLUSTER, logger);
  await registry.start();
  return { keys, registry, query: new FleetQuery(kv, keys, CLUSTER, registry, logger) };
}

/** Columns as {time: {metric: value}} with absent values left out, to compare with the record reader. */
function byTime(page: TelemetryColumns): Map<number, Record<string, number>> {
  return new Map(
    [...page.timestampsMs].map((t, r) => [t, Object.fromEntries(page.metrics.flatMap((name, m) => (Number.isNaN(page.columns[m][r]) ? [] : [[name, page.columns[m][r]]])))]),
  );
}

function queryLayerSuite(driver: string, store: () => KvStore): void {
  describe(`fleet query on the ${driver} driver`, () => {
    let f: Fixture;
    before(async () => {
      f = await fixture(store());
    });
    after(() => f?.registry.stop());
    const gpu = (id = UUID) => {
      const lookup = f.query.findGpu(id);
      assert.equal(lookup.kind, 'found', id);
      return (lookup as { gpu: GpuEntry }).gpu;
    };

    it('lists and finds GPUs and hosts', () => {
      assert.deepEqual(f.query.gpus().map((g) => g.uuid), [UUID, OTHER]);
      assert.deepEqual(f.query.hosts().map((h) => [h.hostname, h.gpuCount]), [[HOST, 2]]);
      assert.equal(gpu(`${HOST}:1`).uuid, OTHER);
      assert.deepEqual(f.query.findGpu('GPU-none'), { kind: 'none' });
      assert.deepEqual(f.query.gpusOfHost(HOST).map((g) => g.gpuId), [0, 1]);
      assert.deepEqual(f.query.gpusOfHost('nope'), []);
    });

    it('reads raw records into columns equal to the record reader, in pages that neither lose nor repeat one', async () => {
      const all = await f.query.telemetry(gpu(), { startMs: 0, endMs: Number.MAX_SAFE_INTEGER, limit: 100_000 });
      assert.equal(all.timestampsMs.length, 500);
      assert.equal(all.more, false);
      assert.deepEqual(all.metrics, ['A', 'B']);
      const records = await readTelemetry(store(), f.keys, CLUSTER, { hostname: HOST, gpuKey: UUID }, { startMs: 0, endMs: 10 ** 13 - 1, limit: 100_000 });
      assert.deepEqual(byTime(all), new Map(records.records.map((r) => [r.timestampMs, Object.fromEntries(r.values)])));

      const seen: number[] = [];
      let startMs = T0 + 123_000; // mid-chunk
      for (let pages = 0; pages < 100; pages++) {
        const page = await f.query.telemetry(gpu(), { startMs, endMs: T0 + 3_000_000, limit: 37 });
        seen.push(...page.timestampsMs);
        if (!page.more) break;
        assert.equal(page.timestampsMs.length, 37);
        startMs = page.timestampsMs.at(-1)! + 1;
      }
      assert.deepEqual(seen, [...all.timestampsMs].filter((t) => t >= T0 + 123_000 && t <= T0 + 3_000_000));
    });

    it('merges a chunk that overlaps others, the later key winning at the same time (as the record reader)', async () => {
      const kv = store();
      const overlap = chunkAt(T0 + 45_000, 3, 500); // 45, 55, 65 s: one new time between chunks, two inside
      overlap.timestampsMs = Float64Array.of(T0 + 45_000, T0 + 50_000, T0 + 60_000);
      await kv.put(f.keys.gpuChunk(CLUSTER, HOST, UUID, T0 + 45_000, T0 + 60_000, 'z-late'), encodeChunk(overlap));
      const page = await f.query.telemetry(gpu(), { startMs: T0, endMs: T0 + 100_000, limit: 1_000 });
      const records = await readTelemetry(kv, f.keys, CLUSTER, { hostname: HOST, gpuKey: UUID }, { startMs: T0, endMs: T0 + 100_000, limit: 1_000 });
      assert.deepEqual(byTime(page), new Map(records.records.map((r) => [r.timestampMs, Object.fromEntries(r.values)])));
      assert.deepEqual([...page.timestampsMs].slice(4, 8).map((t) => t - T0), [40_000, 45_000, 50_000, 60_000]);
      assert.equal(byTime(page).get(T0 + 45_000)!.A, overlap.columns[0][0]);
      await kv.delete({ start: f.keys.gpuChunk(CLUSTER, HOST, UUID, T0 + 45_000, T0 + 60_000, 'z-late') });
    });

    it('merges chunks that share a boundary time (a flush between the metrics of one record), as the record reader', async () => {
      const kv = store();
      const host = 'node-split';
      const uuid = 'GPU-split';
      await kv.put(f.keys.gpuMetadata(CLUSTER, host, uuid), encodeJson({ ...metadata(uuid, 0, 20_000), hostname: host }));
      const first = chunkAt(T0, 3); // 0, 10, 20 s: A and B
      const second: Chunk = { ...chunkAt(T0 + 20_000, 3, 100), metrics: ['C'], columns: [Float64Array.of(7, 8, 9)] }; // 20, 30, 40 s: C only
      await kv.put(f.keys.gpuChunk(CLUSTER, host, uuid, T0, T0 + 20_000, 'm1'), encodeChunk(first));
      await kv.put(f.keys.gpuChunk(CLUSTER, host, uuid, T0 + 20_000, T0 + 40_000, 'm2'), encodeChunk(second));
      const series = { ...gpu(), hostname: host, gpuKey: uuid, uuid };
      const page = await f.query.telemetry(series, { startMs: 0, endMs: Number.MAX_SAFE_INTEGER, limit: 100 });
      const records = await readTelemetry(kv, f.keys, CLUSTER, { hostname: host, gpuKey: uuid }, { startMs: 0, endMs: 10 ** 13 - 1, limit: 100 });
      assert.deepEqual([...page.timestampsMs].map((t) => t - T0), [0, 10_000, 20_000, 30_000, 40_000]);
      assert.deepEqual(byTime(page), new Map(records.records.map((r) => [r.timestampMs, Object.fromEntries(r.values)])));
      assert.deepEqual(byTime(page).get(T0 + 20_000), { A: 2, B: 1, C: 7 });
      const cut = await f.query.telemetry(series, { startMs: 0, endMs: Number.MAX_SAFE_INTEGER, limit: 3 });
      assert.deepEqual(byTime(cut).get(T0 + 20_000), { A: 2, B: 1, C: 7 });
      assert.equal(cut.more, true);
    });

    it('trusts the stored longest chunk span over the registry\'s when it reaches further back', async () => {
      const kv = store();
      // A chunk spanning 1,000 s, announced only in the stored metadata (the registry still says 40 s).
      const long: Chunk = { ...chunkAt(T0 + 100_005, 2), metrics: ['L'], columns: [Float64Array.of(1, 2)] };
      long.timestampsMs = Float64Array.of(T0 + 100_005, T0 + 1_100_005);
      const key = f.keys.gpuChunk(CLUSTER, HOST, UUID, T0 + 100_005, T0 + 1_100_005, 'long');
      await kv.put(key, encodeChunk(long));
      await kv.put(f.keys.gpuMetadata(CLUSTER, HOST, UUID), encodeJson(metadata(UUID, 0, 1_000_000)));
      try {
        assert.equal(gpu().maxChunkSpanMs, 40_000);
        const page = await f.query.telemetry(gpu(), { startMs: T0 + 1_000_000, endMs: T0 + 1_200_000, limit: 1_000 });
        assert.equal(byTime(page).get(T0 + 1_100_005)?.L, 2);
      } finally {
        await kv.delete({ start: key });
        await kv.put(f.keys.gpuMetadata(CLUSTER, HOST, UUID), encodeJson(metadata(UUID, 0, 40_000)));
      }
    });

    it('sizes a read\'s first range from what the last read found: a whole page in one range, the same records when the guess misleads', async () => {
      let ranges = 0;
      const real = store();
      const counting = withOverrides(real, {
        range: (range, options) => {
          ranges++;
          return real.range(range, options);
        },
      });
      const query = new FleetQuery(counting, f.keys, CLUSTER, f.registry, logger);
      const whole = { startMs: 0, endMs: Number.MAX_SAFE_INTEGER, limit: 100_000 };
      const first = await query.telemetry(gpu(), whole);
      // Nothing known yet: 32 of the 100 chunks, then the rest.
      assert.equal(ranges, 2);
      ranges = 0;
      const second = await query.telemetry(gpu(), whole);
      assert.equal(ranges, 1);
      assert.deepEqual(second, first);
      // GPU 1's one chunk of 3 records teaches another density; GPU 0's pages must not change.
      await query.telemetry(gpu(OTHER), whole);
      for (const limit of [1, 37, 499, 500]) {
        const hinted = await query.telemetry(gpu(), { ...whole, startMs: T0 + 123_000, limit });
        const plain = await f.query.telemetry(gpu(), { ...whole, startMs: T0 + 123_000, limit });
        assert.deepEqual(hinted, plain);
        assert.equal(hinted.timestampsMs.length, Math.min(limit, 500 - 13));
      }
    });

    it('downsamples into aligned buckets and pages them from the bucket after the last one served', async () => {
      const whole = await f.query.telemetry(gpu(), { startMs: 0, endMs: Number.MAX_SAFE_INTEGER, limit: 1_000, downsample: { stepMs: 60_000, aggregation: 'max' } });
      assert.equal(whole.more, false);
      assert.equal(whole.timestampsMs.length, Math.ceil(5_000_000 / 60_000));
      for (const t of whole.timestampsMs) assert.equal(t % 60_000, 0);
      // Bucket 0 holds A = 0 … 5 (times 0 … 50 s): max 5.
      assert.equal(whole.columns[0][0], 5);
      const paged: number[] = [];
      let startMs = 0;
      for (let pages = 0; pages < 100; pages++) {
        const page = await f.query.telemetry(gpu(), { startMs, endMs: Number.MAX_SAFE_INTEGER, limit: 7, downsample: { stepMs: 60_000, aggregation: 'max' } });
        paged.push(...page.columns[0]);
        if (!page.more) break;
        startMs = page.timestampsMs.at(-1)! + 60_000;
      }
      assert.deepEqual(paged, [...whole.columns[0]]);
    });

    it('serves the newest record from latest/, or from the chunks of a GPU dropped from there', async () => {
      assert.deepEqual(await f.query.latest(gpu(OTHER)), { gpu: gpu(OTHER), timestampMs: T0 + 20_000, values: { A: 1002 } });
      const fromChunks = await f.query.latest(gpu());
      assert.equal(fromChunks?.timestampMs, T0 + 4_990_000);
      assert.deepEqual(fromChunks?.values, { A: 499 });
      assert.deepEqual((await f.query.hostLatest(HOST))?.map((r) => r.gpu.uuid), [UUID, OTHER]);
      assert.equal(await f.query.hostLatest('nope'), undefined);
    });

    it('sums the partition counters into stats', async () => {
      assert.deepEqual(await f.query.stats(), { gpus: 2, hosts: 1, records: 1006, samples: 1506 });
    });

    it('reads a compacted chunk rewritten under its key afresh, not from the decoded-chunk cache', async () => {
      const key = f.keys.gpuCompactedChunk(CLUSTER, HOST, OTHER, T0, T0 + 20_000);
      await store().put(key, encodeChunk(chunkAt(T0, 3, 5000)));
      const read = async (): Promise<number[]> => [...(await f.query.telemetry(gpu(OTHER), { startMs: T0, endMs: T0 + 20_000, limit: 100 })).columns[0]];
      assert.deepEqual(await read(), [5000, 5001, 5002]);
      assert.deepEqual(await read(), [5000, 5001, 5002], 'again, from the cache');
      await store().put(key, encodeChunk(chunkAt(T0, 3, 7000)));
      assert.deepEqual(await read(), [7000, 7001, 7002]);
    });

    it('delivers new latest values of a host to a subscriber until it closes', async () => {
      const updates: LatestUpdate[] = [];
      const subscription = await f.query.subscribeLatest((update) => updates.push(update), { initial: true });
      assert.equal(updates.length, 1, 'the current values first');
      const next: LatestHost = { hostname: HOST, gpus: { [OTHER]: { lastSeenMs: T0 + 30_000, values: { A: 7 }, container: '', pod: '', namespace: '' } } };
      await store().put(f.keys.latest(CLUSTER, HOST), encodeJson(next));
      for (let i = 0; i < 100 && updates.length < 2; i++) await sleep(20);
      assert.equal(updates.length, 2);
      assert.equal(updates[1].hostname, HOST);
      assert.deepEqual(updates[1].gpus.map((r) => [r.gpu.uuid, r.timestampMs, r.values]), [[OTHER, T0 + 30_000, { A: 7 }]]);
      await subscription.close();
      await subscription.close();
      await store().put(f.keys.latest(CLUSTER, HOST), encodeJson({ ...next, gpus: { [OTHER]: { ...next.gpus[OTHER], lastSeenMs: T0 + 40_000 } } }));
      await sleep(200);
      assert.equal(updates.length, 2, 'nothing after close');
    });
  });
}

describe('fleet query', () => {
  it('follows again after its watch ends (history compacted), delivering the current values, and stops on close', async () => {
    const kv = await openKvStore({ dataDir: ':memory:' });
    // Fault injection at the contract: the real store, with a handle on each watch's onError.
    const onErrors: ((error: Error) => void)[] = [];
    const watch: KvStore['watch'] = (range, options: WatchOptions) => {
      if (options.onError) onErrors.push(options.onError);
      return kv.watch(range, options);
    };
    const watching = withOverrides(kv, { watch });
    const f = await fixture(watching);
    try {
      const updates: LatestUpdate[] = [];
      const subscription = await f.query.subscribeLatest((update) => updates.push(update));
      const latestHost = (lastSeenMs: number): LatestHost => ({ hostname: HOST, gpus: { [OTHER]: { lastSeenMs, values: { A: 1 }, container: '', pod: '', namespace: '' } } });
      await kv.put(f.keys.latest(CLUSTER, HOST), encodeJson(latestHost(T0 + 30_000)));
      for (let i = 0; i < 100 && updates.length < 1; i++) await sleep(20);
      const watchesBefore = onErrors.length;
      onErrors.at(-1)!(new GputelError('KV_COMPACTED', 'required revision has been compacted'));
      for (let i = 0; i < 100 && onErrors.length === watchesBefore; i++) await sleep(20);
      assert.equal(onErrors.length, watchesBefore + 1, 'a new watch');
      await kv.put(f.keys.latest(CLUSTER, HOST), encodeJson(latestHost(T0 + 40_000)));
      for (let i = 0; i < 100 && updates.length < 3; i++) await sleep(20);
      assert.deepEqual(updates.map((u) => u.gpus[0].timestampMs), [T0 + 30_000, T0 + 30_000, T0 + 40_000], 'the update, the values current at the new watch, the next update');
      await subscription.close();
    } finally {
      await f.registry.stop();
      await kv.close();
    }
  });

  it('keeps the live watch, never the dead one, when a watch fails before it is even set up', async () => {
    const kv = await openKvStore({ dataDir: ':memory:' });
    let armed = false; // only the subscription's watches, not the registry's
    let watches = 0;
    const live = new Set<object>();
    // The first watch reports its end before resolving (a sealed store that cannot open an event does so).
    const watch: KvStore['watch'] = async (range, options: WatchOptions) => {
      if (!armed) return kv.watch(range, options);
      const first = ++watches === 1;
      const watcher = await kv.watch(range, options);
      const tracked = { cancel: async () => { live.delete(tracked); await watcher.cancel(); } };
      live.add(tracked);
      if (first) {
        options.onError?.(new GputelError('KV_COMPACTED', 'required revision has been compacted'));
        await sleep(100); // the resync's watch is set up before this one resolves
      }
      return tracked;
    };
    const watching = withOverrides(kv, { watch });
    const f = await fixture(watching);
    try {
      const updates: LatestUpdate[] = [];
      armed = true;
      const subscription = await f.query.subscribeLatest((update) => updates.push(update));
      for (let i = 0; i < 100 && live.size !== 1; i++) await sleep(20);
      assert.equal(watches, 2, 'the failed watch, then the resync');
      const latestHost: LatestHost = { hostname: HOST, gpus: { [OTHER]: { lastSeenMs: T0 + 50_000, values: { A: 2 }, container: '', pod: '', namespace: '' } } };
      await kv.put(f.keys.latest(CLUSTER, HOST), encodeJson(latestHost));
      for (let i = 0; i < 100 && !updates.some((u) => u.gpus[0]?.timestampMs === T0 + 50_000); i++) await sleep(20);
      assert.ok(updates.some((u) => u.gpus[0]?.timestampMs === T0 + 50_000), 'updates still arrive');
      await subscription.close();
      assert.equal(live.size, 0, 'no watch is left open after close');
    } finally {
      await f.registry.stop();
      await kv.close();
    }
  });

  describe('embedded', () => {
    let kv: KvStore;
    before(async () => {
      kv = await openKvStore({ dataDir: ':memory:' });
    });
    after(() => kv?.close());
    queryLayerSuite('embedded', () => kv);
  });
  describe('etcd', () => {
    const etcd = useEtcdStore();
    queryLayerSuite('etcd', () => etcd.store);
  });
});
