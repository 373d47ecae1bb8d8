/**
 * Downsampling straight from the chunks (downsampled-read.ts) gives what
 * downsampling the raw merged records gives, whatever the chunks' layout:
 * compacted or per-message, in time order, touching, overlapping or out of
 * order, read cold or from the decoded-chunk cache and its kept aggregates,
 * paged at any limit, with or without a metric selection; and a chain of
 * touching chunks longer than MAX_MERGED_RECORDS.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { createLogger } from '../../src/common/logger.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore } from '../../src/kv/kv-store.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { encodeChunk, type Chunk } from '../../src/store/chunk-codec.js';
import { MAX_MERGED_RECORDS } from '../../src/store/downsampled-read.js';
import { AGGREGATIONS, Downsampler, type Aggregation } from '../../src/store/downsampler.js';
import { FleetQuery, type TelemetryRequest } from '../../src/store/fleet-query.js';
import { Registry, type GpuEntry } from '../../src/store/registry.js';
import type { TelemetryColumns } from '../../src/store/telemetry-columns.js';

const CLUSTER = 'default';
const T0 = Date.parse('2026-03-02T00:00:00Z');
const METRICS = ['A', 'B', 'C'];

interface ChunkSpec {
  startS: number;
  records: number;
  intervalS: number;
  /** Which of METRICS the chunk has: bit m for METRICS[m]. */
  metricBits: number;
  compacted: boolean;
  seed: number;
}

function chunkOf(spec: ChunkSpec): Chunk {
  const timestampsMs = Float64Array.from({ length: spec.records }, (_, r) => T0 + (spec.startS + r * spec.intervalS) * 1_000);
  const metrics = METRICS.filter((_, m) => (spec.metricBits & (1 << m)) !== 0);
  return {
    timestampsMs,
    metrics,
    // Values with long decimals (sums depend on their order), and a hole every seventh record.
    columns: metrics.map((_, m) => Float64Array.from({ length: spec.records }, (_, r) => ((r + spec.seed) % 7 === m ? NaN : ((r * 31 + spec.seed * 17 + m) % 97) / 3))),
    attributions: [{ container: '', pod: '', namespace: '' }],
    attributionIndex: new Uint32Array(spec.records),
  };
}

/** What downsampling every raw record at once gives: the reference. */
function downsampledWhole(raw: TelemetryColumns, stepMs: number, aggregation: Aggregation, limit: number): TelemetryColumns & { more: boolean } {
  const downsampler = new Downsampler(stepMs, aggregation);
  downsampler.add(raw);
  downsampler.finish();
  return { ...downsampler.result(limit), more: downsampler.completeBuckets > limit };
}

/** Columns as plain arrays, absent values as null, to compare. */
function plain(page: TelemetryColumns): { times: number[]; metrics: Record<string, (number | null)[]> } {
  return { times: [...page.timestampsMs], metrics: Object.fromEntries(page.metrics.map((name, m) => [name, [...page.columns[m]].map((v) => (Number.isNaN(v) ? null : v))])) };
}

