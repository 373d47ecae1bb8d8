/**
 * Applies one queued message to the store with an exactly-once effect:
 *
 * 1. Chunks (keys carry the message id), GPU/host metadata, the uuid index
 *    and latest values are written. They are idempotent: a replay writes the
 *    same keys with the same bytes, so they may be spread over as many
 *    transactions as etcd's limits force.
 * 2. Utilisation rollups (sums) are written in fenced transactions too, each
 *    stamped with the message's id, with a mark of the hosts written so far:
 *    a replay adds nothing to a rollup that carries its id or is marked
 *    (see host-rollups.ts). The last batch rides in the final transaction.
 * 3. One final transaction deletes the message, comparing that it still
 *    exists, and adds the message's counts to its partition's counters in the
 *    same step. A replayed message either finds itself deleted (nothing
 *    counted twice) or is counted exactly once.
 *
 * Every transaction is fenced by the collector's claim on the partition, so a
 * collector that lost its claim (a long pause, a partition) writes nothing.
 */
import { GputelError, errorMessage } from '../common/gputel-error.js';
import { counter } from '../common/metrics.js';
import { chunkTimeRange, TIMESTAMP_KEY_WIDTH, timestampSegment, type KeySpace } from '../kv/key-space.js';
import { MAX_REQUEST_BYTES, MAX_TXN_OPS, type Compare, type KeyRange, type KvStore, type TxnOp, prefixEnd } from '../kv/kv-store.js';
import { ClusterTopicCheck } from '../queue/cluster-topic-binding.js';
import { decodeMessage } from '../queue/message-codec.js';
import type { QueuedMessage } from '../queue/queue-consumer.js';
import { encodeChunk, splitChunk, type Chunk } from '../store/chunk-codec.js';
import {
  decodeGpuMetadata,
  decodeHostMetadata,
  decodeLatestHost,
  decodePartitionStats,
  encodeJson,
  type GpuMetadata,
  type HostMetadata,
  type LatestGpu,
  type LatestHost,
  type PartitionStats,
} from '../store/gpu-records.js';
import { reportUnreadable } from '../store/telemetry-reader.js';
import { fetchChunks } from '../store/chunk-fetch.js';
import { mergeChunks } from '../store/chunk-merge.js';
import type { Logger } from '../common/logger.js';
import { boundLatest } from './latest-bound.js';
import { ROLLUP_METRIC } from '../store/utilization-rollup.js';
import { HostRollups, type RollupBatch } from './host-rollups.js';
import { OwnedPartitionCache } from './owned-partition-cache.js';
import { MAX_CONFLICT_EXAMPLES, pivot, type ConflictingDuplicate, type GpuBlock } from './pivot.js';

/** A chunk's column bytes stay under this, whatever shape its records take (etcd takes ~1.5 MiB a request). */
const MAX_CHUNK_BYTES = 256 * 1024;

const samplesStored = counter('gputel_collector_samples_total', 'Metric values stored');
const recordsStored = counter('gputel_collector_records_total', 'GPU records (one GPU at one timestamp) stored');
const messagesProcessed = counter('gputel_collector_messages_total', 'Messages applied and deleted (consumed)');
const chunksWritten = counter('gputel_collector_chunks_written_total', 'Chunks written by applied messages (one per GPU per message, more where a chunk had to be split)');
const conflictingDuplicates = counter(
  'gputel_collector_conflicting_duplicates_total',
  'Samples that arrived again (same GPU, metric, timestamp) with a different value',
);
const latestDropped = counter(
  'gputel_collector_latest_dropped_total',
  'GPUs dropped from latest/{host} (far behind the host, or the value over its byte budget); they keep their metadata and data',
);
/** Hosts whose latest values were trimmed, logged per process; after that they are only counted. */
const MAX_LATEST_DROPS_LOGGED = 20;
/** Conflicting duplicates logged per process; after that they are only counted (metric and partition stats). */
const MAX_CONFLICTS_LOGGED = 50;
const valuesRepaired = counter(
  'gputel_collector_repaired_values_total',
  'Stored JSON values (latest, GPU/host metadata, stats) that did not decode and were overwritten',
);

