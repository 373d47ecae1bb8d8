/**
 * Downsampling straight from the chunks (downsampled-read.ts) gives what
 * downsampling the raw merged records gives, whatever the chunks' layout:
 * compacted or per-message, in time order, touching, overlapping or out of
 * order, read cold or from the decoded-chunk cache and its kept aggregates,
 * paged at any limit, with or without a metric selection, with the GPU's
 * stored longest span right, missing or longer than the registry's; chains of
 * touching chunks longer than MAX_MERGED_RECORDS (and than any small bound);
 * no page promised that holds no bucket; and the scan closed however the
 * read ends.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { createLogger } from '../../src/common/logger.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore } from '../../src/kv/kv-store.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { encodeChunk, type Chunk } from '../../src/store/chunk-codec.js';
import { downsampleChunks, MAX_MERGED_RECORDS } from '../../src/store/downsampled-read.js';
import { AGGREGATIONS, Downsampler, type Aggregation } from '../../src/store/downsampler.js';
import { FleetQuery, type TelemetryRequest } from '../../src/store/fleet-query.js';
import { encodeJson, type GpuMetadata } from '../../src/store/gpu-records.js';
import { Registry, type GpuEntry } from '../../src/store/registry.js';
import { mergeColumns, type ChunkRows, type ChunkRowsBatch, type FetchHint, type TelemetryColumns } from '../../src/store/telemetry-columns.js';

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

/** Chunks of up to `maxRecords` records starting within `maxStartS` s of T0. */
function chunkSpec(bounds: { maxStartS: number; maxRecords: number; maxIntervalS: number; compacted: fc.Arbitrary<boolean> }): fc.Arbitrary<ChunkSpec> {
  return fc.record<ChunkSpec>({
    startS: fc.integer({ min: 0, max: bounds.maxStartS }),
    records: fc.integer({ min: 1, max: bounds.maxRecords }),
    intervalS: fc.integer({ min: 1, max: bounds.maxIntervalS }),
    metricBits: fc.integer({ min: 1, max: 7 }),
    compacted: bounds.compacted,
    seed: fc.integer({ min: 0, max: 1_000 }),
  });
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

  /**
   * Stores the chunks for a GPU of its own, in the order given (a later key
   * wins at the same time), and returns the GPU as the registry would know
   * it. `metadata`: stored with the right longest span (the usual read),
   * not stored, or stored with a longer span than the registry's (each read
   * starts again with the stored one).
   */
  async function storeGpu(chunks: { chunk: Chunk; compacted: boolean }[], metadata: 'right' | 'none' | 'registry-behind' = 'right'): Promise<GpuEntry> {
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
    if (metadata !== 'none') {
      const stored: GpuMetadata = { gpuKey, uuid: gpuKey, gpuId: 0, hostname, device: 'nvidia0', modelName: 'H100', driverVersion: '', migInstanceId: '', migProfile: '', firstSeenMs: T0, maxChunkSpanMs, metricAliases: {} };
      await kv.put(keys.gpuMetadata(CLUSTER, hostname, gpuKey), encodeJson(stored));
    }
    return { hostname, gpuKey, uuid: gpuKey, maxChunkSpanMs: metadata === 'registry-behind' ? Math.floor(maxChunkSpanMs / 2) : maxChunkSpanMs } as GpuEntry;
  }

  /** Every bucket through pages of `limit`, each page from the bucket after the last one served. */
  async function allPages(gpu: GpuEntry, request: TelemetryRequest): Promise<{ times: number[]; metrics: Record<string, (number | null)[]> }> {
    const times: number[] = [];
    const metrics: Record<string, (number | null)[]> = {};
    let startMs = request.startMs;
    for (let pages = 0; pages < 10_000; pages++) {
      const answer = await query.telemetry(gpu, { ...request, startMs });
      const page = plain(answer);
      assert.ok(pages === 0 || page.times.length > 0, `page ${pages + 1}, promised by the one before, holds no bucket`);
      for (const name of Object.keys(page.metrics)) metrics[name] ??= times.map(() => null);
      for (const [name, values] of Object.entries(metrics)) values.push(...(page.metrics[name] ?? page.times.map(() => null)));
      times.push(...page.times);
      if (!answer.more) return { times, metrics };
      startMs = page.times[page.times.length - 1] + request.downsample!.stepMs;
    }
    throw new Error('more than 10,000 pages');
  }

  it('gives the buckets of the merged raw records, whatever the chunks\' layout, cold and cached, paged or not', async () => {
    const spec = chunkSpec({ maxStartS: 3_000, maxRecords: 60, maxIntervalS: 30, compacted: fc.boolean() });
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
        fc.constantFrom('right', 'right', 'none', 'registry-behind'),
        async (specs, stepMs, aggregation, limit, selection, fromS, lengthS, metadata) => {
          const gpu = await storeGpu(specs.map((s) => ({ chunk: chunkOf(s), compacted: s.compacted })), metadata);
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
  it('gives the buckets of the merged raw records with any bound on the records merged at once', async () => {
    const spec = chunkSpec({ maxStartS: 400, maxRecords: 40, maxIntervalS: 5, compacted: fc.constant(false) });
    await fc.assert(
      fc.asyncProperty(
        fc.array(spec, { minLength: 1, maxLength: 15 }),
        fc.integer({ min: 1, max: 60 }),
        fc.constantFrom(1_000, 7_000, 60_000),
        fc.constantFrom(...AGGREGATIONS),
        fc.integer({ min: 1, max: 30 }),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 15 }),
        async (specs, maxMerged, stepMs, aggregation, limit, batchSizes) => {
          // Parts in key order (start time, then end): what a scan yields, in batches of any size.
          const parts: ChunkRows[] = specs
            .map(chunkOf)
            .sort((a, b) => a.timestampsMs[0] - b.timestampsMs[0] || a.timestampsMs[a.timestampsMs.length - 1] - b.timestampsMs[b.timestampsMs.length - 1])
            .map((chunk) => ({ chunk, from: 0, to: chunk.timestampsMs.length, keyStartMs: chunk.timestampsMs[0], cached: false }));
          const batches: ChunkRowsBatch[] = [];
          for (let at = 0, b = 0; at < parts.length; b++) {
            const size = batchSizes[b % batchSizes.length];
            batches.push({ parts: parts.slice(at, at + size), lastKey: '', more: at + size < parts.length });
            at += size;
          }
          async function* scan(): AsyncGenerator<ChunkRowsBatch> {
            yield* batches;
          }
          const page = await downsampleChunks(scan(), new Downsampler(stepMs, aggregation), limit, undefined, maxMerged);
          const expected = downsampledWhole(mergeColumns(parts, Infinity, undefined, false), stepMs, aggregation, limit);
          assert.deepEqual(plain(page), plain(expected));
          assert.equal(page.more, expected.more);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('promises no further page when the open bucket has no sample of the selected metrics', async () => {
    const gpu = await storeGpu([
      // A and B at T0 (B has a value: seed 0 leaves A out), then A alone at T0 + 1 s and + 2 s.
      { chunk: chunkOf({ startS: 0, records: 1, intervalS: 1, metricBits: 3, compacted: false, seed: 0 }), compacted: false },
      { chunk: chunkOf({ startS: 1, records: 1, intervalS: 1, metricBits: 1, compacted: false, seed: 3 }), compacted: false },
      { chunk: chunkOf({ startS: 2, records: 1, intervalS: 1, metricBits: 1, compacted: false, seed: 3 }), compacted: false },
    ]);
    const page = await query.telemetry(gpu, { startMs: T0, endMs: T0 + 10_000, limit: 1, metrics: new Set(['B']), downsample: { stepMs: 1_000, aggregation: 'avg' } });
    assert.deepEqual([...page.timestampsMs], [T0]);
    assert.equal(page.more, false);
  });

  it('closes the scan (what it learnt sizes the next read) when a read ends within its first range', async () => {
    const gpu = await storeGpu(Array.from({ length: 10 }, (_, i) => ({ chunk: chunkOf({ startS: i * 1_000, records: 100, intervalS: 1, metricBits: 7, compacted: true, seed: i }), compacted: true })));
    const hint = (query as unknown as { fetchHint: FetchHint }).fetchHint;
    hint.recordsPerChunk = 0;
    hint.bytesPerChunk = 0;
    const page = await query.telemetry(gpu, { startMs: T0, endMs: T0 + 10_000_000, limit: 1, downsample: { stepMs: 10_000, aggregation: 'max' } });
    assert.equal(page.more, true);
    assert.equal(hint.recordsPerChunk, 100);
    assert.ok(hint.bytesPerChunk > 0);
  });
});