describe('downsampled read', () => {
  let kv: KvStore;
  let query: FleetQuery;
  let registry: Registry;
  const keys = new KeySpace('/gputel-downsampled-read');
  let gpuNumber = 0;
  before(async () => {
    kv = await openKvStore({ dataDir: ':memory:' });
    registry = new Registry(kv, keys, CLUSTER, createLogger('silent'));
    query = new FleetQuery(kv, keys, CLUSTER, registry, createLogger('silent'));
  });
  after(() => kv?.close());

  /** Stores the chunks for a GPU of its own, in the order given (a later key wins at the same time), and returns the GPU. */
  async function storeGpu(chunks: { chunk: Chunk; compacted: boolean }[]): Promise<GpuEntry> {
    const hostname = `node-${++gpuNumber}`;
    const gpuKey = `GPU-${gpuNumber}`;
    let maxChunkSpanMs = 0;
    for (const [i, { chunk, compacted }] of chunks.entries()) {
      const startMs = chunk.timestampsMs[0];
      const endMs = chunk.timestampsMs[chunk.timestampsMs.length - 1];
      maxChunkSpanMs = Math.max(maxChunkSpanMs, endMs - startMs);
      const key = compacted ? keys.gpuCompactedChunk(CLUSTER, hostname, gpuKey, startMs, endMs) : keys.gpuChunk(CLUSTER, hostname, gpuKey, startMs, endMs, `m${String(i).padStart(5, '0')}`);
      await kv.put(key, encodeChunk(chunk));
    }
    return { hostname, gpuKey, uuid: gpuKey, maxChunkSpanMs } as GpuEntry;
  }

  /** Every bucket through pages of `limit`, each page from the bucket after the last one served. */
  async function allPages(gpu: GpuEntry, request: TelemetryRequest): Promise<{ times: number[]; metrics: Record<string, (number | null)[]> }> {
    const times: number[] = [];
    const metrics: Record<string, (number | null)[]> = {};
    let startMs = request.startMs;
    for (let pages = 0; pages < 10_000; pages++) {
      const answer = await query.telemetry(gpu, { ...request, startMs });
      const page = plain(answer);
      for (const name of Object.keys(page.metrics)) metrics[name] ??= times.map(() => null);
      for (const [name, values] of Object.entries(metrics)) values.push(...(page.metrics[name] ?? page.times.map(() => null)));
      times.push(...page.times);
      if (!answer.more) return { times, metrics };
      startMs = page.times[page.times.length - 1] + request.downsample!.stepMs;
    }
    throw new Error('more than 10,000 pages');
  }

  it('gives the buckets of the merged raw records, whatever the chunks\' layout, cold and cached, paged or not', async () => {
    const spec = fc.record<ChunkSpec>({
      startS: fc.integer({ min: 0, max: 3_000 }),
      records: fc.integer({ min: 1, max: 60 }),
      intervalS: fc.integer({ min: 1, max: 30 }),
      metricBits: fc.integer({ min: 1, max: 7 }),
      compacted: fc.boolean(),
      seed: fc.integer({ min: 0, max: 1_000 }),
    });
    // Chunks in time order (as compaction leaves them), touching (a shared time), or anywhere.
    const layout = fc.oneof(
      fc.array(spec, { minLength: 1, maxLength: 12 }).map((specs) => {
        let at = 0;
        return specs.map((s, i) => {
          const placed = { ...s, startS: at + (i % 3 === 1 ? 0 : 1 + (s.startS % 50)) };
          at = placed.startS + (s.records - 1) * s.intervalS;
          return placed;
        });
      }),
      fc.array(spec, { minLength: 1, maxLength: 12 }),
    );
    await fc.assert(
      fc.asyncProperty(
        layout,
        fc.constantFrom(1_000, 5_000, 20_000, 60_000, 300_000),
        fc.constantFrom(...AGGREGATIONS),
        fc.integer({ min: 1, max: 40 }),
        fc.option(fc.subarray(METRICS, { minLength: 1 }), { nil: undefined }),
        fc.integer({ min: -100, max: 4_000 }),
        fc.integer({ min: 0, max: 8_000 }),
        async (specs, stepMs, aggregation, limit, selection, fromS, lengthS) => {
          const gpu = await storeGpu(specs.map((s) => ({ chunk: chunkOf(s), compacted: s.compacted })));
          const metrics = selection ? new Set(selection) : undefined;
          const range = { startMs: T0 + fromS * 1_000, endMs: T0 + (fromS + lengthS) * 1_000 };
          const raw = await query.telemetry(gpu, { ...range, limit: Number.MAX_SAFE_INTEGER, metrics });
          const expected = downsampledWhole(raw, stepMs, aggregation, Number.MAX_SAFE_INTEGER);
          const request = { ...range, limit, metrics, downsample: { stepMs, aggregation } };
          for (let read = 0; read < 2; read++) {
            const whole = await query.telemetry(gpu, { ...request, limit: Number.MAX_SAFE_INTEGER });
            assert.deepEqual(plain(whole), plain(expected), `read ${read}, whole`);
            assert.equal(whole.more, false);
            const paged = await allPages(gpu, request);
            assert.deepEqual(paged.times, plain(expected).times, `read ${read}, paged by ${limit}`);
            for (const [name, values] of Object.entries(plain(expected).metrics)) assert.deepEqual(paged.metrics[name], values, `read ${read}, paged, ${name}`);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it(`merges a chain of touching per-message chunks longer than ${MAX_MERGED_RECORDS.toLocaleString('en-US')} records in parts, with the same buckets`, async () => {
    // 60 chunks of 2,000 records at 1 s, each starting at the previous one's last time (a flush between a record's metrics), and one late chunk overlapping the middle.
    const chunks: { chunk: Chunk; compacted: boolean }[] = [];
    for (let i = 0; i < 60; i++) chunks.push({ chunk: chunkOf({ startS: i * 1_999, records: 2_000, intervalS: 1, metricBits: 7, compacted: false, seed: i }), compacted: false });
    chunks.push({ chunk: chunkOf({ startS: 50_000, records: 300, intervalS: 7, metricBits: 7, compacted: false, seed: 999 }), compacted: false });
    const gpu = await storeGpu(chunks);
    const range = { startMs: T0, endMs: T0 + 200_000_000 };
    const raw = await query.telemetry(gpu, { ...range, limit: Number.MAX_SAFE_INTEGER });
    assert.ok(raw.timestampsMs.length > MAX_MERGED_RECORDS, 'the chain is longer than one merge');
    for (const aggregation of ['avg', 'last'] as const) {
      const page = await query.telemetry(gpu, { ...range, limit: Number.MAX_SAFE_INTEGER, downsample: { stepMs: 60_000, aggregation } });
      assert.deepEqual(plain(page), plain(downsampledWhole(raw, 60_000, aggregation, Number.MAX_SAFE_INTEGER)), aggregation);
    }
  });
});
