/**
 * Reads one GPU's telemetry for a time range straight into columns: one
 * Float64Array of times and one per metric, merged chunk by chunk and column
 * by column. No object is built per record, which is what made the record
 * reader slow for bulk reads (see docs/performance.md).
 */
import type { KeySpace } from '../kv/key-space.js';
import type { KvStore, KeyValue } from '../kv/kv-store.js';
import { decodeChunk, type Chunk } from './chunk-codec.js';
import type { GpuMetadata } from './gpu-records.js';
import { chunksInRange, type ChunkRef } from './telemetry-reader.js';

/**
 * Records of one GPU in columns, ascending by time with no duplicate times.
 * `columns[m][r]` is metric `metrics[m]` at `timestampsMs[r]`; NaN means the
 * record has no sample of it. `metrics` is ascending and lists only metrics
 * with at least one sample. The arrays belong to the caller.
 */
export interface TelemetryColumns {
  timestampsMs: Float64Array;
  metrics: string[];
  columns: Float64Array[];
}

export interface ColumnsPage extends TelemetryColumns {
  /** True when more records follow in the range: continue after the last timestamp. */
  more: boolean;
}

export interface ColumnsQuery {
  /** Inclusive bounds, epoch ms. */
  startMs: number;
  endMs: number;
  limit: number;
  /** Called for a stored chunk that does not decode, which is then skipped; without it such a chunk throws STORE_CORRUPT. */
  onUnreadable?: (key: string, error: unknown) => void;
}

export type ChunkOwner = Pick<GpuMetadata, 'hostname' | 'gpuKey'> & { maxChunkSpanMs?: number };

/** Chunks fetched by the first request of a read, before the density of records is known. */
const FIRST_FETCH_CHUNKS = 32;
/** Most chunks fetched in one range request (a format-1 chunk of a 20,000-sample message is ~3.5 KB). */
const MAX_FETCH_CHUNKS = 2_048;

/** Records of a decoded chunk that fall in the range: rows [from, to). */
interface ChunkRows {
  chunk: Chunk;
  from: number;
  to: number;
}

export const EMPTY_COLUMNS: TelemetryColumns = Object.freeze({ timestampsMs: new Float64Array(0), metrics: [], columns: [] }) as TelemetryColumns;

/**
 * Returns up to `limit` records with startMs <= time <= endMs, ascending,
 * merged from every chunk (a later chunk's value wins at the same time and
 * metric, as the record reader does). Reads chunk keys first, then chunk
 * values in as few range requests as the page needs: a first small one, then
 * one sized from the density of records it found.
 */
export async function readTelemetryColumns(kv: KvStore, keys: KeySpace, cluster: string, gpu: ChunkOwner, query: ColumnsQuery): Promise<ColumnsPage> {
  const startMs = Math.floor(query.startMs);
  const { endMs, limit } = query;
  const refs = await chunksInRange(kv, keys, cluster, gpu, startMs, endMs);
  const parts: ChunkRows[] = [];
  let fetched = 0;
  let rowsFound = 0;
  while (fetched < refs.length) {
    const count = fetched === 0 ? FIRST_FETCH_CHUNKS : chunksToFetch(refs, fetched, limit + 1 - rowsFound, parts);
    const batch = refs.slice(fetched, fetched + count);
    for (const stored of await fetchChunks(kv, batch, refs[fetched + count]?.key)) {
      let chunk: Chunk;
      try {
        chunk = decodeChunk(stored.value, stored.key);
      } catch (error) {
        if (!query.onUnreadable) throw error;
        query.onUnreadable(stored.key, error);
        continue;
      }
      const rows = rowsInRange(chunk, startMs, endMs);
      if (rows.to > rows.from) {
        parts.push(rows);
        rowsFound += rows.to - rows.from;
      }
    }
    fetched += batch.length;
    if (fetched < refs.length && rowsFound > limit) {
      // Records before the next unread chunk's start are final: stop once they fill the page.
      const nextStart = refs[fetched].startMs;
      const times = mergedTimes(parts);
      if (countBefore(times, nextStart) > limit) break;
    }
  }
  return mergeColumns(parts, limit);
}

/**
 * How many chunks the next request should fetch to find `wanted` more
 * records: from the records per millisecond of chunk time seen so far, plus
 * a quarter; a short answer only costs one more request.
 */
