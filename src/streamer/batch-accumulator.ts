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
 * input alive), and long ones are not cached at all. A text is one GPU's and
 * one metric's (dcgm-exporter's labels carry the metric's name): 40,000 texts
 * are 2,500 GPUs of 16 metrics, ~18 M characters of ~450-character texts. A
 * streamer of more GPUs than that parses every row's labels (~1-2 µs a row):
 * split such a fleet over several streamers.
 */
export const MAX_CACHED_LABELS = 40_000;
/**
 * Characters cached in all, texts and the keys of the index (2 bytes each at
 * most): room for MAX_CACHED_LABELS texts of 1,000 characters, so that the
 * count, not this, bounds a fleet of ordinary texts.
 */
const MAX_CACHED_LABEL_CHARS = 40 * 1024 * 1024;
/** A labels_raw text longer than this is parsed for each row that has it. */
const MAX_CACHED_LABEL_TEXT = 4 * 1024;

/** A labels_raw text as last seen for one GPU and metric, with its parse. */
interface LabelsEntry {
  text: string;
  parsed: ReadonlyMap<string, string> | Error;
}

/**
 * The previous row's GPU. Rows of one GPU come together in an export, and the
 * CSV parser hands out the very same strings for the same identity columns,
 * so checking that a row is of that GPU costs a few pointer compares (other
 * sources' strings cost a short content compare), where building its
 * identity string and looking it up cost ~0.9 µs a row (the profile,
 * docs/performance.md). Its strings are the row's own, not copies: at most one
 * GPU's, and take() lets them go. The same hostname means the same partition,
 * so the slot is in the same builder.
 */
interface PreviousGpu {
  slot: number;
  hostname: string;
  uuid: string;
  gpuId: number;
  device: string;
  modelName: string;
  container: string;
  pod: string;
  namespace: string;
  migInstance: string;
}