export class MessageProcessor {
  private readonly caches = new Map<number, OwnedPartitionCache>();
  /** Caches under which a message was applied since they were made or cleared (see the rollup mark in apply). */
  private readonly settled = new WeakSet<OwnedPartitionCache>();
  private conflictsLogged = 0;
  private latestDropsLogged = 0;
  private readonly topicCheck: ClusterTopicCheck;
  /** Newest sample time of each cluster this processor applied messages for: where retention counts back from. */
  private readonly newestByCluster = new Map<string, number>();

  constructor(
    private readonly kv: KvStore,
    private readonly keys: KeySpace,
    private readonly topic: string,
    private readonly logger: Logger,
  ) {
    this.topicCheck = new ClusterTopicCheck(kv, keys, topic);
  }

  /**
   * Applies the message. Throws BAD_MESSAGE/BAD_KEY (poison: dead-letter it),
   * or a retryable error: the store failed, or the message or the partition's
   * ownership changed under this collector (the consumer then checks that it
   * still owns the partition and fetches the message again).
   */
  async process(message: QueuedMessage): Promise<void> {
    let cache = this.caches.get(message.partition);
    if (cache?.claimRevision !== message.claimRevision) {
      cache = new OwnedPartitionCache(this.kv, message.claimRevision, (key, error) => this.reportRepaired(key, error));
      this.caches.set(message.partition, cache);
    }
    try {
      await this.apply(message, cache);
      this.settled.add(cache);
    } catch (error) {
      // A failed write may have left the cache ahead of the store.
      cache.clear();
      this.settled.delete(cache);
      throw error;
    }
  }

  /** Clusters this processor applied messages for, with the newest sample time of each (data time, epoch ms). */
  get clusterNewestSamples(): ReadonlyMap<string, number> {
    return this.newestByCluster;
  }

  /** Drops what is cached for a partition: maintenance changed its metadata, latest values or stats. */
  forgetPartition(partition: number): void {
    this.caches.delete(partition);
  }

  /**
   * A stored value that is not what this version writes (not JSON, another
   * shape): overwritten by this message's write instead of throwing, which
   * would retry the message forever and stall every host of the partition.
   * Stats rewritten this way restart from this message's counts.
   */
  private reportRepaired(key: string, error: unknown): void {
    valuesRepaired.inc();
    this.logger.error({ err: error, key }, `stored value at ${key} is unreadable (${errorMessage(error)}); it is overwritten`);
  }

