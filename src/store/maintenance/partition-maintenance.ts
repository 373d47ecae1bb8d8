/**
 * Chunk compaction and retention for the GPUs of one queue partition, run by
 * the partition's owner between messages (see queue/partition-worker.ts), so
 * it never races the collector writing those GPUs, and fenced by the owner's
 * claim like every write of a message.
 *
 * A round, per cluster the caller names (those it applied messages for):
 * 1. The partition's queued message ids (keys only): their chunks are left
 *    alone (see chunk-compactor.ts).
 * 2. The cluster's GPUs whose host hashes to this partition, from the uuid
 *    index (keys only).
 * 3. Per GPU: retention (chunks ending before `newest sample of the cluster −
 *    retention` go, and their samples leave the stats), then compaction of
 *    its closed windows and, in steps, its open one. A GPU left with no
 *    chunk loses its metadata, index entry and latest values; a host left
 *    with no GPU its metadata and latest key.
 *
 * Retention counts in data time, not wall-clock time, as compaction does: a
 * replayed export from last year is not wiped on arrival, and a cluster that
 * stops sending keeps its last `retention` of data until data comes again.
 */
import { errorMessage, GputelError, isRetryable } from '../../common/gputel-error.js';
import { counter } from '../../common/metrics.js';
import type { Logger } from '../../common/logger.js';
import { settingOf, type Setting } from '../../common/setting.js';
import { unescapeSegment, type KeySpace } from '../../kv/key-space.js';
import type { Compare, KvStore, TxnOp } from '../../kv/kv-store.js';
import { partitionOf } from '../../queue/partitioner.js';
import { decodeGpuMetadata, decodeLatestHost, encodeJson, type LatestHost } from '../gpu-records.js';
import { ChunkCompactor, type ChunkCompactorOptions } from './chunk-compactor.js';
import { ChunkRetention } from './chunk-retention.js';
import { listOldestGpuChunks, type GpuSeries, type MaintenanceScope } from './gpu-chunk-list.js';

/** Default retention: 7 days (ARCHITECTURE.md). */
export const DEFAULT_RETENTION_MS = 7 * 86_400_000;
/** Chunk keys of one GPU a round works on, oldest first (a keys-only page of ~2 MB). */
export const MAX_CHUNK_KEYS_PER_ROUND = 10_000;

const gpuFailures = counter('gputel_store_maintenance_gpu_failures_total', "GPUs whose compaction or retention failed in a round for a reason of their own (the partition's other GPUs went on)");

export interface PartitionMaintenanceOptions {
  topic: string;
  partitions: number;
  /** Data older than the cluster's newest sample minus this is removed; a Setting follows live --retention at the next round. */
  retentionMs: number | Setting<number>;
  logger: Logger;
  /** Compaction window, grace and input-delete delay (defaults in chunk-compactor.ts). */
  compaction?: Omit<ChunkCompactorOptions, 'logger' | 'onUnreadable'>;
  onUnreadable?: (key: string, error: unknown) => void;
  /** Chunk keys of one GPU a round works on (default MAX_CHUNK_KEYS_PER_ROUND). */
  maxChunkKeysPerRound?: number;
}

export interface MaintenanceSummary {
  gpus: number;
  windowsCompacted: number;
  chunksMerged: number;
  inputsDeleted: number;
  chunksRemoved: number;
  samplesRemoved: number;
  recordsRemoved: number;
  gpusRemoved: number;
  hostsRemoved: number;
  /** Merged inputs wait for the next round to be deleted: run again even if no message comes. */
  pending: boolean;
}

export class PartitionMaintenance {
  /** One compactor per partition and claim: what it remembers belongs to that claim. */
  private readonly compactors = new Map<number, { claimRevision: number; compactor: ChunkCompactor }>();
  private readonly retention: ChunkRetention;

  constructor(
    private readonly kv: KvStore,
    private readonly keys: KeySpace,
    private readonly options: PartitionMaintenanceOptions,
  ) {
    this.retention = new ChunkRetention(kv, keys, { logger: options.logger, onUnreadable: options.onUnreadable });
    this.retentionMs = settingOf(options.retentionMs);
  }

  private readonly retentionMs: Setting<number>;

