/**
 * Applies one queued message to the store with an exactly-once effect:
 *
 * 1. Chunks (keys carry the message id), GPU/host metadata, the uuid index
 *    and latest values are written. They are idempotent: a replay writes the
 *    same keys with the same bytes, so they may be spread over as many
 *    transactions as etcd's limits force.
 * 2. One final transaction deletes the message, comparing that it still
 *    exists, and adds the message's counts to its partition's counters in the
 *    same step. A replayed message either finds itself deleted (nothing
 *    counted twice) or is counted exactly once.
 */
import { GputelError } from '../common/gputel-error.js';
import type { Logger } from '../common/logger.js';
import { counter } from '../common/metrics.js';
import type { KeySpace } from '../kv/key-space.js';
import { MAX_REQUEST_BYTES, MAX_TXN_OPS, type Compare, type KvStore, type TxnOp } from '../kv/kv-store.js';
import { decodeMessage } from '../queue/message-codec.js';
import type { QueuedMessage } from '../queue/queue-consumer.js';
import { encodeChunk, splitChunk } from '../store/chunk-codec.js';
import {
  decodeJson,
  encodeJson,
  type GpuMetadata,
  type HostMetadata,
  type LatestGpu,
  type LatestHost,
  type PartitionStats,
} from '../store/gpu-records.js';
import { readTelemetry } from '../store/telemetry-reader.js';
import { pivot, type GpuBlock } from './pivot.js';

/** A chunk's column bytes stay under this, whatever shape its records take (etcd takes ~1.5 MiB a request). */
const MAX_CHUNK_BYTES = 256 * 1024;

const samplesStored = counter('gputel_collector_samples_total', 'Metric values stored');
const recordsStored = counter('gputel_collector_records_total', 'GPU records (one GPU at one timestamp) stored');
const messagesProcessed = counter('gputel_collector_messages_total', 'Messages applied and deleted');

interface CachedValue<T> {
  value: T | undefined;
  /** The value's JSON as last written or read, to compare without encoding again. */
  bytes?: Buffer;
  modRevision: number;
}

export class MessageProcessor {
  // Caches of what this collector last wrote or read, so unchanged metadata
  // is not rewritten. Only a partition's owner writes a host's keys, so the
  // cache is only stale after ownership moved, which the stats compare catches.
  private readonly cache = new Map<string, CachedValue<unknown>>();

  constructor(
    private readonly kv: KvStore,
    private readonly keys: KeySpace,
    private readonly topic: string,
    private readonly logger: Logger,
  ) {}

  /** Applies the message. Throws BAD_MESSAGE/BAD_KEY (poison: dead-letter it) or retryable store errors. */
  async process(message: QueuedMessage): Promise<void> {
    try {
      await this.apply(message);
    } catch (error) {
      // A failed write may have left the cache ahead of the store.
      this.cache.clear();
      throw error;
    }
  }

