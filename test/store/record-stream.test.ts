/**
 * The record stream on both drivers (embedded, and a real etcd): records
 * stored after subscribing arrive once each, in order per GPU, filtered by
 * GPU, host and metric; rewrites, compacted chunks, deletes and metadata are
 * no new records; one watch serves every subscriber, starts with the first and
 * stops with the last; an ended watch is followed again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/common/logger.js';
import { metricsRegistry } from '../../src/common/metrics.js';
import { GputelError } from '../../src/common/gputel-error.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore, Watcher, WatchOptions } from '../../src/kv/kv-store.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { encodeChunk, type Chunk } from '../../src/store/chunk-codec.js';
import { FleetQuery } from '../../src/store/fleet-query.js';
import { encodeJson, type GpuMetadata } from '../../src/store/gpu-records.js';
import type { StreamedRecord } from '../../src/store/record-stream.js';
import { Registry } from '../../src/store/registry.js';
import { useEtcdStore } from '../support/etcd-store.js';
import { withOverrides } from '../support/kv-overrides.js';
import { waitFor } from '../support/wait-for.js';

const CLUSTER = 'default';
const T0 = Date.parse('2026-03-02T00:00:00Z');
const UTIL = 'DCGM_FI_DEV_GPU_UTIL';
const TEMP = 'DCGM_FI_DEV_GPU_TEMP';
const logger = createLogger('silent');
let rootNumber = 0;

/** Waits (bounded) until `probe` holds. */
async function until(what: string, timeoutMs: number, probe: () => boolean): Promise<void> {
  await waitFor(what, timeoutMs, () => (probe() ? true : undefined));
}

/** `records` records every second from startMs; temperature only on even seconds. */
function chunkAt(startMs: number, records: number): Chunk {
  const timestampsMs = Float64Array.from({ length: records }, (_, r) => startMs + r * 1_000);
  return {
    timestampsMs,
    metrics: [UTIL, TEMP],
    columns: [Float64Array.from(timestampsMs, (t) => (t - T0) / 1_000), Float64Array.from(timestampsMs, (t) => (((t - T0) / 1_000) % 2 === 0 ? 50 : NaN))],
    attributions: [{ container: '', pod: '', namespace: '' }],
    attributionIndex: new Uint32Array(records),
  };
}

function metadata(hostname: string, uuid: string, gpuId: number): GpuMetadata {
  return { gpuKey: uuid, uuid, gpuId, hostname, device: `nvidia${gpuId}`, modelName: 'H100', driverVersion: '', migInstanceId: '', migProfile: '', firstSeenMs: T0, metricAliases: {} };
}

interface Fixture {
  kv: KvStore;
  keys: KeySpace;
  registry: Registry;
  query: FleetQuery;
  /** Stores a chunk of `records` records of a GPU from startMs under message `messageId`; answers its key. */
  store(hostname: string, uuid: string, startMs: number, records: number, messageId: string): Promise<string>;
  /** Writes a GPU's metadata and index entry, as the collector does before its first chunk. */
  register(hostname: string, uuid: string, gpuId: number): Promise<void>;
  /** watch() calls and live watchers of the record stream's prefix. */
  watches: { started: number; live: number; last: WatchOptions | undefined };
}

async function fixture(base: KvStore): Promise<Fixture> {
  const keys = new KeySpace(`/gputel-rs-${++rootNumber}`);
  const watches = { started: 0, live: 0, last: undefined as WatchOptions | undefined };
  const hostsPrefix = keys.hostsPrefix(CLUSTER);
  const kv = withOverrides(base, {
    watch: async (range, options): Promise<Watcher> => {
      const inner = await base.watch(range, options);
      if (!('prefix' in range) || range.prefix !== hostsPrefix) return inner;
      watches.started++;
      watches.live++;
      watches.last = options;
      let cancelled = false;
      return {
        cancel: async () => {
          if (!cancelled) watches.live--;
          cancelled = true;
          await inner.cancel();
        },
      };
    },
  });
  const register = async (hostname: string, uuid: string, gpuId: number): Promise<void> => {
    await kv.put(keys.gpuMetadata(CLUSTER, hostname, uuid), encodeJson(metadata(hostname, uuid, gpuId)));
    await kv.put(keys.gpuIndex(CLUSTER, uuid, hostname), encodeJson(metadata(hostname, uuid, gpuId)));
  };
  await register('node-a', 'GPU-a0', 0);
  await register('node-a', 'GPU-a1', 1);
  await register('node-b', 'GPU-b0', 0);
  const registry = new Registry(kv, keys, CLUSTER, logger);
  await registry.start();
  const store = async (hostname: string, uuid: string, startMs: number, records: number, messageId: string): Promise<string> => {
    const chunk = chunkAt(startMs, records);
    const key = keys.gpuChunk(CLUSTER, hostname, uuid, startMs, chunk.timestampsMs[records - 1], messageId);
    await kv.put(key, encodeChunk(chunk));
    return key;
  };
  return { kv, keys, registry, query: new FleetQuery(kv, keys, CLUSTER, registry, logger), store, register, watches };
}

