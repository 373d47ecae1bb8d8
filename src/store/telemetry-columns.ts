/**
 * Reads one GPU's telemetry for a time range straight into columns: one
 * Float64Array of times and one per metric, merged chunk by chunk and column
 * by column. No object is built per record, which is what made the record
 * reader slow for bulk reads (see docs/performance.md).
 */
import { chunkTimeRange, isCompactedChunkKey, type KeySpace } from '../kv/key-space.js';
import type { KeyValue, KvStore } from '../kv/kv-store.js';
import { type Chunk } from './chunk-codec.js';
import { decodeStoredChunk } from './chunk-fetch.js';
import type { DecodedChunkCache } from './decoded-chunk-cache.js';
import { chunkScanBounds, type ChunkOwner } from './telemetry-reader.js';
import { giveBackColumns, takeColumn } from './column-pool.js';

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
  /**
   * Gives the page's arrays back to the column pool (column-pool.ts) for
   * later reads; idempotent. Optional to call: only a caller that is done
   * with the page, and shares its arrays with nobody, may.
   */
  release?: () => void;
}

export interface ColumnsQuery {
  /** Inclusive bounds, epoch ms. */
  startMs: number;
  endMs: number;
  limit: number;
  /** Called for a stored chunk that does not decode, which is then skipped; without it such a chunk throws STORE_CORRUPT. */
  onUnreadable?: (key: string, error: unknown) => void;
  /**
   * What earlier reads found, to size this read's first range; updated with
   * what this read finds. Without it the first range reads FIRST_FETCH_CHUNKS.
   */
  hint?: FetchHint;
  /** Decoded compacted chunks of earlier reads, reused under the same key and modRevision. */
  cache?: DecodedChunkCache;
  /** Only these metrics go into the page (the records are the same); all when absent. */
  metrics?: ReadonlySet<string>;
  /**
   * The caller gives the page back with `release()` once done: its arrays
   * then come from the column pool. Otherwise they are allocated to size
   * (the pool rounds up to powers of two, which only pays when reused).
   */
  pooled?: boolean;
}

/**
 * Records and bytes per stored chunk as the last read found them. A guess
 * only: it sizes ranges (so that a whole page usually takes one round trip),
 * never decides which records are returned. Zero records per chunk means
 * nothing is known yet.
 */
export interface FetchHint {
  recordsPerChunk: number;
  bytesPerChunk: number;
}

/** Chunks read by the first request of a read, before the records per chunk are known. */
const FIRST_FETCH_CHUNKS = 32;
/** Most chunks read in one range request. */
const MAX_FETCH_CHUNKS = 4_096;
/** Chunk bytes one range request aims at, so that large (compacted) chunks do not make huge answers. */
const FETCH_BYTES = 4 * 1024 * 1024;

/** Records of a decoded chunk that fall in the range: rows [from, to). */
export interface ChunkRows {
  chunk: Chunk;
  from: number;
  to: number;
  /** The chunk's key starts at this time (key order is start order): no later chunk has a record before it. */
  keyStartMs: number;
  /** The chunk came from (or went into) the decoded-chunk cache: the same object comes back for the same stored value. */
  cached: boolean;
}

/** What one range answer held: the chunks with records in the range, and the last key read (in range or not). */
export interface ChunkRowsBatch {
  parts: ChunkRows[];
  lastKey: string;
  /** More ranges follow: the scan has not reached the end of the range. */
  more: boolean;
}

export interface ChunkScan extends Pick<ColumnsQuery, 'startMs' | 'endMs' | 'onUnreadable' | 'hint' | 'cache'> {
  /**
   * How many more records the scan wants, given how many it has found, to
   * size the next range; the scan itself goes on until the caller stops
   * iterating or the range is read.
   */
  rowsWanted: (rowsFound: number) => number;
}

/** A page with no record (fresh arrays: they belong to the caller). */
function emptyPage(): ColumnsPage {
  return { timestampsMs: new Float64Array(0), metrics: [], columns: [], more: false };
}

/**
 * The chunks of a GPU that hold records in [startMs, endMs], decoded, in key
 * order, one batch per range request.
 *
 * Chunk values are read with ranges, without a keys-only pass first: a
 * first small range, then ranges sized from the records per chunk found so
 * far for the records still wanted. The profile showed the keys-only pass
 * costing as much as reading the values (one 24 h read on etcd: 4.4 ms for
 * 441 keys, 6.9 ms for their values).
 */
