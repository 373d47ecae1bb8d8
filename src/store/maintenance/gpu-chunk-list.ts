/**
 * The chunk keys of one GPU, listed keys-only, as compaction and retention
 * see them: time range and writer (message id or compaction) from the key.
 */
import { chunkMessageId, chunkTimeRange, isCompactedChunkKey, type KeySpace } from '../../kv/key-space.js';
import type { Compare, KvStore } from '../../kv/kv-store.js';

export interface ChunkKey {
  key: string;
  startMs: number;
  endMs: number;
  /** The message that wrote it, or COMPACTED_CHUNK_SUFFIX. */
  messageId: string;
  compacted: boolean;
}

/** One GPU series of a cluster. */
export interface GpuSeries {
  cluster: string;
  hostname: string;
  gpuKey: string;
}

/** What a maintenance step of one partition works under. */
export interface MaintenanceScope {
  /** Guards of every write: the owner key of the partition still holds this collector's claim. */
  fence: Compare[];
  /** Messages still queued in the partition: their chunks are neither merged nor removed (a replay recounts them). */
  queuedMessageIds: ReadonlySet<string>;
}

/** Every chunk key of the GPU, in key (= start time) order. */
export async function listGpuChunks(kv: KvStore, keys: KeySpace, gpu: GpuSeries): Promise<ChunkKey[]> {
  return (await listOldestGpuChunks(kv, keys, gpu)).chunks;
}

/**
 * The GPU's oldest `limit` chunk keys (all without a limit), in key (= start
 * time) order, and whether more follow. Maintenance works through a GPU's
 * history this many keys a round: a store that was never compacted (an
 * upgrade) can hold hundreds of thousands of one-record chunks per GPU.
 */
export async function listOldestGpuChunks(kv: KvStore, keys: KeySpace, gpu: GpuSeries, limit?: number): Promise<{ chunks: ChunkKey[]; more: boolean }> {
  const listed = await kv.range({ prefix: keys.gpuDataPrefix(gpu.cluster, gpu.hostname, gpu.gpuKey) }, { keysOnly: true, limit });
  return {
    chunks: listed.kvs.map(({ key }) => ({ key, ...chunkTimeRange(key), messageId: chunkMessageId(key), compacted: isCompactedChunkKey(key) })),
    more: listed.more,
  };
}
