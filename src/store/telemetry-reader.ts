/**
 * Reads one GPU's records for a time range out of its chunks, merging the
 * chunks of different messages into one record per timestamp.
 */
import { chunkTimeRange, timestampSegment, type KeySpace } from '../kv/key-space.js';
import type { KvStore } from '../kv/kv-store.js';
import type { Logger } from '../common/logger.js';
import { counter } from '../common/metrics.js';
import type { Attribution, Chunk } from './chunk-codec.js';
import { fetchChunks } from './chunk-fetch.js';
import type { GpuMetadata } from './gpu-records.js';

/** One GPU at one timestamp: every metric sampled then. */
export interface StoredRecord {
  timestampMs: number;
  values: Map<string, number>;
  attribution: Attribution;
}

export interface TelemetryQuery {
  /** Inclusive bounds, epoch ms. */
  startMs: number;
  endMs: number;
  limit: number;
  /** Leave out the chunks of this message (a collector checking what was stored before it). */
  excludeMessageId?: string;
  /** Called for a stored chunk that does not decode, which is then skipped; without it such a chunk throws STORE_CORRUPT. */
  onUnreadable?: (key: string, error: unknown) => void;
}

export interface TelemetryPage {
  records: StoredRecord[];
  /** Set when more records follow in the range: continue with startMs = this + 1. */
  lastTimestampMs: number | undefined;
  more: boolean;
}

/** Times in chunk keys are 13 digits: nothing is stored at or after this. */
export const MAX_KEY_TIME_MS = 10 ** 13;

const unreadableChunks = counter('gputel_store_unreadable_chunks_total', 'Stored chunks skipped because they do not decode');

/** Logs and counts a stored chunk that does not decode. */
export function reportUnreadable(logger: Logger, key: string, error: unknown): void {
  unreadableChunks.inc();
  logger.error({ key, err: error }, 'stored chunk does not decode; skipped');
}

/** The GPU series whose chunks are read, with its longest chunk span when known. */
export type ChunkOwner = Pick<GpuMetadata, 'hostname' | 'gpuKey'> & { maxChunkSpanMs?: number };

/** A stored chunk's key and the times its key says it covers. */
export interface ChunkRef {
  key: string;
  startMs: number;
  endMs: number;
}

/**
 * The key interval [lower, upper) holding every chunk of a GPU that can
 * have records in [startMs, endMs]; undefined when none can.
 */
export function chunkScanBounds(keys: KeySpace, cluster: string, gpu: ChunkOwner, startMs: number, endMs: number): { lower: string; upper: string } | undefined {
  const prefix = keys.gpuDataPrefix(cluster, gpu.hostname, gpu.gpuKey);
  if (endMs < startMs || startMs >= MAX_KEY_TIME_MS) return undefined;
  const upper = endMs + 1 < MAX_KEY_TIME_MS ? prefix + timestampSegment(Math.floor(endMs) + 1) : prefix + '~';
  // No chunk is longer than the GPU's longest span: chunks starting before
  // startMs minus that cannot reach the range (metadata from before the span
  // was recorded has none: scan from the beginning).
  const lower = gpu.maxChunkSpanMs === undefined ? prefix : prefix + timestampSegment(Math.max(0, startMs - gpu.maxChunkSpanMs));
  return { lower, upper };
}

/**
 * The keys of a GPU's chunks that can hold records in [startMs, endMs]
 * (keys only: cheap), ascending, less those of `excludeMessageId`.
 */
export async function chunksInRange(
  kv: KvStore,
  keys: KeySpace,
  cluster: string,
  gpu: ChunkOwner,
  startMs: number,
  endMs: number,
  excludeMessageId?: string,
): Promise<ChunkRef[]> {
  const bounds = chunkScanBounds(keys, cluster, gpu, startMs, endMs);
  if (!bounds) return [];
  const { lower, upper } = bounds;
  return (await kv.range({ start: lower, end: upper }, { keysOnly: true })).kvs
    .map((kv) => ({ key: kv.key, ...chunkTimeRange(kv.key) }))
    .filter((chunk) => chunk.endMs >= startMs && (excludeMessageId === undefined || !chunk.key.endsWith(`-${excludeMessageId}`)));
}

/** Chunk values fetched per request while reading. */
const CHUNKS_PER_FETCH = 64;

/**
 * Returns up to `limit` records with startMs <= time <= endMs, ascending.
 * Reads chunk keys first (cheap), then only as many chunk values as the
 * page needs: a chunk starting after the page's last record cannot change it.
 */
export async function readTelemetry(
  kv: KvStore,
  keys: KeySpace,
  cluster: string,
  gpu: ChunkOwner,
  query: TelemetryQuery,
): Promise<TelemetryPage> {
  const { endMs, limit } = query;
  const startMs = Math.floor(query.startMs);
  const chunkKeys = await chunksInRange(kv, keys, cluster, gpu, startMs, endMs, query.excludeMessageId);

  const records = new Map<number, StoredRecord>();
  let fetched = 0;
  while (fetched < chunkKeys.length) {
    const page = chunkKeys.slice(fetched, fetched + CHUNKS_PER_FETCH);
    for (const { chunk } of await fetchChunks(kv, page.map((listed) => listed.key), query.onUnreadable)) mergeChunk(records, chunk, startMs, endMs);
    fetched += page.length;
    // Records before the next unread chunk's start are final: stop once they fill the page.
    const nextStart = fetched < chunkKeys.length ? chunkKeys[fetched].startMs : Infinity;
    let final = 0;
    for (const t of records.keys()) if (t < nextStart) final++;
    if (final > limit) break;
  }

  const sorted = [...records.values()].sort((a, b) => a.timestampMs - b.timestampMs);
  const more = sorted.length > limit;
  const pageRecords = sorted.slice(0, limit);
  return { records: pageRecords, lastTimestampMs: pageRecords.at(-1)?.timestampMs, more };
}

function mergeChunk(records: Map<number, StoredRecord>, chunk: Chunk, startMs: number, endMs: number): void {
  const { timestampsMs, metrics, columns } = chunk;
  for (let r = 0; r < timestampsMs.length; r++) {
    const t = timestampsMs[r];
    if (t < startMs || t > endMs) continue;
    let record = records.get(t);
    if (!record) {
      record = { timestampMs: t, values: new Map(), attribution: chunk.attributions[chunk.attributionIndex[r]] };
      records.set(t, record);
    } else {
      record.attribution = chunk.attributions[chunk.attributionIndex[r]];
    }
    for (let m = 0; m < metrics.length; m++) {
      const value = columns[m][r];
      if (!Number.isNaN(value)) record.values.set(metrics[m], value);
    }
  }
}