  private async apply(message: QueuedMessage, cache: OwnedPartitionCache): Promise<void> {
    const batch = decodeMessage(message.value);
    // '' (a message queued before correlation ids) is left out of log lines rather than logged empty.
    if (batch.correlationId) message.correlationId = batch.correlationId;
    await this.topicCheck.check(batch.cluster);
    const blocks = pivot(batch);
    const cluster = batch.cluster;
    // Keyed by key: a later put of the same key in this message (a host with several GPUs) replaces the earlier.
    const writes = new Map<string, TxnOp>();
    let samples = 0;
    let records = 0;
    let conflicts = 0;
    let chunks = 0;
    const conflictExamples: ConflictingDuplicate[] = [];

    const latestByHost = new Map<string, LatestHost>();
    const overlapChecks: OverlapCheck[] = [];
    const rollups = new HostRollups(cache, this.keys, cluster, message.messageId, this.keys.rollupMark(cluster, this.topic, message.partition, message.messageId));
    for (const block of blocks) {
      const { hostname } = block.labels;
      const parts = splitChunk(block.chunk, MAX_CHUNK_BYTES);
      // Metadata first: it carries the longest chunk span, which readers use
      // to bound their key scans, so it must land no later than the chunks.
      const { metadata, known } = await this.registerGpu(cluster, block, parts, writes, cache);
      // Parts cover disjoint time ranges, so their keys differ by start time.
      for (const part of parts) {
        const { timestampsMs: partTimes } = part;
        const key = this.keys.gpuChunk(cluster, hostname, block.gpuKey, partTimes[0], partTimes[partTimes.length - 1], message.messageId);
        writes.set(key, { type: 'put', key, value: encodeChunk(part) });
        chunks++;
      }

      let latest = latestByHost.get(hostname);
      if (!latest) {
        const stored = await cache.read(this.keys.latest(cluster, hostname), decodeLatestHost);
        latest = stored.value ? structuredClone(stored.value) : { hostname, gpus: {} };
        latestByHost.set(hostname, latest);
      }
      // The GPU's newest stored sample as it was before this message (mergeLatest replaces, never mutates, the entry).
      overlapChecks.push({ block, metadata, known, latest: latest.gpus[block.gpuKey], addUtilization: await rollups.adder(hostname, block.gpuKey) });
      conflicts += block.conflicts;
      conflictExamples.push(...block.conflictExamples);
      mergeLatest(latest, block);
    }
    // The first message after a failure or a new claim may be a replay of one
    // that wrote rollups before its final transaction: its mark names them.
    // Later ones need no read: their rollup writes compare the mark.
    if (!this.settled.has(cache)) rollups.useMark(await this.kv.get(this.keys.rollupMark(cluster, this.topic, message.partition, message.messageId)), (key, error) => this.reportRepaired(key, error));
    for (const counts of await this.countNew(cluster, overlapChecks, message.messageId)) {
      samples += counts.samples;
      records += counts.records;
      conflicts += counts.conflicts;
      conflictExamples.push(...counts.conflictExamples);
    }
    for (const [hostname, latest] of latestByHost) {
      this.bound(message, hostname, latest);
      cache.queueWrite(writes, this.keys.latest(cluster, hostname), latest, true);
    }

    // Idempotent writes go first, in transactions sized to etcd's limits,
    // each fenced: a collector that lost the partition (paused, then woken)
    // must not write over its successor's newer values.
    const fence = this.fence(message);
    // Rollups carry this message's id (see host-rollups.ts), so they may go
    // before the final transaction, batch by batch, each comparing the
    // fence and its rollups' revisions. Room is left for the final one's
    // stats compare, stats put and message delete: the last batch rides in it.
    // Each batch before the final one also puts the message's mark, which the
    // final transaction deletes; all of them compare the mark's revision.
    const rollupBatches = rollups.batches(MAX_TXN_OPS - fence.length - 2, MAX_REQUEST_BYTES - 8_192);
    const rollupFinal = rollupBatches.pop() ?? { hostIndices: [], compares: [], puts: [], bytes: 0, written: [] };
    for (const batch of rollupBatches) {
      const result = await this.kv.txn({ compare: [...fence, ...batch.compares, rollups.markGuard()], success: [...batch.puts, rollups.markPut(batch)] });
      if (!result.succeeded) throw changedUnder(message);
      rollups.markWritten(batch, result.revision);
    }
    rollupFinal.compares.push(rollups.markGuard());
    // The final transaction also puts the stats, deletes the message and deletes the mark.
    const finalRoom = MAX_TXN_OPS - 3 - rollupFinal.puts.length;
    let pending: TxnOp[] = [];
    let pendingBytes = 0;
    for (const op of writes.values()) {
      const bytes = op.type === 'put' ? op.value.length + op.key.length : 0;
      if (pending.length > 0 && (pending.length === MAX_TXN_OPS || pendingBytes + bytes > MAX_REQUEST_BYTES)) {
        await this.fencedWrite(message, fence, pending);
        pending = [];
        pendingBytes = 0;
      }
      pending.push(op);
      pendingBytes += bytes;
    }
    let finalOps: TxnOp[] = [];
    if (pending.length <= finalRoom && pendingBytes + rollupFinal.bytes < MAX_REQUEST_BYTES - 4_096) {
      finalOps = pending;
    } else {
      await this.fencedWrite(message, fence, pending);
    }

    finalOps.push(...rollups.markDelete());
    await this.commit(cluster, message, finalOps, { samples, records, messages: 1, conflictingDuplicates: conflicts }, cache, rollupFinal);
    // Counted once the message is deleted: a replay rewrites the same keys, and a failed try is counted by no one.
    chunksWritten.inc(chunks);
    const newestMs = Math.max(...blocks.map((block) => block.chunk.timestampsMs[block.chunk.timestampsMs.length - 1]));
    if (newestMs > (this.newestByCluster.get(cluster) ?? -Infinity)) this.newestByCluster.set(cluster, newestMs);
    if (conflicts > 0) this.reportConflicts(message, conflicts, conflictExamples);
    // Debug: one line per message. Its correlation id is the one the streamer logged for the flush.
    this.logger.debug(
      { correlationId: message.correlationId, messageId: message.messageId, partition: message.partition, sourceId: batch.sourceId, samples: batch.length, newSamples: samples, records },
      'message applied',
    );
  }

