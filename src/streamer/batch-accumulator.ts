/**
 * Collects parsed rows into one TelemetryBatchBuilder per partition until a
 * flush, keeping GPU identities in dictionaries so that a row costs a map
 * lookup and four array writes.
 */
import type { DcgmRow } from '../ingest/dcgm-row.js';
import { driverVersionOf, migInstanceOf, parseLabelsRaw } from '../ingest/labels-raw.js';
import { detachedString } from '../common/detached-string.js';
import { GputelError } from '../common/gputel-error.js';
import { escapeSegment, TIMESTAMP_KEY_WIDTH } from '../kv/key-space.js';
import { partitionOf } from '../queue/partitioner.js';
import { gpuKeyOf, TelemetryBatchBuilder, type GpuLabels, type TelemetryBatch } from '../queue/telemetry-batch.js';

/** Longest name accepted in a dictionary of a message (hostnames and UUIDs also obey the key-segment limit). */
const MAX_NAME_CHARS = 256;
/** Timestamps must fit the 13-digit key segment: before the year 2286. */
const MAX_TIMESTAMP_MS = 10 ** TIMESTAMP_KEY_WIDTH;
/** Bytes a sample takes in a message (two u32 indexes and two f64). */
const SAMPLE_BYTES = 24;
const SEPARATOR = '\u0000';
/** Hostnames whose partition is remembered; past this the cache starts over (hostnames come from the input). */
export const MAX_CACHED_HOSTS = 10_000;
/**
 * labels_raw parses are remembered across batches, within these bounds; past
 * them the cache starts over. A live source repeats each GPU's text every
 * tick: parsing 256 GPUs' labels each tick cost ~10 ms of the ~25 ms from a
 * tick to its queued message (bench/ws-stream.ts --pipeline). Texts are
 * cached as copies of their own (a slice would keep its whole 64 KiB piece of
 * input alive), and long ones are not cached at all.
 */
export const MAX_CACHED_LABELS = 10_000;
/** Characters of labels_raw text cached in all (2 bytes each at most). */
const MAX_CACHED_LABEL_CHARS = 4 * 1024 * 1024;
/** A labels_raw text longer than this is parsed for each row that has it. */
const MAX_CACHED_LABEL_TEXT = 4 * 1024;

