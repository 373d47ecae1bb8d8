/**
 * What the store keeps about GPUs and hosts, as JSON values under the keys of
 * key-space.ts. A GPU series is its host plus its `gpuKey` (the UUID, and the
 * MIG instance when the GPU is split, so that instances are never merged).
 */

/** Registered facts about one GPU series; rewritten only when one of them changes. */
export interface GpuMetadata {
  gpuKey: string;
  uuid: string;
  gpuId: number;
  hostname: string;
  device: string;
  modelName: string;
  driverVersion: string;
  migInstanceId: string;
  migProfile: string;
  firstSeenMs: number;
  /**
   * The longest time span of any chunk of this GPU: a reader looking for
   * records from T on need not look at chunks that start before T minus this.
   * Absent (metadata written before it was kept): readers scan every chunk.
   */
  maxChunkSpanMs?: number;
  /** Source metric names that differ from the DCGM field they were mapped to (old exporters). */
  metricAliases: Record<string, string>;
}

export interface HostMetadata {
  hostname: string;
  firstSeenMs: number;
}

/** Newest values of one GPU: the sample time and the value of every metric at that time. */
export interface LatestGpu {
  lastSeenMs: number;
  values: Record<string, number>;
  container: string;
  pod: string;
  namespace: string;
}

/** `latest/{host}`: newest values of every GPU of a host, keyed by gpuKey. */
export interface LatestHost {
  hostname: string;
  gpus: Record<string, LatestGpu>;
}

/** Counters of one partition, changed only in the transaction that deletes a message. */
export interface PartitionStats {
  samples: number;
  records: number;
  messages: number;
}

export function encodeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

export function decodeJson<T>(bytes: Buffer): T {
  return JSON.parse(bytes.toString('utf8')) as T;
}