  /**
   * One round for `partition`, owned under `claimRevision`, over the
   * clusters in `newestByCluster` (cluster → its newest sample time, ms).
   * Throws CONFLICT (retryable) when the claim is lost, or the store's error;
   * whatever a failed round did is consistent, and the next round goes on.
   */
  async run(partition: number, claimRevision: number, newestByCluster: ReadonlyMap<string, number>, signal?: AbortSignal): Promise<MaintenanceSummary> {
    const summary: MaintenanceSummary = { gpus: 0, windowsCompacted: 0, chunksMerged: 0, inputsDeleted: 0, chunksRemoved: 0, samplesRemoved: 0, recordsRemoved: 0, gpusRemoved: 0, hostsRemoved: 0, pending: false };
    const compactor = this.compactorFor(partition, claimRevision);
    const fence: Compare[] = [{ key: this.keys.owner(this.options.topic, partition), target: 'modRevision', operator: '==', operand: claimRevision }];
    const queued = await this.kv.range({ prefix: this.keys.partitionPrefix(this.options.topic, partition) }, { keysOnly: true });
    const prefixLength = this.keys.partitionPrefix(this.options.topic, partition).length;
    const scope: MaintenanceScope = { fence, queuedMessageIds: new Set(queued.kvs.map((kv) => kv.key.slice(prefixLength))) };
    try {
      for (const [cluster, newestMs] of newestByCluster) {
        if (signal?.aborted) break;
        const cutoffMs = newestMs - this.retentionMs.value;
        const statsKey = this.keys.partitionStats(cluster, this.options.topic, partition);
        for (const [hostname, gpuKeys] of await this.partitionGpus(cluster, partition)) {
          let gpusLeft = gpuKeys.length;
          const removedGpus: string[] = [];
          for (const gpuKey of gpuKeys) {
            if (signal?.aborted) break;
            const gpu: GpuSeries = { cluster, hostname, gpuKey };
            summary.gpus++;
            try {
              if (await this.maintainGpu(gpu, cutoffMs, statsKey, scope, compactor, summary)) {
                removedGpus.push(gpuKey);
                gpusLeft--;
              }
            } catch (error) {
              // The claim lost, or the store away: the round ends, and the next one goes on.
              if (isRetryable(error) || (error instanceof GputelError && error.code === 'CONFLICT')) throw error;
              // Anything else is this GPU's alone: it must not keep every GPU after it unmaintained.
              gpuFailures.inc();
              summary.pending = true;
              this.options.logger.error({ err: error, cluster, hostname, gpuKey }, `maintenance of GPU ${gpuKey} on ${hostname} failed (${errorMessage(error)}); the partition's other GPUs go on`);
            }
          }
          summary.gpusRemoved += removedGpus.length;
          if (await this.trimLatest(cluster, hostname, removedGpus, cutoffMs, gpusLeft === 0, fence)) summary.hostsRemoved++;
        }
      }
    } catch (error) {
      compactor.forget();
      throw error;
    }
    summary.pending ||= compactor.hasPending;
    return summary;
  }

  /**
   * Retention, then compaction, of one GPU, over its oldest
   * MAX_CHUNK_KEYS_PER_ROUND chunk keys; resolves to true when the GPU had no
   * data left and was removed.
   */
  private async maintainGpu(gpu: GpuSeries, cutoffMs: number, statsKey: string, scope: MaintenanceScope, compactor: ChunkCompactor, summary: MaintenanceSummary): Promise<boolean> {
    const listed = await listOldestGpuChunks(this.kv, this.keys, gpu, this.options.maxChunkKeysPerRound ?? MAX_CHUNK_KEYS_PER_ROUND);
    // Keys past the listing come next round (soon: the round says work is left).
    if (listed.more) summary.pending = true;
    const kept = await this.retention.apply(gpu, listed.chunks, cutoffMs, statsKey, scope);
    summary.chunksRemoved += kept.chunks;
    summary.samplesRemoved += kept.samples;
    summary.recordsRemoved += kept.records;
    if (kept.remaining.length === 0 && !listed.more && (await this.removeGpu(gpu, cutoffMs, scope.fence))) return true;
    // A partial listing ends in a window whose later chunks are unlisted: the plan treats it as open and merges only its leading run.
    const compacted = await compactor.compact(gpu, kept.remaining, scope);
    summary.windowsCompacted += compacted.windows;
    summary.chunksMerged += compacted.merged;
    summary.inputsDeleted += compacted.deleted;
    return false;
  }