export class BatchAccumulator {
  private readonly builders = new Map<number, TelemetryBatchBuilder>();
  private readonly partitionOfHost = new Map<string, number>();
  /** How many hostnames have a cached partition (tests). */
  get cachedHosts(): number {
    return this.partitionOfHost.size;
  }
  /** labels_raw texts parsed, or the error each gives (see MAX_CACHED_LABELS). */
  private readonly parsedLabels = new Map<string, ReadonlyMap<string, string> | Error>();
  private cachedLabelChars = 0;
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
   * Throws BAD_INPUT or BAD_KEY, before anything is added, for a row the
   * store could not hold: a time outside 1970–2286, a hostname or UUID that
   * cannot name a key, a metric name over 256 characters, labels_raw of a new
   * GPU that cannot be read. Refusing the row here keeps one bad row from
   * poisoning the message that would carry it.
   */
  add(row: DcgmRow): void {
    if (!(row.timestampMs >= 0 && row.timestampMs < MAX_TIMESTAMP_MS)) {
      throw new GputelError('BAD_INPUT', `timestamp ${new Date(row.timestampMs).toISOString()} is outside 1970-2286, the range the store's keys hold`);
    }
    let partition = this.partitionOfHost.get(row.hostname);
    if (partition === undefined) {
      // Validated before it is remembered, and the cache is bounded: a stream of bad or ever-new hostnames must not grow it without end.
      escapeSegment(row.hostname, 'Hostname');
      partition = partitionOf(this.cluster, row.hostname, this.partitions);
      if (this.partitionOfHost.size >= MAX_CACHED_HOSTS) this.partitionOfHost.clear();
      this.partitionOfHost.set(row.hostname, partition);
    }
    let builder = this.builders.get(partition);
    if (!builder) {
      builder = new TelemetryBatchBuilder(this.cluster, this.sourceId, 4096);
      this.builders.set(partition, builder);
    }
    // MIG instances share a UUID: the instance id (only in labels_raw) is part of the identity.
    const labels = this.labelsOf(row.labelsRaw);
    const migInstance = labels.get('GPU_I_ID') ?? '';
    const identity =
      row.hostname + SEPARATOR + row.uuid + SEPARATOR + row.gpuId + SEPARATOR + row.device + SEPARATOR + row.modelName +
      SEPARATOR + row.container + SEPARATOR + row.pod + SEPARATOR + row.namespace + SEPARATOR + migInstance;
    const gpuCountBefore = builder.gpuCount;
    const gpuSlot = builder.gpuSlot(identity, () => gpuLabelsOf(row, labels));
    if (builder.gpuCount !== gpuCountBefore) this.estimatedBytes += identity.length + 128;
    const metricCountBefore = builder.metricCount;
    if (row.metricName.length > MAX_NAME_CHARS || row.sourceMetricName.length > MAX_NAME_CHARS) {
      throw new GputelError('BAD_INPUT', `metric_name is longer than ${MAX_NAME_CHARS} characters`);
    }
    const metricSlot = builder.metricSlot(row.metricName, row.sourceMetricName);
    if (builder.metricCount !== metricCountBefore) this.estimatedBytes += row.metricName.length + row.sourceMetricName.length + 16;
    builder.add(gpuSlot, metricSlot, row.timestampMs, row.value);
    this.samples++;
    this.estimatedBytes += SAMPLE_BYTES;
  }

  /**
   * The labels of a labels_raw text, parsed once per distinct text while it is cached.
   * Every row is judged by its own labels_raw (a malformed one throws
   * BAD_INPUT for each row that has it, whatever the batch size), and the
   * MIG instance in the identity comes from the same parse as the labels.
   */
  private labelsOf(labelsRaw: string): ReadonlyMap<string, string> {
    let parsed = this.parsedLabels.get(labelsRaw);
    if (parsed === undefined) {
      const cached = labelsRaw.length <= MAX_CACHED_LABEL_TEXT;
      // The copy is parsed too: the labels are slices of what is parsed, and they are kept with it.
      const text = cached ? detachedString(labelsRaw) : labelsRaw;
      try {
        parsed = parseLabelsRaw(text);
      } catch (error) {
        parsed = error instanceof Error ? error : new Error(String(error));
      }
      if (cached) {
        if (this.parsedLabels.size >= MAX_CACHED_LABELS || this.cachedLabelChars + text.length > MAX_CACHED_LABEL_CHARS) {
          this.parsedLabels.clear();
          this.cachedLabelChars = 0;
        }
        this.parsedLabels.set(text, parsed);
        this.cachedLabelChars += text.length;
      }
    }
    if (parsed instanceof Error) throw parsed;
    return parsed;
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

/** Labels of a new GPU identity, checked to make valid key segments (escapeSegment throws BAD_KEY otherwise). */
function gpuLabelsOf(row: DcgmRow, labels: ReadonlyMap<string, string>): GpuLabels {
  const mig = migInstanceOf(labels);
  const gpu: GpuLabels = {
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
  escapeSegment(gpu.hostname, 'Hostname');
  escapeSegment(gpuKeyOf(gpu), 'uuid');
  for (const [name, value] of [['driver version', gpu.driverVersion], ['GPU_I_PROFILE', gpu.migProfile], ['device', gpu.device], ['modelName', gpu.modelName]]) {
    if (value.length > MAX_NAME_CHARS) throw new GputelError('BAD_INPUT', `${name} is longer than ${MAX_NAME_CHARS} characters`);
  }
  return gpu;
}
