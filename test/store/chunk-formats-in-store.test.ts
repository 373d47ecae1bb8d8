/**
 * Format-1 chunks written by earlier versions and format-2 chunks written
 * now sit side by side under one GPU; the reader merges both, on the
 * embedded store and on a real etcd, and counts every sample once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore } from '../../src/kv/kv-store.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { encodeChunk, type Chunk } from '../../src/store/chunk-codec.js';
import { encodeChunkFormat1 } from '../../src/store/chunk-format-1.js';
import { readTelemetry } from '../../src/store/telemetry-reader.js';
import { useEtcdStore } from '../support/etcd-store.js';

const CLUSTER = 'default';
const GPU = { hostname: 'gpu-node-01', gpuKey: 'GPU-0a1b2c3d-1111-2222-3333-444455556666' };
const START_MS = 1772409600000;
const METRICS = ['DCGM_FI_DEV_GPU_TEMP', 'DCGM_FI_DEV_POWER_USAGE', 'DCGM_FI_PROF_PIPE_TENSOR_ACTIVE'];

/** `records` records from `first`, 10 s apart; tensor activity only on even records. */
function chunkOf(first: number, records: number): Chunk {
  return {
    timestampsMs: Float64Array.from({ length: records }, (_, r) => START_MS + (first + r) * 10_000),
    metrics: METRICS,
    columns: [
      Float64Array.from({ length: records }, (_, r) => 40 + ((first + r) % 5)),
      Float64Array.from({ length: records }, (_, r) => 300 + ((first + r) * 7.125) % 100),
      Float64Array.from({ length: records }, (_, r) => ((first + r) % 2 === 0 ? ((first + r) % 97) / 10_000 : Number.NaN)),
    ],
    attributions: [{ container: 'trainer', pod: `job-${first}`, namespace: 'ml' }],
    attributionIndex: new Uint32Array(records),
  };
}

function presentSamples(chunk: Chunk): number {
  return chunk.columns.reduce((sum, column) => sum + column.filter((v) => !Number.isNaN(v)).length, 0);
}

function storeCases(name: string, open: () => KvStore | Promise<KvStore>, close: (kv: KvStore) => Promise<void>): void {
  describe(`chunk formats side by side (${name})`, () => {
    let kv: KvStore;
    const keys = new KeySpace(`/chunk-formats-${name}-${process.pid}`);
    before(async () => {
      kv = await open();
    });
    after(async () => {
      await close(kv);
    });

    it('reads format-1 and format-2 chunks of one GPU as one series, every sample once', async () => {
      // An old collector wrote the first 100 records in format 1; this one writes the next 820 in format 2 (one 720-record chunk: planes).
      const old = chunkOf(0, 100);
      const newer = [chunkOf(100, 100), chunkOf(200, 720)];
      const write = async (chunk: Chunk, messageId: string, bytes: Buffer): Promise<void> => {
        const times = chunk.timestampsMs;
        await kv.put(keys.gpuChunk(CLUSTER, GPU.hostname, GPU.gpuKey, times[0], times[times.length - 1], messageId), bytes);
      };
      await write(old, 'm-old', encodeChunkFormat1(old));
      await write(newer[0], 'm-new1', encodeChunk(newer[0]));
      await write(newer[1], 'm-new2', encodeChunk(newer[1]));

      const page = await readTelemetry(kv, keys, CLUSTER, GPU, { startMs: START_MS, endMs: START_MS + 1000 * 10_000, limit: 10_000 });
      assert.equal(page.more, false);
      assert.equal(page.records.length, 920);
      const samplesIn = [old, ...newer].reduce((sum, chunk) => sum + presentSamples(chunk), 0);
      const samplesOut = page.records.reduce((sum, record) => sum + record.values.size, 0);
      assert.equal(samplesOut, samplesIn);
      // Values come back exactly, whichever format holds them.
      for (const [r, record] of page.records.entries()) {
        const source = r < 100 ? old : r < 200 ? newer[0] : newer[1];
        const at = r < 100 ? r : r < 200 ? r - 100 : r - 200;
        assert.equal(record.timestampMs, START_MS + r * 10_000);
        assert.equal(record.values.get('DCGM_FI_DEV_POWER_USAGE'), source.columns[1][at]);
        assert.equal(record.values.get('DCGM_FI_PROF_PIPE_TENSOR_ACTIVE'), Number.isNaN(source.columns[2][at]) ? undefined : source.columns[2][at]);
        assert.equal(record.attribution.pod, source.attributions[0].pod);
      }
    });
  });
}

storeCases('embedded', () => openKvStore({ dataDir: ':memory:' }), (kv) => kv.close());

describe('etcd', () => {
  const etcd = useEtcdStore();
  storeCases('etcd', () => etcd.store, async () => {});
});