  /** Keeps latest/{host} under etcd's request limit (see latest-bound.ts), counting and logging what it drops. */
  private bound(message: QueuedMessage, hostname: string, latest: LatestHost): void {
    const dropped = boundLatest(latest);
    const total = dropped.stale + dropped.overBudget;
    if (total === 0) return;
    latestDropped.inc(total);
    if (this.latestDropsLogged >= MAX_LATEST_DROPS_LOGGED) return;
    this.latestDropsLogged++;
    this.logger.warn(
      { correlationId: message.correlationId, messageId: message.messageId, partition: message.partition, hostname, ...dropped, kept: Object.keys(latest.gpus).length },
      `latest values of host ${hostname}: dropped ${dropped.stale} GPU(s) more than 24 h behind the host and ${dropped.overBudget} to stay under the size limit; ` +
        'they are still listed from their metadata and their data stays queryable' +
        (this.latestDropsLogged === MAX_LATEST_DROPS_LOGGED ? ' (further drops are only counted: gputel_collector_latest_dropped_total)' : ''),
    );
  }

  /** Logs the first conflicting duplicates of the process, each with where it came from and both values. */
  private reportConflicts(message: QueuedMessage, conflicts: number, examples: ConflictingDuplicate[]): void {
    conflictingDuplicates.inc(conflicts);
    for (const example of examples) {
      if (this.conflictsLogged >= MAX_CONFLICTS_LOGGED) break;
      this.conflictsLogged++;
      this.logger.warn(
        { correlationId: message.correlationId, messageId: message.messageId, partition: message.partition, ...example, timestamp: new Date(example.timestampMs).toISOString() },
        `conflicting duplicate: ${example.metric} of GPU ${example.gpuKey} on ${example.hostname} at ${new Date(example.timestampMs).toISOString()} ` +
          `arrived as ${example.firstValue} and again as ${example.laterValue}`,
      );
      if (this.conflictsLogged === MAX_CONFLICTS_LOGGED) {
        this.logger.warn(`further conflicting duplicates are counted (gputel_collector_conflicting_duplicates_total, stats) but not logged`);
      }
    }
  }

  /** Guards of every write of a message: the message is still queued, and this collector's claim on its partition still holds. */
  private fence(message: QueuedMessage): Compare[] {
    return [
      { key: message.key, target: 'modRevision', operator: '==', operand: message.modRevision },
      { key: this.keys.owner(this.topic, message.partition), target: 'modRevision', operator: '==', operand: message.claimRevision },
    ];
  }

  private async fencedWrite(message: QueuedMessage, fence: Compare[], ops: TxnOp[]): Promise<void> {
    const result = await this.kv.txn({ compare: fence, success: ops });
    if (!result.succeeded) throw changedUnder(message);
  }

  private async commit(
    cluster: string,
    message: QueuedMessage,
    writes: TxnOp[],
    delta: PartitionStats,
    cache: OwnedPartitionCache,
    rollups: RollupBatch,
  ): Promise<void> {
    const statsKey = this.keys.partitionStats(cluster, this.topic, message.partition);
    const stats = await cache.read(statsKey, decodePartitionStats);
    const next: PartitionStats = {
      samples: (stats.value?.samples ?? 0) + delta.samples,
      records: (stats.value?.records ?? 0) + delta.records,
      messages: (stats.value?.messages ?? 0) + delta.messages,
    };
    // Written once there is one, so stats of clean data keep their old shape.
    const conflicts = (stats.value?.conflictingDuplicates ?? 0) + (delta.conflictingDuplicates ?? 0);
    if (conflicts > 0) next.conflictingDuplicates = conflicts;
    const result = await this.kv.txn({
      compare: [...this.fence(message), { key: statsKey, target: 'modRevision', operator: '==', operand: stats.modRevision }, ...rollups.compares],
      success: [...writes, ...rollups.puts, { type: 'put', key: statsKey, value: encodeJson(next) }, { type: 'delete', range: { start: message.key } }],
    });
    // On a failed compare nothing was counted; the message is applied again
    // from fresh reads (its writes are idempotent), never with stale counts.
    if (!result.succeeded) throw changedUnder(message);
    cache.written(statsKey, next, result.revision);
    for (const { key, rollup } of rollups.written) cache.written(key, rollup, result.revision);
    samplesStored.inc(delta.samples);
    recordsStored.inc(delta.records);
    messagesProcessed.inc();
  }