export class BatchAccumulator {
  private readonly builders = new Map<number, TelemetryBatchBuilder>();
  private previous: PreviousGpu | undefined;
  private readonly partitionOfHost = new Map<string, number>();
  /** labels_raw texts cached, and (UUID, metric) pairs that find one without hashing it (tests). */
  get cachedLabels(): { texts: number; indexed: number } {
    return { texts: this.parsedLabels.size, indexed: this.indexedLabels };
  }
  /** How many hostnames have a cached partition (tests). */
  get cachedHosts(): number {
    return this.partitionOfHost.size;
  }
  /** labels_raw texts parsed, or the error each gives (see MAX_CACHED_LABELS). */
  private readonly parsedLabels = new Map<string, LabelsEntry>();
  /**
   * The same parses by UUID and metric name as the file spelled it: strings
   * the parser hands out again and again, whose hashes V8 keeps, so a row's
   * text is found with two cheap lookups and one compare instead of hashing
   * its ~400 characters (dcgm-exporter's labels carry the metric's own name,
   * so a text is one GPU's and one metric's). Cleared with parsedLabels.
   */
  private readonly labelsByGpu = new Map<string, Map<string, LabelsEntry>>();
  /** Entries in labelsByGpu. */
  private indexedLabels = 0;
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
      // A copy: a scraping source's hostname is a slice of the whole response it came in.
      this.partitionOfHost.set(detachedString(row.hostname), partition);
    }
    let builder = this.builders.get(partition);
    if (!builder) {
      builder = new TelemetryBatchBuilder(this.cluster, this.sourceId, 4096);
      this.builders.set(partition, builder);
    }
    if (row.metricName.length > MAX_NAME_CHARS || row.sourceMetricName.length > MAX_NAME_CHARS) {
      throw new GputelError('BAD_INPUT', `metric_name is longer than ${MAX_NAME_CHARS} characters`);
    }
    // MIG instances share a UUID: the instance id (only in labels_raw) is part of the identity.
    const labels = this.labelsOf(row);
    const migInstance = labels.get('GPU_I_ID') ?? '';
    const previous = this.previous;
    let gpuSlot: number;
    if (
      previous !== undefined && previous.uuid === row.uuid && previous.hostname === row.hostname &&
      previous.gpuId === row.gpuId && previous.device === row.device && previous.modelName === row.modelName &&
      previous.container === row.container && previous.pod === row.pod && previous.namespace === row.namespace && previous.migInstance === migInstance
    ) {
      gpuSlot = previous.slot;
    } else {
      const identity =
        row.hostname + SEPARATOR + row.uuid + SEPARATOR + row.gpuId + SEPARATOR + row.device + SEPARATOR + row.modelName +
        SEPARATOR + row.container + SEPARATOR + row.pod + SEPARATOR + row.namespace + SEPARATOR + migInstance;
      const gpuCountBefore = builder.gpuCount;
      gpuSlot = builder.gpuSlot(identity, () => gpuLabelsOf(row, labels));
      if (builder.gpuCount !== gpuCountBefore) this.estimatedBytes += identity.length + 128;
      const { hostname, uuid, gpuId, device, modelName, container, pod, namespace } = row;
      this.previous = { slot: gpuSlot, hostname, uuid, gpuId, device, modelName, container, pod, namespace, migInstance };
    }
    const metricCountBefore = builder.metricCount;
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
  private labelsOf(row: DcgmRow): ReadonlyMap<string, string> {
    const labelsRaw = row.labelsRaw;
    let entry = this.labelsByGpu.get(row.uuid)?.get(row.sourceMetricName);
    if (entry === undefined || entry.text !== labelsRaw) {
      if (this.indexedLabels >= MAX_CACHED_LABELS || this.cachedLabelChars > MAX_CACHED_LABEL_CHARS) this.forgetLabels();
      entry = this.parsedLabels.get(labelsRaw);
      if (entry === undefined) {
        const cached = labelsRaw.length <= MAX_CACHED_LABEL_TEXT;
        // The copy is parsed too: the labels are slices of what is parsed, and they are kept with it.
        const text = cached ? detachedString(labelsRaw) : labelsRaw;
        let parsed: ReadonlyMap<string, string> | Error;
        try {
          parsed = parseLabelsRaw(text);
        } catch (error) {
          parsed = error instanceof Error ? error : new Error(String(error));
        }
        entry = { text, parsed };
        if (!cached) {
          if (parsed instanceof Error) throw parsed;
          return parsed;
        }
        if (this.parsedLabels.size >= MAX_CACHED_LABELS || this.cachedLabelChars + text.length > MAX_CACHED_LABEL_CHARS) this.forgetLabels();
        this.parsedLabels.set(text, entry);
        this.cachedLabelChars += text.length;
      }
      // A longer UUID cannot name a key (gpuLabelsOf refuses the row next): not worth a place in the index.
      if (row.uuid.length <= MAX_NAME_CHARS) this.index(row.uuid, row.sourceMetricName, entry);
    }
    if (entry.parsed instanceof Error) throw entry.parsed;
    return entry.parsed;
  }

  /**
   * Files a cached parse under a UUID and metric name, as copies: a scraping
   * source's UUID and metric name are slices of the whole response they came
   * in (a Map keeps the key it was first given).
   */
  private index(uuid: string, metric: string, entry: LabelsEntry): void {
    let byMetric = this.labelsByGpu.get(uuid);
    if (byMetric === undefined) {
      const key = detachedString(uuid);
      byMetric = new Map();
      this.labelsByGpu.set(key, byMetric);
      this.cachedLabelChars += key.length;
    }
    if (byMetric.has(metric)) {
      byMetric.set(metric, entry);
      return;
    }
    const key = detachedString(metric);
    byMetric.set(key, entry);
    this.indexedLabels++;
    this.cachedLabelChars += key.length;
  }

  /** Starts both label caches over (their bounds were reached). */
  private forgetLabels(): void {
    this.parsedLabels.clear();
    this.labelsByGpu.clear();
    this.cachedLabelChars = 0;
    this.indexedLabels = 0;
  }

  /** Takes every pending batch, keyed by partition, and starts empty. */
  take(): Map<number, TelemetryBatch> {
    const batches = new Map<number, TelemetryBatch>();
    for (const [partition, builder] of this.builders) {
      if (builder.length > 0) batches.set(partition, builder.take());
    }
    // The builders start their dictionaries over: the previous row's slot means nothing now.
    this.previous = undefined;
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
