/**
 * Downsamples a GPU's chunks as they are read, without merging them into
 * raw pages first. Chunks that follow each other in time (compacted windows
 * always do) go to the downsampler one by one, and a whole cached chunk
 * brings its kept bucket aggregates (see Downsampler.add): a re-read of the
 * same days at the same step only combines them. Chunks that overlap or
 * share a time (per-message chunks at the live edge, replays) are merged
 * first, as a raw read merges them, so the buckets are the same either way.
 */
import type { Downsampler } from './downsampler.js';
import { countBefore, mergeColumns, type ChunkRows, type ChunkRowsBatch, type ColumnsPage, type TelemetryColumns } from './telemetry-columns.js';

/**
 * Records merged at most at once from chunks that overlap in a chain: rows
 * before the next chunk's start are final and are downsampled, the rest
 * wait for the chunks they overlap. Not a hard bound: rows at or after the
 * next chunk's start stay pending however many there are (many chunks of
 * one start time, the same rows stored under many message ids), as a raw
 * read merges them.
 */
export const MAX_MERGED_RECORDS = 100_000;

/**
 * Feeds every chunk part of `scan` to the downsampler, in time order, and
 * returns its first `limit` complete buckets. `more` says that buckets
 * follow the last one returned. Only metrics in `metrics` (all when absent)
 * are aggregated. `maxMergedRecords` is for tests (MAX_MERGED_RECORDS).
 */
export async function downsampleChunks(
  scan: AsyncIterable<ChunkRowsBatch>,
  downsampler: Downsampler,
  limit: number,
  metrics?: ReadonlySet<string>,
  maxMergedRecords = MAX_MERGED_RECORDS,
): Promise<ColumnsPage> {
  // Parts that overlap or touch each other in time, in key order, not yet downsampled.
  let pending: ChunkRows[] = [];
  let pendingRows = 0;
  // The latest record time of every part seen.
  let lastMs = -Infinity;
  /** Downsamples the pending records before cutMs; the rest stay pending. */
  const flush = (cutMs: number): void => {
    if (pending.length === 1 && cutMs === Infinity) {
      const [part] = pending;
      const whole = part.from === 0 && part.to === part.chunk.timestampsMs.length;
      downsampler.add(partColumns(part, metrics), whole && part.cached ? part.chunk : undefined);
      pending = [];
    } else if (pending.length > 0) {
      // Each part's first row at or after the cut: rows before it are merged now, the rest stay.
      const cuts = pending.map((part) => Math.min(part.to, Math.max(part.from, countBefore(part.chunk.timestampsMs, cutMs))));
      const page = mergeColumns(pending.map((part, p) => ({ ...part, to: cuts[p] })).filter((part) => part.to > part.from), Infinity, metrics, true);
      downsampler.add(page);
      page.release?.();
      pending = pending.map((part, p) => ({ ...part, from: cuts[p] })).filter((part) => part.to > part.from);
    }
    pendingRows = pending.reduce((rows, part) => rows + part.to - part.from, 0);
  };
  // A bucket open after `limit` complete ones proves more follow.
  const full = (): boolean => downsampler.completeBuckets >= limit && downsampler.hasOpenBucket;

  for await (const { parts } of scan) {
    for (const part of parts) {
      // No later chunk has a record before its key's start, and every pending record is before it: they are final.
      if (part.keyStartMs > lastMs) flush(Infinity);
      else if (pendingRows > maxMergedRecords) flush(part.keyStartMs);
      if (full()) return { ...downsampler.result(limit), more: true };
      pending.push(part);
      pendingRows += part.to - part.from;
      lastMs = Math.max(lastMs, part.chunk.timestampsMs[part.to - 1]);
    }
  }
  flush(Infinity);
  downsampler.finish();
  return { ...downsampler.result(limit), more: downsampler.completeBuckets > limit };
}

/** A part's records as columns: views of the chunk's arrays (the downsampler only reads them). */
function partColumns(part: ChunkRows, selected: ReadonlySet<string> | undefined): TelemetryColumns {
  const { chunk, from, to } = part;
  const whole = from === 0 && to === chunk.timestampsMs.length;
  const metrics: string[] = [];
  const columns: Float64Array[] = [];
  chunk.metrics.forEach((name, m) => {
    if (selected !== undefined && !selected.has(name)) return;
    metrics.push(name);
    columns.push(whole ? chunk.columns[m] : chunk.columns[m].subarray(from, to));
  });
  return { timestampsMs: whole ? chunk.timestampsMs : chunk.timestampsMs.subarray(from, to), metrics, columns };
}
