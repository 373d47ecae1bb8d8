/**
 * Removes a GPU's chunks that end before the retention cutoff, with range
 * deletes, and takes what they held out of the partition's stats in the same
 * fenced transaction, so `/api/v1/stats` counts what is still stored.
 *
 * What is subtracted is exactly what readers stop seeing: the samples of the
 * removed chunks (merged as readers merge them) that no remaining chunk
 * holds, and the timestamps no remaining chunk has. Chunks of messages still
 * queued are neither removed nor counted as remaining: their samples are not
 * in the stats yet, and their replay counts what it finds stored then.
 */
import { errorMessage, GputelError } from '../../common/gputel-error.js';
import type { Logger } from '../../common/logger.js';
import { counter } from '../../common/metrics.js';
import type { KeySpace } from '../../kv/key-space.js';
import { MAX_TXN_OPS, prefixEnd, type Compare, type KvStore, type TxnOp } from '../../kv/kv-store.js';
import { fetchChunks } from '../chunk-fetch.js';
import { mergeChunks } from '../chunk-merge.js';
import { decodePartitionStats, encodeJson, type PartitionStats } from '../gpu-records.js';
import type { ChunkKey, GpuSeries, MaintenanceScope } from './gpu-chunk-list.js';

/** Chunks removed per transaction at most: their values are read (to count them) before. */
const CHUNKS_PER_STEP = 256;
/** Range deletes per transaction, leaving room for the fence and the stats. */
const RANGES_PER_STEP = MAX_TXN_OPS - 8;

const chunksRemoved = counter('gputel_store_retention_chunks_total', 'Chunks removed by retention');
const samplesRemoved = counter('gputel_store_retention_samples_total', 'Samples removed by retention (subtracted from the partition stats)');

export interface RetentionResult {
  /** The GPU's chunks left, in key order. */
  remaining: ChunkKey[];
  chunks: number;
  samples: number;
  records: number;
}

export class ChunkRetention {
  constructor(
    private readonly kv: KvStore,
    private readonly keys: KeySpace,
    private readonly options: { logger: Logger; onUnreadable?: (key: string, error: unknown) => void },
  ) {}

  /**
   * Removes the chunks of `gpu` (listed in `chunks`, key order) that end
   * before `cutoffMs`, subtracting them from the stats at `statsKey`. Throws
   * CONFLICT (retryable) when the claim was lost, or the store's error.
   */
  async apply(gpu: GpuSeries, chunks: readonly ChunkKey[], cutoffMs: number, statsKey: string, scope: MaintenanceScope): Promise<RetentionResult> {
    const result: RetentionResult = { remaining: [], chunks: 0, samples: 0, records: 0 };
    const removable = (chunk: ChunkKey): boolean => chunk.endMs < cutoffMs && !scope.queuedMessageIds.has(chunk.messageId);
    const removed = new Set<number>();
    let index = 0;
    while (index < chunks.length) {
      // One step: up to CHUNKS_PER_STEP removable chunks in up to RANGES_PER_STEP runs of neighbours.
      const step: number[] = [];
      const runs: { from: number; to: number }[] = [];
      for (; index < chunks.length && step.length < CHUNKS_PER_STEP; index++) {
        if (!removable(chunks[index])) continue;
        const run = runs.at(-1);
        if (run && run.to === index - 1) {
          run.to = index;
        } else {
          if (runs.length === RANGES_PER_STEP) break;
          runs.push({ from: index, to: index });
        }
        step.push(index);
      }
      if (step.length === 0) break;
      const counts = await this.countRemoved(chunks, step, removed, scope);
      const prefix = this.keys.gpuDataPrefix(gpu.cluster, gpu.hostname, gpu.gpuKey);
      // [first, next listed key): exactly the run, whatever lies after it.
      const deletes = runs.map((run): TxnOp => ({ type: 'delete', range: { start: chunks[run.from].key, end: chunks[run.to + 1]?.key ?? prefixEnd(prefix) } }));
      await this.commit(deletes, counts, statsKey, scope.fence);
      for (const i of step) removed.add(i);
      result.chunks += step.length;
      result.samples += counts.samples;
      result.records += counts.records;
    }
    result.remaining = chunks.filter((_, i) => !removed.has(i));
    chunksRemoved.inc(result.chunks);
    samplesRemoved.inc(result.samples);
    return result;
  }

  /** Samples and records of the step's chunks that no other stored chunk (removed earlier or queued excepted) still holds. */
  private async countRemoved(chunks: readonly ChunkKey[], step: number[], removed: ReadonlySet<number>, scope: MaintenanceScope): Promise<{ samples: number; records: number }> {
    const inStep = new Set(step);
    const fromMs = Math.min(...step.map((i) => chunks[i].startMs));
    const toMs = Math.max(...step.map((i) => chunks[i].endMs));
    const others = chunks.filter(
      (chunk, i) => !inStep.has(i) && !removed.has(i) && !scope.queuedMessageIds.has(chunk.messageId) && chunk.startMs <= toMs && chunk.endMs >= fromMs,
    );
    const gone = mergeChunks((await fetchChunks(this.kv, step.map((i) => chunks[i].key), this.options.onUnreadable)).map((f) => f.chunk));
    const kept = mergeChunks((await fetchChunks(this.kv, others.map((chunk) => chunk.key), this.options.onUnreadable)).map((f) => f.chunk));
    const keptRecord = new Map<number, number>();
    kept.timestampsMs.forEach((t, r) => keptRecord.set(t, r));
    const keptColumn = new Map(kept.metrics.map((metric, m) => [metric, kept.columns[m]]));
    let samples = 0;
    let records = 0;
    for (let r = 0; r < gone.timestampsMs.length; r++) {
      const keptAt = keptRecord.get(gone.timestampsMs[r]);
      if (keptAt === undefined) records++;
      for (let m = 0; m < gone.metrics.length; m++) {
        if (Number.isNaN(gone.columns[m][r])) continue;
        const column = keptAt === undefined ? undefined : keptColumn.get(gone.metrics[m]);
        if (column === undefined || Number.isNaN(column[keptAt!])) samples++;
      }
    }
    return { samples, records };
  }

  /** Deletes and subtracts in one transaction, fenced and compared on the stats' revision. */
  private async commit(deletes: TxnOp[], counts: { samples: number; records: number }, statsKey: string, fence: Compare[]): Promise<void> {
    const stored = await this.kv.get(statsKey);
    const ops = [...deletes];
    const compare: Compare[] = [...fence, { key: statsKey, target: 'modRevision', operator: '==', operand: stored?.modRevision ?? 0 }];
    if (stored) {
      let stats: PartitionStats | undefined;
      try {
        stats = decodePartitionStats(stored.value);
      } catch (error) {
        // The collector restarts unreadable counters from its next message (see docs/design.md): nothing to subtract from.
        this.options.logger.warn({ key: statsKey, err: error }, `partition stats unreadable (${errorMessage(error)}); removing chunks without subtracting`);
      }
      if (stats) {
        const next: PartitionStats = {
          ...stats,
          samples: Math.max(0, stats.samples - counts.samples),
          records: Math.max(0, stats.records - counts.records),
        };
        ops.push({ type: 'put', key: statsKey, value: encodeJson(next) });
      }
    }
    const result = await this.kv.txn({ compare, success: ops });
    if (!result.succeeded) {
      throw new GputelError('CONFLICT', `the partition claim or its stats (${statsKey}) changed during retention; the partition's owner retries`, { retryable: true });
    }
  }
}