function chunksToFetch(refs: ChunkRef[], fetched: number, wanted: number, parts: ChunkRows[]): number {
  let rows = 0;
  for (const part of parts) rows += part.to - part.from;
  const spanMs = Math.max(1, refs[fetched - 1].endMs - refs[0].startMs + 1);
  const rowsPerMs = rows / spanMs;
  if (rowsPerMs === 0) return Math.min(MAX_FETCH_CHUNKS, fetched * 2);
  const untilMs = refs[fetched].startMs + (wanted * 1.25) / rowsPerMs;
  let count = 0;
  while (fetched + count < refs.length && count < MAX_FETCH_CHUNKS && refs[fetched + count].startMs <= untilMs) count++;
  return Math.max(1, count);
}

/**
 * The values of `batch` (consecutive wanted chunks) in one range request,
 * from the first key up to the next wanted one. The only keys in between that
 * are not wanted are chunks that ended before the range (they start within
 * the GPU's longest chunk span before it): skipped here without decoding.
 */
async function fetchChunks(kv: KvStore, batch: ChunkRef[], nextKey: string | undefined): Promise<KeyValue[]> {
  const wanted = new Set(batch.map((ref) => ref.key));
  const last = batch[batch.length - 1].key;
  // The end is exclusive: the next wanted key, or just after the last (keys are printable ASCII, so nothing sorts between it and it + ' ').
  const result = await kv.range({ start: batch[0].key, end: nextKey ?? `${last} ` });
  return result.kvs.length === batch.length ? result.kvs : result.kvs.filter((stored) => wanted.has(stored.key));
}

function rowsInRange(chunk: Chunk, startMs: number, endMs: number): ChunkRows {
  const times = chunk.timestampsMs;
  let from = 0;
  while (from < times.length && times[from] < startMs) from++;
  let to = times.length;
  while (to > from && times[to - 1] > endMs) to--;
  return { chunk, from, to };
}

/** True when every part starts after the previous one ends: the common case (data in time order), merged by concatenation. */
function disjointInOrder(parts: ChunkRows[]): boolean {
  for (let p = 1; p < parts.length; p++) {
    const previous = parts[p - 1];
    if (parts[p].chunk.timestampsMs[parts[p].from] <= previous.chunk.timestampsMs[previous.to - 1]) return false;
  }
  return true;
}

/** The distinct record times of all parts, ascending. */
function mergedTimes(parts: ChunkRows[]): Float64Array {
  let total = 0;
  for (const part of parts) total += part.to - part.from;
  const times = new Float64Array(total);
  let at = 0;
  for (const part of parts) {
    times.set(part.chunk.timestampsMs.subarray(part.from, part.to), at);
    at += part.to - part.from;
  }
  if (disjointInOrder(parts)) return times;
  times.sort();
  let distinct = 0;
  for (let i = 0; i < times.length; i++) if (i === 0 || times[i] !== times[distinct - 1]) times[distinct++] = times[i];
  return times.slice(0, distinct);
}

function countBefore(times: Float64Array, limitMs: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid] < limitMs) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Merges the parts (in key order) into columns, keeping the first `limit` records. */
function mergeColumns(parts: ChunkRows[], limit: number): ColumnsPage {
  if (parts.length === 0) return { ...EMPTY_COLUMNS, more: false };
  const allTimes = mergedTimes(parts);
  const more = allTimes.length > limit;
  const timestampsMs = more ? allTimes.slice(0, limit) : allTimes;
  const records = timestampsMs.length;
  const lastMs = records > 0 ? timestampsMs[records - 1] : -Infinity;
  const inOrder = disjointInOrder(parts);
  const columnOf = new Map<string, Float64Array>();
  let offset = 0;
  for (const part of parts) {
    const { chunk, from } = part;
    const times = chunk.timestampsMs;
    // Rows of this part that made the page.
    let to = part.to;
    while (to > from && times[to - 1] > lastMs) to--;
    // Where each row lands: consecutive when in order, else looked up.
    const positions = inOrder ? undefined : new Int32Array(to - from);
    if (positions) for (let r = from; r < to; r++) positions[r - from] = countBefore(timestampsMs, times[r]);
    for (let m = 0; m < chunk.metrics.length; m++) {
      const source = chunk.columns[m];
      let target: Float64Array | undefined;
      for (let r = from; r < to; r++) {
        const value = source[r];
        if (value !== value) continue; // NaN: no sample
        if (!target) {
          target = columnOf.get(chunk.metrics[m]);
          if (!target) {
            target = new Float64Array(records).fill(NaN);
            columnOf.set(chunk.metrics[m], target);
          }
        }
        target[positions ? positions[r - from] : offset + r - from] = value;
      }
    }
    offset += to - from;
  }
  const metrics = [...columnOf.keys()].sort();
  return { timestampsMs, metrics, columns: metrics.map((name) => columnOf.get(name)!), more };
}
