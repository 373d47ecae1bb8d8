/**
 * The protocol-free query layer over one cluster's store: it lists and finds
 * GPUs and hosts, pages raw and downsampled telemetry, reads latest values
 * and stats, and subscribes to new latest values and new records. REST routes, GraphQL and
 * the WebSocket stream are thin adapters over it; none of them decodes
 * storage records itself.
 */
import type { Logger } from '../common/logger.js';
import { chunkTimeRange, type KeySpace } from '../kv/key-space.js';
import type { KvStore } from '../kv/kv-store.js';
import { Downsampler, type Aggregation } from './downsampler.js';
import { FleetSummary, type FleetSummaryResult, type SummaryQuery } from './fleet-summary.js';
import { decodeGpuMetadata, decodePartitionStats } from './gpu-records.js';
import { LatestSubscription, latestRecord, type LatestRecord, type LatestSubscriptionOptions, type LatestUpdate } from './latest-subscription.js';
import type { GpuEntry, HostEntry, Registry } from './registry.js';
import { DecodedChunkCache } from './decoded-chunk-cache.js';
import { RecordStream, type RecordFilter, type StreamedRecord } from './record-stream.js';
import { downsampleChunks, MAX_MERGED_RECORDS } from './downsampled-read.js';
import { readTelemetryColumns, scanChunkRows, type ChunkRowsBatch, type ColumnsPage, type FetchHint } from './telemetry-columns.js';
import { MAX_KEY_TIME_MS, reportUnreadable, type ChunkOwner } from './telemetry-reader.js';

export interface TelemetryRequest {
  /** Inclusive bounds, epoch ms. */
  startMs: number;
  endMs: number;
  /** Most records (raw) or buckets (downsampled) returned. */
  limit: number;
  /** Aggregate into buckets of stepMs aligned to multiples of it since the epoch. */
  downsample?: { stepMs: number; aggregation: Aggregation };
  /**
   * Only these metrics (DCGM field names); all when absent. Records are the
   * same (one per stored timestamp or bucket with samples): only their metrics
   * narrow. Unselected metrics are decoded (a chunk decodes whole) but neither
   * merged into the page nor aggregated.
   */
  metrics?: ReadonlySet<string>;
  /** The caller calls the page's `release()` once done with it (see ColumnsQuery.pooled). */
  pooled?: boolean;
}

/** Which GPUs a listing keeps: each given field must match exactly. */
export interface GpuFilter {
  hostname?: string;
  /** The model name, e.g. NVIDIA H100 80GB HBM3. */
  model?: string;
  status?: 'active' | 'stale';
  /** Kubernetes attribution of the GPU's newest sample. */
  namespace?: string;
  pod?: string;
}

/** What an id names: see FleetQuery.findGpu. */
export type GpuLookup = { kind: 'found'; gpu: GpuEntry } | { kind: 'ambiguous'; gpus: readonly GpuEntry[] } | { kind: 'none' };

export interface FleetStats {
  gpus: number;
  hosts: number;
  records: number;
  samples: number;
}

export class FleetQuery {
  private readonly fleetSummary: FleetSummary;
  /** Records and bytes per chunk as the last read found them: sizes the next read's first range (see FetchHint). */
  private readonly fetchHint: FetchHint = { recordsPerChunk: 0, bytesPerChunk: 0 };
  /** Compacted chunks decoded by earlier reads (see decoded-chunk-cache.ts). */
  private readonly decodedChunks = new DecodedChunkCache();
  /** New records, followed by one watch shared by every subscriber (see record-stream.ts). */
  private readonly recordStream: RecordStream;

  constructor(
    private readonly kv: KvStore,
    private readonly keys: KeySpace,
    private readonly cluster: string,
    private readonly registry: Registry,
    private readonly logger: Logger,
  ) {
    this.fleetSummary = new FleetSummary(registry);
    this.recordStream = new RecordStream(kv, keys, cluster, registry, logger);
  }

  /**
   * Calls `listener` with every new record stored from now on that matches
   * `filter`, until the returned function is called (see RecordStream.subscribe
   * for the filter, the order and what it throws). Resolves once the watch is in place.
   */
  subscribeRecords(filter: RecordFilter, listener: (records: StreamedRecord[]) => void): Promise<() => void> {
    return this.recordStream.subscribe(filter, listener);
  }

  /** Ends every record subscription and its watch. Safe twice. */
  close(): Promise<void> {
    return this.recordStream.close();
  }

  /** The fleet's or one host's summary: newest values and utilisation rollups as the registry follows them (see fleet-summary.ts). */
  summary(query: SummaryQuery): FleetSummaryResult {
    return this.fleetSummary.summarize(query);
  }