  /**
   * Samples and records of each block that are not stored yet. Data arriving
   * in time order starts after the GPU's newest stored sample: all of it is
   * new. Otherwise (a batch boundary inside one GPU's record, data out of
   * order, the same samples streamed again from another file, a replay of
   * this very message) the stored chunks of that time range, less this
   * message's own, say which values already exist. Counting only new ones
   * keeps `samples` equal to the values stored, whatever arrives twice. The
   * new utilisation samples among them go to the host's rollup.
   *
   * The blocks that need it are read together: one transaction lists their
   * chunk keys (one range each, keys only), then their chunk values are
   * fetched by key, instead of two round trips per block.
   */
  private async countNew(cluster: string, checks: OverlapCheck[], messageId: string): Promise<NewCounts[]> {
    const results: NewCounts[] = checks.map(({ block }) => ({ samples: block.samples, records: block.chunk.timestampsMs.length, conflicts: 0, conflictExamples: [] }));
    // A GPU never seen has nothing stored. One that is known but absent from
    // latest (dropped there to bound its size) may have: look at its chunks.
    const needsRead = ({ known, latest, block }: OverlapCheck): boolean => !((!latest && !known) || (latest && block.chunk.timestampsMs[0] > latest.lastSeenMs));
    for (const check of checks) if (!needsRead(check)) addAllUtilization(check);
    const reads = checks.map((check, index) => ({ ...check, index })).filter(needsRead);
    if (reads.length === 0) return results;

    const listed: ChunkKeys[] = [];
    for (let from = 0; from < reads.length; from += MAX_TXN_OPS) {
      const page = reads.slice(from, from + MAX_TXN_OPS);
      const ranges = page.map(({ block, metadata }) => overlapRange(this.keys, cluster, metadata, block.chunk.timestampsMs));
      const result = await this.kv.txn({ success: ranges.map((range): TxnOp => ({ type: 'range', range, options: { keysOnly: true } })) });
      result.results.forEach((op, i) => {
        const { timestampsMs } = page[i].block.chunk;
        const keys = op.type === 'range' ? op.result.kvs.map((kv) => kv.key) : [];
        // Chunks that end before the block starts cannot hold its times; the message's own are not "stored before".
        listed.push(keys.filter((key) => chunkTimeRange(key).endMs >= timestampsMs[0] && !key.endsWith(`-${messageId}`)));
      });
    }
    // One unreadable stored chunk must not stall the partition behind it.
    const fetched = await fetchChunks(this.kv, listed.flat(), (key, error) => reportUnreadable(this.logger, key, error));
    const chunkAt = new Map(fetched.map((chunk) => [chunk.key, chunk.chunk]));
    reads.forEach((read, i) => {
      const stored = mergeChunks(listed[i].flatMap((key) => chunkAt.get(key) ?? []));
      results[read.index] = countAgainst(read.block, stored, read.addUtilization);
    });
    return results;
  }

  /** Queues the GPU's and host's metadata where they changed; returns the GPU's, and whether it was stored before. */
  private async registerGpu(
    cluster: string,
    block: GpuBlock,
    parts: Chunk[],
    writes: Map<string, TxnOp>,
    cache: OwnedPartitionCache,
  ): Promise<{ metadata: GpuMetadata; known: boolean }> {
    const { labels, gpuKey } = block;
    const firstMs = block.chunk.timestampsMs[0];
    const metadataKey = this.keys.gpuMetadata(cluster, labels.hostname, gpuKey);
    const stored = (await cache.read(metadataKey, decodeGpuMetadata)).value;
    const longestSpanMs = Math.max(...parts.map((part) => part.timestampsMs[part.timestampsMs.length - 1] - part.timestampsMs[0]));
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
      // Metadata that predates the field knows nothing of the older chunks' spans: keep "scan everything".
      maxChunkSpanMs: stored && stored.maxChunkSpanMs === undefined ? undefined : Math.max(longestSpanMs, stored?.maxChunkSpanMs ?? 0),
      metricAliases: { ...stored?.metricAliases, ...block.metricAliases },
    };
    cache.queueWrite(writes, metadataKey, metadata);
    cache.queueWrite(writes, this.keys.gpuIndex(cluster, gpuKey, labels.hostname), metadata);

