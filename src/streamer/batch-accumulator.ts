/**
 * Collects parsed rows into one TelemetryBatchBuilder per partition until a
 * flush, keeping GPU identities in dictionaries so that a row costs a map
 * lookup and four array writes.
 */
import type { DcgmRow } from '../ingest/dcgm-row.js';
import { driverVersionOf, findLabelInRaw, migInstanceOf, parseLabelsRaw } from '../ingest/labels-raw.js';
import { partitionOf } from '../queue/partitioner.js';
import { TelemetryBatchBuilder, type GpuLabels, type TelemetryBatch } from '../queue/telemetry-batch.js';

/** Bytes a sample takes in a message (two u32 indexes and two f64). */
const SAMPLE_BYTES = 24;
const SEPARATOR = '\u0000';

export class BatchAccumulator {
  private readonly builders = new Map<number, TelemetryBatchBuilder>();
  private readonly partitionOfHost = new Map<string, number>();
  samples = 0;
  /** Estimated encoded size of everything pending, to stay under the request limit. */
  estimatedBytes = 0;

  constructor(
    private readonly cluster: string,
    private readonly sourceId: string,
    private readonly partitions: number,
  ) {}

  /**
   * Adds one row; copies what it keeps (the parser reuses its row object).
   * Throws BAD_INPUT, before anything is added, when labels_raw of a new GPU
   * cannot be read.
   */
  add(row: DcgmRow): void {
    let partition = this.partitionOfHost.get(row.hostname);
    if (partition === undefined) {
      partition = partitionOf(this.cluster, row.hostname, this.partitions);
      this.partitionOfHost.set(row.hostname, partition);
    }
    let builder = this.builders.get(partition);
    if (!builder) {
      builder = new TelemetryBatchBuilder(this.cluster, this.sourceId, 4096);
      this.builders.set(partition, builder);
    }
    // MIG instances share a UUID: the instance id (only in labels_raw) is part of the identity.
    const migInstance = row.labelsRaw.includes('GPU_I_ID') ? (findLabelInRaw(row.labelsRaw, 'GPU_I_ID') ?? '') : '';
    const identity =
      row.hostname + SEPARATOR + row.uuid + SEPARATOR + row.gpuId + SEPARATOR + row.device + SEPARATOR + row.modelName +
      SEPARATOR + row.container + SEPARATOR + row.pod + SEPARATOR + row.namespace + SEPARATOR + migInstance;
    const gpuCountBefore = builder.gpuCount;
    const gpuSlot = builder.gpuSlot(identity, () => labelsOf(row));
    if (builder.gpuCount !== gpuCountBefore) this.estimatedBytes += identity.length + 64;
    const metricSlot = builder.metricSlot(row.metricName, row.sourceMetricName);
    builder.add(gpuSlot, metricSlot, row.timestampMs, row.value);
    this.samples++;
    this.estimatedBytes += SAMPLE_BYTES;
  }

  /** Takes every pending batch, keyed by partition, and starts empty. */
  take(): Map<number, TelemetryBatch> {
    const batches = new Map<number, TelemetryBatch>();
    for (const [partition, builder] of this.builders) {
      if (builder.length > 0) batches.set(partition, builder.take());
    }
    this.samples = 0;
    this.estimatedBytes = 0;
    return batches;
  }
}

function labelsOf(row: DcgmRow): GpuLabels {
  const labels = parseLabelsRaw(row.labelsRaw);
  const mig = migInstanceOf(labels);
  return {
    hostname: row.hostname,
    uuid: row.uuid,
    gpuId: row.gpuId,
    device: row.device,
    modelName: row.modelName,
    driverVersion: driverVersionOf(labels) ?? '',
    container: row.container,
    pod: row.pod,
    namespace: row.namespace,
    migInstanceId: mig?.instanceId ?? '',
    migProfile: mig?.profile ?? '',
  };
}