  /**
   * Every GPU, or those the filter keeps, sorted by hostname, then gpu_id,
   * then MIG instance. Unfiltered, the registry's list itself: the same array
   * until something changes (callers cache what they build from it).
   */
  gpus(filter: GpuFilter = {}): readonly GpuEntry[] {
    const all = this.registry.gpus();
    const { hostname, model, status, namespace, pod } = filter;
    if (hostname === undefined && model === undefined && status === undefined && namespace === undefined && pod === undefined) return all;
    return all.filter(
      (gpu) =>
        (hostname === undefined || gpu.hostname === hostname) &&
        (model === undefined || gpu.modelName === model) &&
        (status === undefined || gpu.status === status) &&
        (namespace === undefined || gpu.latest?.namespace === namespace) &&
        (pod === undefined || gpu.latest?.pod === pod),
    );
  }

  /** Every host, sorted by hostname. */
  hosts(): HostEntry[] {
    return this.registry.hosts();
  }

  /**
   * The GPU series an id names (see Registry.matchGpus for the forms):
   * `found` when it names one, `ambiguous` with every series it names when
   * several (each with the `id` that names it alone), `none` when none.
   */
  findGpu(id: string): GpuLookup {
    const matches = this.registry.matchGpus(id);
    if (matches.length === 1) return { kind: 'found', gpu: matches[0] };
    return matches.length === 0 ? { kind: 'none' } : { kind: 'ambiguous', gpus: matches };
  }

  /** The series of one GPU on one host. */
  findSeries(hostname: string, gpuKey: string): GpuEntry | undefined {
    return this.registry.findSeries(hostname, gpuKey);
  }

  /** The GPUs of a host, in listing order; empty for a host never seen. */
  gpusOfHost(hostname: string): GpuEntry[] {
    return this.registry.gpus().filter((gpu) => gpu.hostname === hostname);
  }

  /**
   * One page of a GPU's telemetry in [startMs, endMs], raw or downsampled, as
   * columns. `more` says that records (buckets) follow the last one returned:
   * continue from the last timestamp + 1 (raw) or + step (downsampled).
   * Throws KV_* when the store fails; an unreadable chunk is logged, counted
   * and skipped.
   */
  async telemetry(gpu: GpuEntry, request: TelemetryRequest, logger: Logger = this.logger): Promise<ColumnsPage> {
    const endMs = Math.min(request.endMs, MAX_KEY_TIME_MS - 1);
    // Nothing is stored before the epoch (times before it are valid in the API, and hold no record).
    const startMs = Math.max(0, request.startMs);
    if (endMs < startMs) return { timestampsMs: new Float64Array(0), metrics: [], columns: [], more: false };
    const onUnreadable = (key: string, error: unknown): void => reportUnreadable(logger, key, error);
    const { metrics, downsample } = request;
    const scan = { startMs, endMs, onUnreadable, hint: this.fetchHint, cache: this.decodedChunks };
    if (!downsample) {
      const read = (owner: ChunkOwner): Promise<ColumnsPage> => readTelemetryColumns(this.kv, this.keys, this.cluster, owner, { ...scan, limit: request.limit, metrics, pooled: request.pooled });
      return this.firstRead(gpu, read, (page) => page.release?.());
    }
    // Ranges sized for MAX_MERGED_RECORDS records each: a long range is downsampled as it is read, never held whole.
    const start = async (owner: ChunkOwner) => {
      const chunks = scanChunkRows(this.kv, this.keys, this.cluster, owner, { ...scan, rowsWanted: () => MAX_MERGED_RECORDS });
      return { chunks, first: await chunks.next() };
    };
    const { chunks, first } = await this.firstRead(gpu, start, ({ chunks }) => void chunks.return(undefined));
    async function* all(): AsyncGenerator<ChunkRowsBatch> {
      try {
        if (first.done) return;
        yield first.value;
        yield* chunks;
      } finally {
        // Ended early (enough buckets, an error) while still on the first batch: the scan is closed too.
        await chunks.return(undefined);
      }
    }
    return downsampleChunks(all(), new Downsampler(downsample.stepMs, downsample.aggregation), request.limit, metrics);
  }