    const hostKey = this.keys.hostMetadata(cluster, labels.hostname);
    const host = (await cache.read(hostKey, decodeHostMetadata)).value;
    cache.queueWrite(writes, hostKey, {
      hostname: labels.hostname,
      firstSeenMs: Math.min(firstMs, host?.firstSeenMs ?? firstMs),
    } satisfies HostMetadata);
    return { metadata, known: stored !== undefined };
  }
}

function changedUnder(message: QueuedMessage): GputelError {
  return new GputelError(
    'CONFLICT',
    `message ${message.messageId} or the ownership of partition ${message.partition} changed while it was applied; it will be fetched again`,
    { retryable: true },
  );
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

interface OverlapCheck {
  block: GpuBlock;
  metadata: GpuMetadata;
  known: boolean;
  /** The GPU's entry in latest/{host} before this message. */
  latest: LatestGpu | undefined;
  /** Adds a new utilisation sample of the GPU to its host's rollup. */
  addUtilization: (timestampMs: number, value: number) => void;
}

/** Every utilisation sample of a block with nothing stored before it goes to the rollup. */
function addAllUtilization({ block, addUtilization }: OverlapCheck): void {
  const { timestampsMs, metrics, columns } = block.chunk;
  const utilization = metrics.indexOf(ROLLUP_METRIC);
  if (utilization < 0) return;
  const column = columns[utilization];
  for (let r = 0; r < timestampsMs.length; r++) if (!Number.isNaN(column[r])) addUtilization(timestampsMs[r], column[r]);
}

interface NewCounts {
  samples: number;
  records: number;
  conflicts: number;
  conflictExamples: ConflictingDuplicate[];
}

type ChunkKeys = string[];

/**
 * The chunk keys that can hold samples in the block's time range: those
 * starting up to the GPU's longest chunk span before it (metadata without a
 * span: all of them) and no later than its end.
 */
function overlapRange(keys: KeySpace, cluster: string, metadata: GpuMetadata, timestampsMs: Float64Array): KeyRange {
  const prefix = keys.gpuDataPrefix(cluster, metadata.hostname, metadata.gpuKey);
  const startMs = timestampsMs[0];
  const endMs = timestampsMs[timestampsMs.length - 1];
  const lower = metadata.maxChunkSpanMs === undefined ? prefix : prefix + timestampSegment(Math.max(0, startMs - metadata.maxChunkSpanMs));
  // Times in keys are 13 digits: a block ending at the last one reads to the end of the prefix.
  return { start: lower, end: endMs + 1 < 10 ** TIMESTAMP_KEY_WIDTH ? prefix + timestampSegment(endMs + 1) : prefixEnd(prefix) };
}

/** Counts the block's values that `stored` (the merge of the chunks stored before it) does not hold, and those it holds with another value. */
function countAgainst(block: GpuBlock, stored: Chunk, addUtilization: (timestampMs: number, value: number) => void): NewCounts {
  const { timestampsMs, metrics, columns } = block.chunk;
  const utilization = metrics.indexOf(ROLLUP_METRIC);
  const storedRecord = new Map<number, number>();
  stored.timestampsMs.forEach((t, r) => storedRecord.set(t, r));
  const storedColumn = new Map(stored.metrics.map((metric, m) => [metric, stored.columns[m]]));
  let samples = 0;
  let records = 0;
  let conflicts = 0;
  const conflictExamples: ConflictingDuplicate[] = [];
  for (let r = 0; r < timestampsMs.length; r++) {
    const at = storedRecord.get(timestampsMs[r]);
    if (at === undefined) records++;
    for (let m = 0; m < metrics.length; m++) {
      const value = columns[m][r];
      if (Number.isNaN(value)) continue;
      const storedValue = at === undefined ? NaN : (storedColumn.get(metrics[m])?.[at] ?? NaN);
      if (Number.isNaN(storedValue)) {
        samples++;
        if (m === utilization) addUtilization(timestampsMs[r], value);
      } else if (storedValue !== value) {
        // Stored before by another message (a file streamed again with corrections, two sources disagreeing).
        conflicts++;
        if (conflictExamples.length < MAX_CONFLICT_EXAMPLES) {
          conflictExamples.push({ hostname: block.labels.hostname, gpuKey: block.gpuKey, metric: metrics[m], timestampMs: timestampsMs[r], laterValue: value, firstValue: storedValue });
        }
      }
    }
  }
  return { samples, records, conflicts, conflictExamples };
}