export async function* scanChunkRows(kv: KvStore, keys: KeySpace, cluster: string, gpu: ChunkOwner, scan: ChunkScan): AsyncGenerator<ChunkRowsBatch> {
  const startMs = Math.floor(scan.startMs);
  const { endMs, hint } = scan;
  const bounds = chunkScanBounds(keys, cluster, gpu, startMs, endMs);
  if (!bounds) return;
  let from = bounds.lower;
  let chunksRead = 0;
  let bytesRead = 0;
  let rowsFound = 0;
  // Records of the chunks decoded, in range or not: the store's density, which a partial first or last chunk would understate.
  let chunksDecoded = 0;
  let recordsDecoded = 0;
  // One range usually holds the whole page when the hint is right (the profile: each extra round trip cost as much as decoding the page).
  let fetchChunks = hint && hint.recordsPerChunk > 0 ? fetchSize(scan.rowsWanted(0), hint.recordsPerChunk, hint.bytesPerChunk) : FIRST_FETCH_CHUNKS;
  try {
    for (;;) {
      const result = await kv.range({ start: from, end: bounds.upper }, { limit: fetchChunks });
      if (result.kvs.length === 0) return;
      const parts: ChunkRows[] = [];
      for (const stored of result.kvs) {
        chunksRead++;
        bytesRead += stored.value.length;
        const { startMs: keyStartMs, endMs: keyEndMs } = chunkTimeRange(stored.key);
        // Chunks that start within the longest span before the range but end before it: skipped undecoded.
        if (keyEndMs < startMs) continue;
        const decoded = cachedOrDecoded(stored, scan);
        if (!decoded) continue;
        chunksDecoded++;
        recordsDecoded += decoded.chunk.timestampsMs.length;
        const rows = rowsInRange(decoded.chunk, startMs, endMs);
        if (rows.to > rows.from) {
          parts.push({ ...rows, keyStartMs, cached: decoded.cached });
          rowsFound += rows.to - rows.from;
        }
      }
      yield { parts, lastKey: result.kvs[result.kvs.length - 1].key, more: result.more };
      if (!result.more) return;
      // Keys are printable ASCII: nothing sorts between a key and the key plus ' '.
      from = `${result.kvs[result.kvs.length - 1].key} `;
      fetchChunks = fetchSize(scan.rowsWanted(rowsFound), rowsFound / chunksRead, bytesRead / chunksRead);
    }
  } finally {
    if (hint && chunksDecoded > 0) {
      hint.recordsPerChunk = recordsDecoded / chunksDecoded;
      hint.bytesPerChunk = bytesRead / chunksRead;
    }
  }
}

/**
 * Returns up to `limit` records with startMs <= time <= endMs, ascending,
 * merged from every chunk (a later chunk's value wins at the same time and
 * metric, as the record reader does). Ranges are read until the records
 * known to be final fill the page.
 */
export async function readTelemetryColumns(kv: KvStore, keys: KeySpace, cluster: string, gpu: ChunkOwner, query: ColumnsQuery): Promise<ColumnsPage> {
  const { limit } = query;
  const pooled = query.pooled === true;
  const parts: ChunkRows[] = [];
  let rowsFound = 0;
  for await (const { parts: batch, lastKey, more } of scanChunkRows(kv, keys, cluster, gpu, { ...query, rowsWanted: (found) => limit + 1 - found })) {
    for (const part of batch) {
      parts.push(part);
      rowsFound += part.to - part.from;
    }
    if (more && rowsFound > limit) {
      // Every unread chunk starts at or after the last one read: records before that are final.
      const times = mergedTimes(parts, pooled);
      const final = countBefore(times, chunkTimeRange(lastKey).startMs);
      giveBackColumns([times]);
      if (final > limit) break;
    }
  }
  return mergeColumns(parts, limit, query.metrics, pooled);
}

/** Chunks for the next range: enough for the records still wanted (plus a quarter), at most ~FETCH_BYTES. */
function fetchSize(rowsWanted: number, rowsPerChunk: number, bytesPerChunk: number): number {
  const byRows = Math.ceil((rowsWanted * 1.25) / Math.max(1, rowsPerChunk));
  const byBytes = Math.floor(FETCH_BYTES / Math.max(1, bytesPerChunk));
  return Math.max(FIRST_FETCH_CHUNKS, Math.min(MAX_FETCH_CHUNKS, byBytes, byRows));
}

function rowsInRange(chunk: Chunk, startMs: number, endMs: number): { chunk: Chunk; from: number; to: number } {
  const times = chunk.timestampsMs;
  let from = 0;
  while (from < times.length && times[from] < startMs) from++;
  let to = times.length;
  while (to > from && times[to - 1] > endMs) to--;
  return { chunk, from, to };
}

/**
 * Where each part's first row lands among the merged records when the parts
 * follow each other in time, each starting at or after the previous one's
 * last time: the common case. Parts may share that one boundary time: a
 * streamer flush can fall between the metrics of one GPU at one timestamp,
 * which the profile showed happening at most chunk boundaries. Undefined
 * when parts overlap more (data out of order, the same rows streamed twice).
 */
function orderedLayout(parts: readonly ChunkRows[]): { starts: Int32Array; records: number } | undefined {
  const starts = new Int32Array(parts.length);
  let records = 0;
  let previousLast = -Infinity;
  for (let p = 0; p < parts.length; p++) {
    const { chunk, from, to } = parts[p];
    const first = chunk.timestampsMs[from];
    if (first < previousLast) return undefined;
    const shared = first === previousLast ? 1 : 0;
    starts[p] = records - shared;
    records += to - from - shared;
    previousLast = chunk.timestampsMs[to - 1];
  }
  return { starts, records };
}