  /**
   * Runs a GPU's first chunk read beside the get of its metadata, and returns
   * the read made with the span that proved right (it reads on with it).
   *
   * The longest chunk span bounds the key scan, and the registry's copy (fed
   * by watch) may lag the store: only the stored metadata, written no later
   * than the chunks, covers every chunk the scan can see. The read starts
   * with the registry's span, and is done again with the stored one in the
   * rare case that is longer (a chunk of a new longest span written since
   * the registry heard of it). Sending both at once saves a round trip per
   * request (docs/performance.md).
   */
  private async firstRead<T>(gpu: GpuEntry, read: (owner: ChunkOwner) => Promise<T>, discard: (result: T) => void): Promise<T> {
    const guessed: ChunkOwner = { hostname: gpu.hostname, gpuKey: gpu.gpuKey, maxChunkSpanMs: gpu.maxChunkSpanMs };
    const [first, stored] = await Promise.allSettled([read(guessed), this.kv.get(this.keys.gpuMetadata(this.cluster, gpu.hostname, gpu.gpuKey))]);
    if (first.status === 'rejected') throw first.reason;
    const result = first.value;
    if (stored.status === 'rejected') {
      discard(result);
      throw stored.reason;
    }
    const metadata = stored.value;
    // Unreadable or missing metadata gives no span: scan every chunk (slower, still right).
    const storedSpanMs = metadata ? maxChunkSpanOf(metadata.value) : undefined;
    // No span guessed scans every chunk: right whatever is stored.
    if (guessed.maxChunkSpanMs === undefined || (storedSpanMs !== undefined && storedSpanMs <= guessed.maxChunkSpanMs)) return result;
    discard(result);
    return read({ ...guessed, maxChunkSpanMs: storedSpanMs });
  }

  /**
   * A GPU's newest record, from `latest/{host}` (held by the registry). A GPU
   * dropped from there (far behind its host, see latest-bound.ts) is read
   * from its newest chunks. Undefined when it has no record at all.
   */
  async latest(gpu: GpuEntry): Promise<LatestRecord | undefined> {
    if (gpu.latest) return latestRecord(gpu, gpu.latest);
    const prefix = this.keys.gpuDataPrefix(this.cluster, gpu.hostname, gpu.gpuKey);
    const newest = await this.kv.range({ prefix }, { keysOnly: true, reverse: true, limit: 1 });
    if (newest.kvs.length === 0) return undefined;
    // The newest record is at or after the start of the chunk that starts last (key order is start order).
    const { startMs } = chunkTimeRange(newest.kvs[0].key);
    const page = await this.telemetry(gpu, { startMs, endMs: MAX_KEY_TIME_MS - 1, limit: Number.MAX_SAFE_INTEGER });
    const r = page.timestampsMs.length - 1;
    if (r < 0) return undefined;
    const values: Record<string, number> = {};
    page.metrics.forEach((name, m) => {
      if (!Number.isNaN(page.columns[m][r])) values[name] = page.columns[m][r];
    });
    return { gpu, timestampMs: page.timestampsMs[r], values };
  }

  /** The newest record of every GPU of a host; undefined for a host never seen. */
  async hostLatest(hostname: string): Promise<LatestRecord[] | undefined> {
    const gpus = this.gpusOfHost(hostname);
    if (gpus.length === 0) return undefined;
    const records = await Promise.all(gpus.map((gpu) => this.latest(gpu)));
    return records.filter((record): record is LatestRecord => record !== undefined);
  }

  /** Fleet totals: GPUs and hosts from the registry, records and samples summed from the per-partition counters. */
  async stats(): Promise<FleetStats> {
    const counters = await this.kv.range({ prefix: this.keys.statsPrefix(this.cluster) });
    let records = 0;
    let samples = 0;
    for (const kv of counters.kvs) {
      try {
        const stats = decodePartitionStats(kv.value);
        records += stats.records;
        samples += stats.samples;
      } catch (error) {
        // The partition's collector overwrites it with its next message; until then it counts nothing.
        this.logger.warn({ err: error, key: kv.key }, 'unreadable partition stats skipped');
      }
    }
    return { gpus: this.registry.gpus().length, hosts: this.registry.hosts().length, records, samples };
  }

  /**
   * Calls `listener` with every host whose latest values change, until the
   * returned subscription is closed. Resolves once the watch is in place.
   */
  async subscribeLatest(listener: (update: LatestUpdate) => void, options: LatestSubscriptionOptions = {}): Promise<LatestSubscription> {
    const subscription = new LatestSubscription(this.kv, this.keys, this.cluster, this.registry, this.logger, listener);
    await subscription.start(options);
    return subscription;
  }
}

function maxChunkSpanOf(bytes: Buffer): number | undefined {
  try {
    return decodeGpuMetadata(bytes).maxChunkSpanMs;
  } catch {
    return undefined;
  }
}