  private async apply(message: QueuedMessage): Promise<void> {
    const batch = decodeMessage(message.value);
    const blocks = pivot(batch);
    const cluster = batch.cluster;
    // Keyed by key: a later put of the same key in this message (a host with several GPUs) replaces the earlier.
    const writes = new Map<string, TxnOp>();
    let samples = 0;
    let records = 0;

    const latestByHost = new Map<string, LatestHost>();
    for (const block of blocks) {
      const { hostname } = block.labels;
      // Parts cover disjoint time ranges, so their keys differ by start time.
      for (const part of splitChunk(block.chunk, MAX_CHUNK_BYTES)) {
        const { timestampsMs: partTimes } = part;
        const key = this.keys.gpuChunk(cluster, hostname, block.gpuKey, partTimes[0], partTimes[partTimes.length - 1], message.messageId);
        writes.set(key, { type: 'put', key, value: encodeChunk(part) });
      }
      await this.registerGpu(cluster, block, writes);

      let latest = latestByHost.get(hostname);
      if (!latest) {
        const stored = await this.read<LatestHost>(this.keys.latest(cluster, hostname));
        latest = stored.value ? structuredClone(stored.value) : { hostname, gpus: {} };
        latestByHost.set(hostname, latest);
      }
      const counts = await this.countNew(cluster, block, latest.gpus[block.gpuKey], message.messageId);
      samples += counts.samples;
      records += counts.records;
      mergeLatest(latest, block);
    }
    for (const [hostname, latest] of latestByHost) {
      this.queueWrite(writes, this.keys.latest(cluster, hostname), latest, true);
    }

    // Idempotent writes go first, in transactions sized to etcd's limits.
    const finalRoom = MAX_TXN_OPS - 2;
    let finalOps: TxnOp[] = [];
    let pending: TxnOp[] = [];
    let pendingBytes = 0;
    for (const op of writes.values()) {
      const bytes = op.type === 'put' ? op.value.length + op.key.length : 0;
      if (pending.length > 0 && (pending.length === MAX_TXN_OPS || pendingBytes + bytes > MAX_REQUEST_BYTES)) {
        await this.kv.txn({ success: pending });
        pending = [];
        pendingBytes = 0;
      }
      pending.push(op);
      pendingBytes += bytes;
    }
    if (pending.length <= finalRoom && pendingBytes < MAX_REQUEST_BYTES - 4_096) {
      finalOps = pending;
    } else {
      await this.kv.txn({ success: pending });
    }

    await this.commit(cluster, message, finalOps, { samples, records, messages: 1 });
  }

  private async commit(cluster: string, message: QueuedMessage, writes: TxnOp[], delta: PartitionStats): Promise<void> {
    const statsKey = this.keys.partitionStats(cluster, this.topic, message.partition);
    for (let attempt = 0; attempt < 5; attempt++) {
      const stats = await this.read<PartitionStats>(statsKey);
      const next: PartitionStats = {
        samples: (stats.value?.samples ?? 0) + delta.samples,
        records: (stats.value?.records ?? 0) + delta.records,
        messages: (stats.value?.messages ?? 0) + delta.messages,
      };
      const compare: Compare[] = [
        { key: message.key, target: 'modRevision', operator: '==', operand: message.modRevision },
        { key: statsKey, target: 'modRevision', operator: '==', operand: stats.modRevision },
      ];
      const result = await this.kv.txn({
        compare,
        success: [...writes, { type: 'put', key: statsKey, value: encodeJson(next) }, { type: 'delete', range: { start: message.key } }],
        failure: [
          { type: 'range', range: { start: message.key }, options: { countOnly: true } },
        ],
      });
      if (result.succeeded) {
        this.cache.set(statsKey, { value: next, modRevision: result.revision });
        for (const op of writes) {
          if (op.type === 'put' && this.cache.has(op.key)) this.cache.get(op.key)!.modRevision = result.revision;
        }
        samplesStored.inc(delta.samples);
        recordsStored.inc(delta.records);
        messagesProcessed.inc();
        return;
      }
      this.cache.delete(statsKey);
      const stillQueued = result.results[0]?.type === 'range' && result.results[0].result.count > 0;
      if (!stillQueued) {
        // Another collector applied it (ownership moved mid-message): its effect is already counted.
        this.logger.info({ messageId: message.messageId, partition: message.partition }, 'message already applied elsewhere');
        return;
      }
    }
    throw new GputelError('CONFLICT', `partition ${message.partition} counters kept changing under message ${message.messageId}`, { retryable: true });
  }

  /**
   * Samples and records of a block that are not stored yet. Data arriving in
   * time order starts after the GPU's newest stored sample: all of it is new.
   * Otherwise (a batch boundary inside one GPU's record, data out of order,
   * the same samples streamed again from another file, a replay of this very
   * message) the stored chunks of that time range, less this message's own,
   * say which values already exist. Counting only new ones keeps `samples`
   * equal to the values stored, whatever arrives twice.
   */
  private async countNew(cluster: string, block: GpuBlock, latest: LatestGpu | undefined, messageId: string): Promise<{ samples: number; records: number }> {
    const { timestampsMs, metrics, columns } = block.chunk;
    if (!latest || timestampsMs[0] > latest.lastSeenMs) return { samples: block.samples, records: timestampsMs.length };
    const stored = await readTelemetry(
      this.kv,
      this.keys,
      cluster,
      { hostname: block.labels.hostname, gpuKey: block.gpuKey },
      { startMs: timestampsMs[0], endMs: timestampsMs[timestampsMs.length - 1], limit: Number.MAX_SAFE_INTEGER, excludeMessageId: messageId },
    );
    const storedAt = new Map(stored.records.map((record) => [record.timestampMs, record.values]));
    let samples = 0;
    let records = 0;
    for (let r = 0; r < timestampsMs.length; r++) {
      const values = storedAt.get(timestampsMs[r]);
      if (!values) records++;
      for (let m = 0; m < metrics.length; m++) {
        if (!Number.isNaN(columns[m][r]) && !values?.has(metrics[m])) samples++;
      }
    }
    return { samples, records };
  }

