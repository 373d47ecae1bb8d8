/**
 * A batch of samples as it travels through the queue: columnar, with the
 * GPU identities and metric names held once in dictionaries. One row of the
 * CSV is one sample: (gpu, metric, timestamp, value).
 */

/** Everything that identifies a GPU series and its attribution at the time of the samples. */
export interface GpuLabels {
  hostname: string;
  uuid: string;
  gpuId: number;
  device: string;
  modelName: string;
  driverVersion: string;
  container: string;
  pod: string;
  namespace: string;
  /** MIG instance id ('' on a whole GPU); a UUID with instances carries several series. */
  migInstanceId: string;
  migProfile: string;
}

export interface TelemetryBatch {
  cluster: string;
  sourceId: string;
  gpus: GpuLabels[];
  /** Canonical DCGM field names. */
  metrics: string[];
  /** The name each metric had in the source, where it differed (old exporters), else ''. */
  sourceMetricNames: string[];
  gpuIndex: Uint32Array;
  metricIndex: Uint32Array;
  timestampMs: Float64Array;
  value: Float64Array;
  /** Number of samples (the typed arrays may be longer). */
  length: number;
  /**
   * The id of the streamer flush that queued the batch, for log lines
   * (docs/observability.md); '' for a message written before it existed.
   * Set by the producer at commit; absent on a batch not yet committed.
   */
  correlationId?: string;
}

const FIELD_SEPARATOR = '\u0000';

/**
 * The id of a GPU series within its host: the UUID, plus `:mig{instance}` when
 * the GPU is split. A ':' or '%' inside the UUID is written %3A / %25, so the
 * only ':' of a key is the MIG separator and a UUID "X:mig1" can never take
 * the key of instance 1 of GPU "X". Real UUIDs (GPU-…, MIG-…) hold neither, so
 * their keys are what earlier versions stored (docs/design.md).
 */
export function gpuKeyOf(labels: Pick<GpuLabels, 'uuid' | 'migInstanceId'>): string {
  const uuid = /[:%]/.test(labels.uuid) ? labels.uuid.replace(/%/g, '%25').replace(/:/g, '%3A') : labels.uuid;
  return labels.migInstanceId === '' ? uuid : `${uuid}:mig${labels.migInstanceId}`;
}

/**
 * Accumulates samples into a TelemetryBatch without a per-sample object.
 * `add` copies what it needs, so callers may reuse their row objects.
 */
export class TelemetryBatchBuilder {
  private readonly gpuSlots = new Map<string, number>();
  private readonly metricSlots = new Map<string, number>();
  private gpus: GpuLabels[] = [];
  private metrics: string[] = [];
  private sourceMetricNames: string[] = [];
  private gpuIndex: Uint32Array;
  private metricIndex: Uint32Array;
  private timestampMs: Float64Array;
  private value: Float64Array;
  length = 0;

  constructor(
    readonly cluster: string,
    readonly sourceId: string,
    initialCapacity = 1024,
  ) {
    this.gpuIndex = new Uint32Array(initialCapacity);
    this.metricIndex = new Uint32Array(initialCapacity);
    this.timestampMs = new Float64Array(initialCapacity);
    this.value = new Float64Array(initialCapacity);
  }

  /**
   * Slot of a GPU identity, creating it when new. `identity` must be a string
   * that differs whenever any field of labels differs (the caller usually has
   * one for free); `makeLabels` runs only for a new identity.
   */
  gpuSlot(identity: string, makeLabels: () => GpuLabels): number {
    let slot = this.gpuSlots.get(identity);
    if (slot === undefined) {
      slot = this.gpus.length;
      this.gpus.push(makeLabels());
      this.gpuSlots.set(identity, slot);
    }
    return slot;
  }

  metricSlot(metricName: string, sourceMetricName = metricName): number {
    const identity = metricName === sourceMetricName ? metricName : metricName + FIELD_SEPARATOR + sourceMetricName;
    let slot = this.metricSlots.get(identity);
    if (slot === undefined) {
      slot = this.metrics.length;
      this.metrics.push(metricName);
      this.sourceMetricNames.push(metricName === sourceMetricName ? '' : sourceMetricName);
      this.metricSlots.set(identity, slot);
    }
    return slot;
  }

  /** Number of metric names in the dictionary. */
  get metricCount(): number {
    return this.metrics.length;
  }

  /** Number of GPU identities in the dictionary. */
  get gpuCount(): number {
    return this.gpus.length;
  }

  add(gpuSlot: number, metricSlot: number, timestampMs: number, value: number): void {
    if (this.length === this.value.length) this.grow();
    const i = this.length++;
    this.gpuIndex[i] = gpuSlot;
    this.metricIndex[i] = metricSlot;
    this.timestampMs[i] = timestampMs;
    this.value[i] = value;
  }

  /** Returns the batch built so far and starts an empty one. The returned batch is owned by the caller. */
  take(): TelemetryBatch {
    const batch: TelemetryBatch = {
      cluster: this.cluster,
      sourceId: this.sourceId,
      gpus: this.gpus,
      metrics: this.metrics,
      sourceMetricNames: this.sourceMetricNames,
      gpuIndex: this.gpuIndex.subarray(0, this.length),
      metricIndex: this.metricIndex.subarray(0, this.length),
      timestampMs: this.timestampMs.subarray(0, this.length),
      value: this.value.subarray(0, this.length),
      length: this.length,
    };
    const capacity = this.value.length;
    this.gpuSlots.clear();
    this.metricSlots.clear();
    this.gpus = [];
    this.metrics = [];
    this.sourceMetricNames = [];
    this.gpuIndex = new Uint32Array(capacity);
    this.metricIndex = new Uint32Array(capacity);
    this.timestampMs = new Float64Array(capacity);
    this.value = new Float64Array(capacity);
    this.length = 0;
    return batch;
  }

  private grow(): void {
    const capacity = this.value.length * 2;
    const grow = <T extends Uint32Array | Float64Array>(old: T, make: (n: number) => T): T => {
      const next = make(capacity);
      next.set(old);
      return next;
    };
    this.gpuIndex = grow(this.gpuIndex, (n) => new Uint32Array(n));
    this.metricIndex = grow(this.metricIndex, (n) => new Uint32Array(n));
    this.timestampMs = grow(this.timestampMs, (n) => new Float64Array(n));
    this.value = grow(this.value, (n) => new Float64Array(n));
  }
}
