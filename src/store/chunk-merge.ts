/**
 * Merges chunks of one GPU into one chunk with the value a reader sees:
 * `readTelemetry` merges chunks in key order, a later chunk's value for the
 * same metric and timestamp winning, and a later chunk's attribution
 * replacing an earlier one's. Compaction and retention use it so that what
 * they write or count is exactly what readers returned before.
 */
import type { Attribution, Chunk } from './chunk-codec.js';

/**
 * One chunk holding every record of `chunks` (given in key order), ascending
 * by time with no duplicate timestamps. Metrics keep their first-seen order.
 * Returns an empty chunk for no input. Does not modify its inputs.
 */
export function mergeChunks(chunks: readonly Chunk[]): Chunk {
  const times = new Set<number>();
  const metricIndex = new Map<string, number>();
  for (const chunk of chunks) {
    for (const t of chunk.timestampsMs) times.add(t);
    for (const metric of chunk.metrics) if (!metricIndex.has(metric)) metricIndex.set(metric, metricIndex.size);
  }
  const timestampsMs = Float64Array.from(times).sort();
  const recordOf = new Map<number, number>();
  timestampsMs.forEach((t, r) => recordOf.set(t, r));
  const columns = [...metricIndex.keys()].map(() => new Float64Array(timestampsMs.length).fill(NaN));
  const attributions: Attribution[] = [];
  const attributionIds = new Map<string, number>();
  const attributionIndex = new Uint32Array(timestampsMs.length);

  for (const chunk of chunks) {
    // Attribution ids of this chunk in the merged list (interned by content).
    const ids = chunk.attributions.map((a) => {
      const id = `${a.container}\0${a.pod}\0${a.namespace}`;
      let index = attributionIds.get(id);
      if (index === undefined) {
        index = attributions.length;
        attributions.push({ container: a.container, pod: a.pod, namespace: a.namespace });
        attributionIds.set(id, index);
      }
      return index;
    });
    const targets = chunk.metrics.map((metric) => columns[metricIndex.get(metric)!]);
    for (let r = 0; r < chunk.timestampsMs.length; r++) {
      const record = recordOf.get(chunk.timestampsMs[r])!;
      attributionIndex[record] = ids[chunk.attributionIndex[r]];
      for (let m = 0; m < targets.length; m++) {
        const value = chunk.columns[m][r];
        if (!Number.isNaN(value)) targets[m][record] = value;
      }
    }
  }
  // An attribution that every later chunk replaced is dropped, so the bytes
  // depend only on the records (a re-merge writes the same value).
  const used = [...new Set(attributionIndex)].sort((a, b) => a - b);
  if (used.length !== attributions.length) {
    const renumber = new Map(used.map((old, index) => [old, index]));
    for (let r = 0; r < attributionIndex.length; r++) attributionIndex[r] = renumber.get(attributionIndex[r])!;
    return { timestampsMs, metrics: [...metricIndex.keys()], columns, attributions: used.map((old) => attributions[old]), attributionIndex };
  }
  return { timestampsMs, metrics: [...metricIndex.keys()], columns, attributions, attributionIndex };
}

/** Samples (non-absent values) and records (timestamps) of a chunk. */
export function countChunk(chunk: Chunk): { samples: number; records: number } {
  let samples = 0;
  for (const column of chunk.columns) for (const value of column) if (!Number.isNaN(value)) samples++;
  return { samples, records: chunk.timestampsMs.length };
}