  private async registerGpu(cluster: string, block: GpuBlock, writes: Map<string, TxnOp>): Promise<void> {
    const { labels, gpuKey } = block;
    const firstMs = block.chunk.timestampsMs[0];
    const metadataKey = this.keys.gpuMetadata(cluster, labels.hostname, gpuKey);
    const stored = (await this.read<GpuMetadata>(metadataKey)).value;
    const metadata: GpuMetadata = {
      gpuKey,
      uuid: labels.uuid,
      gpuId: labels.gpuId,
      hostname: labels.hostname,
      device: labels.device,
      modelName: labels.modelName,
      driverVersion: labels.driverVersion || stored?.driverVersion || '',
      migInstanceId: labels.migInstanceId,
      migProfile: labels.migProfile,
      firstSeenMs: Math.min(firstMs, stored?.firstSeenMs ?? firstMs),
      metricAliases: { ...stored?.metricAliases, ...block.metricAliases },
    };
    this.queueWrite(writes, metadataKey, metadata);
    this.queueWrite(writes, this.keys.gpuIndex(cluster, gpuKey, labels.hostname), metadata);

    const hostKey = this.keys.hostMetadata(cluster, labels.hostname);
    const host = (await this.read<HostMetadata>(hostKey)).value;
    this.queueWrite(writes, hostKey, {
      hostname: labels.hostname,
      firstSeenMs: Math.min(firstMs, host?.firstSeenMs ?? firstMs),
    } satisfies HostMetadata);
  }

  /** Adds a put unless the cached value is already equal (metadata is rewritten only when it changes). */
  private queueWrite(writes: Map<string, TxnOp>, key: string, value: unknown, always = false): void {
    const cached = this.cache.get(key);
    const bytes = encodeJson(value);
    if (!always && cached?.value !== undefined && (cached.bytes ?? encodeJson(cached.value)).equals(bytes)) return;
    this.cache.set(key, { value, bytes, modRevision: cached?.modRevision ?? 0 });
    writes.delete(key);
    writes.set(key, { type: 'put', key, value: bytes });
  }

  private async read<T>(key: string): Promise<CachedValue<T>> {
    const cached = this.cache.get(key) as CachedValue<T> | undefined;
    if (cached) return cached;
    const stored = await this.kv.get(key);
    const entry: CachedValue<T> = stored ? { value: decodeJson<T>(stored.value), bytes: stored.value, modRevision: stored.modRevision } : { value: undefined, modRevision: 0 };
    this.cache.set(key, entry);
    return entry;
  }
}

function mergeLatest(latest: LatestHost, block: GpuBlock): void {
  const { chunk } = block;
  const last = chunk.timestampsMs.length - 1;
  const lastMs = chunk.timestampsMs[last];
  const previous: LatestGpu | undefined = latest.gpus[block.gpuKey];
  if (previous && previous.lastSeenMs > lastMs) return; // an older message: newest values stay
  const values: Record<string, number> = previous && previous.lastSeenMs === lastMs ? { ...previous.values } : {};
  chunk.metrics.forEach((metric, m) => {
    const value = chunk.columns[m][last];
    if (!Number.isNaN(value)) values[metric] = value;
  });
  const attribution = chunk.attributions[chunk.attributionIndex[last]];
  latest.gpus[block.gpuKey] = { lastSeenMs: lastMs, values, ...attribution };
}