/** A column of `length` values: from the pool when the page will be given back, else of that size exactly. */
function newColumn(length: number, pooled: boolean): Float64Array {
  return pooled ? takeColumn(length) : new Float64Array(length);
}

/** The distinct record times of all parts, ascending. */
function mergedTimes(parts: readonly ChunkRows[], pooled: boolean, layout = orderedLayout(parts)): Float64Array {
  let total = 0;
  for (const part of parts) total += part.to - part.from;
  const times = newColumn(layout ? layout.records : total, pooled);
  let at = 0;
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p];
    if (layout) at = layout.starts[p];
    times.set(part.chunk.timestampsMs.subarray(part.from, part.to), at);
    at += part.to - part.from;
  }
  if (layout) return times;
  times.sort();
  let distinct = 0;
  for (let i = 0; i < times.length; i++) if (i === 0 || times[i] !== times[distinct - 1]) times[distinct++] = times[i];
  // A view, not a copy: the pooled memory under it goes back with the page.
  return times.subarray(0, distinct);
}

export function countBefore(times: Float64Array, limitMs: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid] < limitMs) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Merges the parts (in key order) into columns, keeping the first `limit`
 * records. In the common case (parts in time order, see orderedLayout) each
 * chunk column is copied into place by a tight loop; otherwise each row's
 * place is looked up. Later parts overwrite earlier ones. Metrics outside
 * `selected` (when given) are not copied.
 */
export function mergeColumns(parts: readonly ChunkRows[], limit: number, selected: ReadonlySet<string> | undefined, pooled: boolean): ColumnsPage {
  if (parts.length === 0) return emptyPage();
  const layout = orderedLayout(parts);
  const allTimes = mergedTimes(parts, pooled, layout);
  const more = allTimes.length > limit;
  const timestampsMs = more ? allTimes.slice(0, limit) : allTimes;
  const records = timestampsMs.length;
  const lastMs = records > 0 ? timestampsMs[records - 1] : -Infinity;
  const columnOf = new Map<string, Float64Array>();
  for (let p = 0; p < parts.length; p++) {
    const { chunk, from } = parts[p];
    const times = chunk.timestampsMs;
    // Rows of this part that made the page.
    let to = parts[p].to;
    while (to > from && times[to - 1] > lastMs) to--;
    if (to === from) continue;
    let positions: Int32Array | undefined;
    if (!layout) {
      positions = new Int32Array(to - from);
      for (let r = from; r < to; r++) positions[r - from] = countBefore(timestampsMs, times[r]);
    }
    for (let m = 0; m < chunk.metrics.length; m++) {
      if (selected !== undefined && !selected.has(chunk.metrics[m])) continue;
      let target = columnOf.get(chunk.metrics[m]);
      if (!target) {
        target = newColumn(records, pooled).fill(NaN);
        columnOf.set(chunk.metrics[m], target);
      }
      if (positions) copyAt(chunk.columns[m], from, to, target, positions);
      else copyShifted(chunk.columns[m], from, to, target, layout!.starts[p] - from);
    }
  }
  const metrics = [...columnOf.keys()].filter((name) => hasValue(columnOf.get(name)!)).sort();
  // Every array taken for this page, the ones left out of it too, goes back at release.
  const taken = [...columnOf.values(), allTimes];
  if (timestampsMs !== allTimes) taken.push(timestampsMs);
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    giveBackColumns(taken);
  };
  const page: ColumnsPage = { timestampsMs, metrics, columns: metrics.map((name) => columnOf.get(name)!), more };
  // Not enumerable: a page compares, copies and prints as its data.
  Object.defineProperty(page, 'release', { value: release, enumerable: false });
  return page;
}

/** target[r + shift] = source[r] for r in [from, to), absent (NaN) values skipped. */
function copyShifted(source: Float64Array, from: number, to: number, target: Float64Array, shift: number): void {
  for (let r = from; r < to; r++) {
    const value = source[r];
    if (value === value) target[r + shift] = value;
  }
}

/** target[positions[r - from]] = source[r] for r in [from, to), absent (NaN) values skipped. */
function copyAt(source: Float64Array, from: number, to: number, target: Float64Array, positions: Int32Array): void {
  for (let r = from; r < to; r++) {
    const value = source[r];
    if (value === value) target[positions[r - from]] = value;
  }
}

function hasValue(column: Float64Array): boolean {
  for (let r = 0; r < column.length; r++) if (column[r] === column[r]) return true;
  return false;
}

/** The stored chunk decoded, from the cache when it holds it at this revision; compacted chunks are cached, per-message ones are not (they are merged away within minutes). */
function cachedOrDecoded(stored: KeyValue, scan: ChunkScan): { chunk: Chunk; cached: boolean } | undefined {
  const hit = scan.cache?.get(stored.key, stored.modRevision);
  if (hit) return { chunk: hit, cached: true };
  const chunk = decodeStoredChunk(stored.key, stored.value, scan.onUnreadable);
  if (!chunk) return undefined;
  const cached = scan.cache !== undefined && isCompactedChunkKey(stored.key) && scan.cache.set(stored.key, stored.modRevision, chunk);
  return { chunk, cached };
}
