/**
 * Turns a batch of samples (one per metric per GPU per timestamp) into one
 * record per GPU per timestamp: a Chunk per GPU series.
 */
import type { Attribution, Chunk } from '../store/chunk-codec.js';
import { gpuKeyOf, type GpuLabels, type TelemetryBatch } from '../queue/telemetry-batch.js';

/** A sample that arrived twice (same GPU, metric, timestamp) with two different values. */
export interface ConflictingDuplicate {
  hostname: string;
  gpuKey: string;
  metric: string;
  timestampMs: number;
  /** The value that arrived first (stored before, or earlier in the batch). */
  firstValue: number;
  /**
   * The value that arrived later. Within a batch it replaces the first; across
   * messages readers see the value of the chunk later in key order.
   */
  laterValue: number;
}

/** Conflicts described per block; the rest are only counted. */
export const MAX_CONFLICT_EXAMPLES = 3;

export interface GpuBlock {
  gpuKey: string;
  /** Labels of the GPU's newest record (attribution can change inside a batch). */
  labels: GpuLabels;
  chunk: Chunk;
  /** Metric values stored: samples, less exact duplicates of (metric, timestamp). */
  samples: number;
  /** Aliases seen: canonical DCGM field → source name. */
  metricAliases: Record<string, string>;
  /** Duplicate samples within the batch whose values differ. */
  conflicts: number;
  /** The first few of them (at most MAX_CONFLICT_EXAMPLES). */
  conflictExamples: ConflictingDuplicate[];
}

/**
 * Pivots a batch into one block per series: a host's GPU (or MIG instance).
 * The host is part of the series, so one UUID reported under two hostnames
 * (an exporter pod renamed, say) keeps both series whole. Blocks come out
 * sorted by host and gpuKey, metrics by name: the same batch always gives the
 * same chunks.
 */
export function pivot(batch: TelemetryBatch): GpuBlock[] {
  const slotKeys = batch.gpus.map((labels) => `${labels.hostname}\u0000${gpuKeyOf(labels)}`);
  const groups = new Map<string, number[]>();
  for (let i = 0; i < batch.length; i++) {
    const key = slotKeys[batch.gpuIndex[i]];
    let samples = groups.get(key);
    if (!samples) groups.set(key, (samples = []));
    samples.push(i);
  }

  const blocks: GpuBlock[] = [];
  for (const seriesKey of [...groups.keys()].sort()) {
    const sampleIndexes = groups.get(seriesKey)!;
    const gpuKey = gpuKeyOf(batch.gpus[batch.gpuIndex[sampleIndexes[0]]]);
    const timestamps = [...new Set(sampleIndexes.map((i) => batch.timestampMs[i]))].sort((a, b) => a - b);
    const recordOf = new Map(timestamps.map((t, r) => [t, r]));
    const metricSlots = [...new Set(sampleIndexes.map((i) => batch.metricIndex[i]))];
    const metrics = [...new Set(metricSlots.map((m) => batch.metrics[m]))].sort();
    const columns = metrics.map(() => new Float64Array(timestamps.length).fill(NaN));
    // Looked up once per metric slot and per GPU slot, not once per sample (the hot loop of the collector).
    const columnOfName = new Map(metrics.map((name, c) => [name, columns[c]]));
    const columnOfSlot = new Map(metricSlots.map((m) => [m, columnOfName.get(batch.metrics[m])!]));
    const attributions: Attribution[] = [];
    const attributionSlot = new Map<string, number>();
    const attributionOfGpu = new Map<number, number>();
    const attributionIndex = new Uint32Array(timestamps.length);
    const metricAliases: Record<string, string> = {};
    for (const m of metricSlots) if (batch.sourceMetricNames[m] !== '') metricAliases[batch.metrics[m]] = batch.sourceMetricNames[m];
    let samples = 0;
    let conflicts = 0;
    const conflictExamples: ConflictingDuplicate[] = [];
    let newest = sampleIndexes[0];

    for (const i of sampleIndexes) {
      const record = recordOf.get(batch.timestampMs[i])!;
      const metricSlot = batch.metricIndex[i];
      const column = columnOfSlot.get(metricSlot)!;
      const previous = column[record];
      if (Number.isNaN(previous)) {
        samples++;
      } else if (previous !== batch.value[i]) {
        conflicts++;
        if (conflictExamples.length < MAX_CONFLICT_EXAMPLES) {
          const { hostname } = batch.gpus[batch.gpuIndex[i]];
          conflictExamples.push({ hostname, gpuKey, metric: batch.metrics[metricSlot], timestampMs: batch.timestampMs[i], laterValue: batch.value[i], firstValue: previous });
        }
      }
      column[record] = batch.value[i];

      const gpuSlot = batch.gpuIndex[i];
      let slot = attributionOfGpu.get(gpuSlot);
      if (slot === undefined) {
        const labels = batch.gpus[gpuSlot];
        const attributionKey = `${labels.container}\u0000${labels.pod}\u0000${labels.namespace}`;
        slot = attributionSlot.get(attributionKey);
        if (slot === undefined) {
          slot = attributions.length;
          attributions.push({ container: labels.container, pod: labels.pod, namespace: labels.namespace });
          attributionSlot.set(attributionKey, slot);
        }
        attributionOfGpu.set(gpuSlot, slot);
      }
      attributionIndex[record] = slot;
      if (batch.timestampMs[i] >= batch.timestampMs[newest]) newest = i;
    }

    blocks.push({
      gpuKey,
      labels: batch.gpus[batch.gpuIndex[newest]],
      chunk: { timestampsMs: Float64Array.from(timestamps), metrics, columns, attributions, attributionIndex },
      samples,
      metricAliases,
      conflicts,
      conflictExamples,
    });
  }
  return blocks;
}