/** A subscriber's records as `uuid@seconds:{metrics}` lines. */
function collector(): { records: StreamedRecord[]; lines: () => string[]; listener: (records: StreamedRecord[]) => void } {
  const records: StreamedRecord[] = [];
  return {
    records,
    listener: (batch) => records.push(...batch),
    lines: () => records.map((r) => `${r.gpu.uuid}@${(r.timestampMs - T0) / 1_000}:${JSON.stringify(r.values)}`),
  };
}

function recordStreamSuite(driver: string, open: () => Promise<KvStore>, close: (kv: KvStore) => Promise<void>): void {
  describe(`record stream on the ${driver} driver`, () => {
    let base: KvStore;
    let f: Fixture;
    before(async () => {
      base = await open();
    });
    after(async () => close(base));

    it('delivers records stored after subscribing once each, in order per GPU, to each filter its own', async () => {
      f = await fixture(base);
      try {
        await f.store('node-a', 'GPU-a0', T0, 2, 'm-before'); // stored before: not streamed
        const all = collector();
        const byUuid = collector();
        const byHostGpuId = collector();
        const byHost = collector();
        const byMetric = collector();
        const unsubscribes = [
          await f.query.subscribeRecords({}, all.listener),
          await f.query.subscribeRecords({ gpus: ['GPU-a1'] }, byUuid.listener),
          await f.query.subscribeRecords({ gpus: ['node-b:0'] }, byHostGpuId.listener),
          await f.query.subscribeRecords({ hosts: ['node-a'] }, byHost.listener),
          await f.query.subscribeRecords({ metrics: ['temperature'] }, byMetric.listener),
        ];
        let samplesIn = 0;
        for (let m = 0; m < 4; m++) {
          for (const [hostname, uuid] of [['node-a', 'GPU-a0'], ['node-a', 'GPU-a1'], ['node-b', 'GPU-b0']]) {
            await f.store(hostname, uuid, T0 + 10_000 + m * 3_000, 3, `m-${m}`);
            samplesIn += 3 + (m % 2 === 0 ? 2 : 1); // util on each record, temperature on even seconds
          }
        }
        await until('every record', 5_000, () => all.records.length >= 36 && byMetric.records.length >= 18);

        assert.equal(all.records.length, 36, 'every record once');
        const samplesOut = all.records.reduce((sum, r) => sum + Object.keys(r.values).length, 0);
        assert.equal(samplesOut, samplesIn, 'samples in = samples out');
        for (const uuid of ['GPU-a0', 'GPU-a1', 'GPU-b0']) {
          const times = all.records.filter((r) => r.gpu.uuid === uuid).map((r) => (r.timestampMs - T0) / 1_000);
          assert.deepEqual(times, Array.from({ length: 12 }, (_, i) => 10 + i), `${uuid} in time order`);
        }
        assert.deepEqual(all.lines()[0], 'GPU-a0@10:{"DCGM_FI_DEV_GPU_UTIL":10,"DCGM_FI_DEV_GPU_TEMP":50}');
        assert.deepEqual(all.lines()[1], 'GPU-a0@11:{"DCGM_FI_DEV_GPU_UTIL":11}');
        assert.equal(all.records[0].gpu.hostname, 'node-a');
        assert.equal(all.records[0].gpu.gpuId, 0);
        assert.deepEqual(new Set(byUuid.records.map((r) => r.gpu.uuid)), new Set(['GPU-a1']));
        assert.equal(byUuid.records.length, 12);
        assert.deepEqual(new Set(byHostGpuId.records.map((r) => r.gpu.uuid)), new Set(['GPU-b0']));
        assert.equal(byHostGpuId.records.length, 12);
        assert.deepEqual(new Set(byHost.records.map((r) => r.gpu.hostname)), new Set(['node-a']));
        assert.equal(byHost.records.length, 24);
        // Only records that sampled the metric, with only that metric.
        assert.equal(byMetric.records.length, 18);
        assert.ok(byMetric.records.every((r) => JSON.stringify(r.values) === `{"${TEMP}":50}`));
        for (const unsubscribe of unsubscribes) unsubscribe();
      } finally {
        await f.query.close();
        await f.registry.stop();
      }
    });

    it('a rewritten chunk key, a compacted chunk, deletes and metadata are no new records', async () => {
      f = await fixture(base);
      try {
        const seen = collector();
        const unsubscribe = await f.query.subscribeRecords({}, seen.listener);
        const key = await f.store('node-a', 'GPU-a0', T0, 3, 'm-1');
        await f.store('node-a', 'GPU-a0', T0, 3, 'm-1'); // a redelivered message rewrites its key
        await f.kv.put(f.keys.gpuCompactedChunk(CLUSTER, 'node-a', 'GPU-a0', T0, T0 + 2_000), encodeChunk(chunkAt(T0, 3)));
        await f.kv.delete({ start: key });
        await f.register('node-a', 'GPU-a0', 0);
        await f.store('node-a', 'GPU-a0', T0 + 3_000, 1, 'm-2'); // the marker: everything before it was seen
        await until('the marker record', 5_000, () => seen.records.some((r) => r.timestampMs === T0 + 3_000));
        assert.deepEqual(seen.records.map((r) => (r.timestampMs - T0) / 1_000), [0, 1, 2, 3]);
        unsubscribe();
      } finally {
        await f.query.close();
        await f.registry.stop();
      }
    });

    it('streams a GPU the registry has not heard of yet, with its identity from the metadata the watch saw', async () => {
      f = await fixture(base);
      try {
        const seen = collector();
        const unsubscribe = await f.query.subscribeRecords({ hosts: ['node-new'] }, seen.listener);
        // Metadata and the first chunk in one transaction, as the collector may write them.
        const meta = encodeJson(metadata('node-new', 'GPU-n0', 3));
        const chunk = chunkAt(T0, 2);
        await f.kv.txn({
          success: [
            { type: 'put', key: f.keys.gpuMetadata(CLUSTER, 'node-new', 'GPU-n0'), value: meta },
            { type: 'put', key: f.keys.gpuIndex(CLUSTER, 'GPU-n0', 'node-new'), value: meta },
            { type: 'put', key: f.keys.gpuChunk(CLUSTER, 'node-new', 'GPU-n0', T0, T0 + 1_000, 'm-1'), value: encodeChunk(chunk) },
          ],
        });
        await until('the new GPU records', 5_000, () => seen.records.length >= 2);
        assert.deepEqual(
          seen.records.map((r) => [r.gpu.uuid, r.gpu.hostname, r.gpu.gpuId, r.gpu.modelName]),
          [
            ['GPU-n0', 'node-new', 3, 'H100'],
            ['GPU-n0', 'node-new', 3, 'H100'],
          ],
        );
        unsubscribe();
      } finally {
        await f.query.close();
        await f.registry.stop();
      }
    });

    it('refuses an unknown metric (BAD_REQUEST, naming the allowed ones) and an unknown GPU (GPU_NOT_FOUND), starting no watch', async () => {
      f = await fixture(base);
      try {
        await assert.rejects(f.query.subscribeRecords({ metrics: ['gpu_utilisation'] }, () => undefined), (error: unknown) => {
          assert.ok(error instanceof GputelError && error.code === 'BAD_REQUEST');
          assert.match(error.message, /gpu_utilisation.*DCGM_FI_.*gpu_utilization/);
          return true;
        });
        await assert.rejects(f.query.subscribeRecords({ gpus: ['GPU-nope'] }, () => undefined), (error: unknown) => {
          assert.ok(error instanceof GputelError && error.code === 'GPU_NOT_FOUND');
          assert.match(error.message, /GPU-nope/);
          return true;
        });
        assert.equal(f.watches.started, 0);
      } finally {
        await f.query.close();
        await f.registry.stop();
      }
    });

    it('holds one watch for every subscriber: started by the first, stopped by the last, started again by the next', async () => {
      f = await fixture(base);
      try {
        assert.equal(f.watches.started, 0, 'no subscriber, no watch');
        const first = await f.query.subscribeRecords({}, () => undefined);
        const second = await f.query.subscribeRecords({ hosts: ['node-b'] }, () => undefined);
        assert.deepEqual([f.watches.started, f.watches.live], [1, 1]);
        first();
        first(); // idempotent
        assert.equal(f.watches.live, 1);
        second();
        await until('the watch to stop', 3_000, () => f.watches.live === 0);
        const seen = collector();
        const third = await f.query.subscribeRecords({}, seen.listener);
        assert.deepEqual([f.watches.started, f.watches.live], [2, 1]);
        await f.store('node-b', 'GPU-b0', T0, 2, 'm-1');
        await until('records through the new watch', 5_000, () => seen.records.length === 2);
        third();
      } finally {
        await f.query.close();
        await f.registry.stop();
      }
      assert.equal(f.watches.live, 0);
    });

    it('close ends every subscription and its watch, refuses new ones, and keeps the subscriber count right', async () => {
      f = await fixture(base);
      const count = async (): Promise<number> => (await metricsRegistry.getSingleMetric('gputel_gateway_record_stream_subscribers')!.get()).values[0].value;
      const before = await count();
      const seen = collector();
      const unsubscribe = await f.query.subscribeRecords({}, seen.listener);
      await f.query.subscribeRecords({ hosts: ['node-a'] }, () => undefined);
      assert.equal(await count(), before + 2);
      await f.query.close();
      await f.query.close(); // twice is fine
      assert.equal(f.watches.live, 0);
      assert.equal(await count(), before);
      unsubscribe(); // after close: harmless, not counted twice
      assert.equal(await count(), before);
      await assert.rejects(f.query.subscribeRecords({}, () => undefined), (error: unknown) => error instanceof GputelError && error.code === 'KV_CLOSED');
      await f.store('node-a', 'GPU-a0', T0, 2, 'm-1');
      await f.store('node-a', 'GPU-a0', T0 + 2_000, 1, 'm-2');
      await f.registry.stop();
      assert.deepEqual(seen.records, []);
    });

    it('resumes right after the last event it delivered when its watch ends, and from now when that history is compacted', async () => {
      f = await fixture(base);
      try {
        const seen = collector();
        const unsubscribe = await f.query.subscribeRecords({}, seen.listener);
        const key = await f.store('node-a', 'GPU-a0', T0, 2, 'm-1');
        await until('the records', 5_000, () => seen.records.length === 2);
        const revision = (await f.kv.get(key))!.modRevision;
        f.watches.last!.onError!(new GputelError('KV_UNAVAILABLE', 'the store restarted'));
        await until('a new watch', 5_000, () => f.watches.started === 2 && f.watches.live === 1);
        assert.equal(f.watches.last!.fromRevision, revision + 1, 'after the last event, so nothing stored meanwhile is missed');
        f.watches.last!.onError!(new GputelError('KV_COMPACTED', 'history compacted under the watch'));
        await until('a third watch', 5_000, () => f.watches.started === 3 && f.watches.live === 1);
        assert.equal(f.watches.last!.fromRevision, undefined, 'from now');
        unsubscribe();
      } finally {
        await f.query.close();
        await f.registry.stop();
      }
    });

    it('follows again when its watch ends, and records stored after that arrive', async () => {
      f = await fixture(base);
      try {
        const seen = collector();
        const unsubscribe = await f.query.subscribeRecords({}, seen.listener);
        // What a driver does when history under the watch is compacted or the store restarts.
        f.watches.last!.onError!(new GputelError('KV_COMPACTED', 'history compacted under the watch'));
        await until('a new watch', 5_000, () => f.watches.started === 2 && f.watches.live === 1);
        await f.store('node-a', 'GPU-a1', T0, 2, 'm-1');
        await until('records after the restart', 5_000, () => seen.records.length === 2);
        unsubscribe();
      } finally {
        await f.query.close();
        await f.registry.stop();
      }
    });
  });
}

recordStreamSuite(
  'embedded',
  () => openKvStore({ dataDir: ':memory:' }),
  (kv) => kv.close(),
);

describe('on etcd', () => {
  const etcd = useEtcdStore();
  recordStreamSuite(
    'etcd',
    async () => etcd.store,
    async () => undefined,
  );
});