  private compactorFor(partition: number, claimRevision: number): ChunkCompactor {
    const held = this.compactors.get(partition);
    if (held?.claimRevision === claimRevision) return held.compactor;
    const compactor = new ChunkCompactor(this.kv, this.keys, { ...this.options.compaction, logger: this.options.logger, onUnreadable: this.options.onUnreadable });
    this.compactors.set(partition, { claimRevision, compactor });
    return compactor;
  }

  /** The cluster's GPUs on hosts of this partition, by host, from the uuid index (`index/gpus/{gpu}/{host}`, keys only). */
  private async partitionGpus(cluster: string, partition: number): Promise<Map<string, string[]>> {
    const prefix = this.keys.gpuIndexPrefix(cluster);
    const index = await this.kv.range({ prefix }, { keysOnly: true });
    const byHost = new Map<string, string[]>();
    for (const { key } of index.kvs) {
      const [gpuSegment, hostSegment] = key.slice(prefix.length).split('/');
      let hostname: string;
      let gpuKey: string;
      try {
        hostname = unescapeSegment(hostSegment ?? '');
        gpuKey = unescapeSegment(gpuSegment);
      } catch (error) {
        this.options.logger.warn({ key, err: error }, `uuid index key is not gputel's (${errorMessage(error)}); skipped`);
        continue;
      }
      if (hostname === '' || partitionOf(cluster, hostname, this.options.partitions) !== partition) continue;
      byHost.set(hostname, [...(byHost.get(hostname) ?? []), gpuKey]);
    }
    return byHost;
  }

  /**
   * A GPU with no chunk left whose first sample is older than the cutoff (a
   * GPU just registered by a message not yet committed has a recent one)
   * loses its metadata and index entry. Resolves to whether it was removed.
   */
  private async removeGpu(gpu: GpuSeries, cutoffMs: number, fence: Compare[]): Promise<boolean> {
    const metadataKey = this.keys.gpuMetadata(gpu.cluster, gpu.hostname, gpu.gpuKey);
    const stored = await this.kv.get(metadataKey);
    if (stored) {
      try {
        if (decodeGpuMetadata(stored.value).firstSeenMs >= cutoffMs) return false;
      } catch {
        // Unreadable metadata of a GPU with no data left: remove it too.
      }
    }
    await this.fencedTxn(fence, [
      { type: 'delete', range: { start: metadataKey } },
      { type: 'delete', range: { start: this.keys.gpuIndex(gpu.cluster, gpu.gpuKey, gpu.hostname) } },
    ]);
    return true;
  }

  /**
   * Drops from `latest/{host}` the removed GPUs and those whose newest sample
   * is older than the cutoff; with `hostEmpty`, deletes the host's latest key,
   * metadata and utilisation rollup (hosts come and go: none may leave a key
   * behind for good). Resolves to whether the host was removed.
   */
  private async trimLatest(cluster: string, hostname: string, removedGpus: string[], cutoffMs: number, hostEmpty: boolean, fence: Compare[]): Promise<boolean> {
    const latestKey = this.keys.latest(cluster, hostname);
    if (hostEmpty) {
      await this.fencedTxn(fence, [
        { type: 'delete', range: { start: latestKey } },
        { type: 'delete', range: { start: this.keys.hostMetadata(cluster, hostname) } },
        { type: 'delete', range: { start: this.keys.rollup(cluster, hostname) } },
      ]);
      return true;
    }
    const stored = await this.kv.get(latestKey);
    if (!stored) return false;
    let latest: LatestHost;
    try {
      latest = decodeLatestHost(stored.value);
    } catch {
      return false; // the collector repairs it with its next message
    }
    const removed = new Set(removedGpus);
    const gpus = Object.fromEntries(Object.entries(latest.gpus).filter(([gpuKey, gpu]) => !removed.has(gpuKey) && gpu.lastSeenMs >= cutoffMs));
    if (Object.keys(gpus).length === Object.keys(latest.gpus).length) return false;
    await this.fencedTxn(
      [...fence, { key: latestKey, target: 'modRevision', operator: '==', operand: stored.modRevision }],
      [{ type: 'put', key: latestKey, value: encodeJson({ ...latest, gpus }) }],
    );
    return false;
  }

  private async fencedTxn(compare: Compare[], success: TxnOp[]): Promise<void> {
    const result = await this.kv.txn({ compare, success });
    if (!result.succeeded) throw new GputelError('CONFLICT', 'the partition claim changed during retention; the new owner goes on', { retryable: true });
  }
}
