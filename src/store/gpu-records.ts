import { GputelError, errorMessage } from '../common/gputel-error.js';

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
  /**
   * Duplicate samples (same GPU, metric and timestamp) that arrived with a
   * value different from the one kept (the first); absent in stats written
   * before it was counted.
   */
  conflictingDuplicates?: number;
}

export function encodeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

export function decodeJson<T>(bytes: Buffer): T {
  return JSON.parse(bytes.toString('utf8')) as T;
}

/** Reads a stored JSON record and checks its shape; `check` names what is wrong or returns undefined. */
type RecordCheck = (value: Record<string, unknown>) => string | undefined;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isCount = (value: unknown): boolean => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isTime = (value: unknown): boolean => typeof value === 'number' && Number.isFinite(value);

function decodeRecord<T>(bytes: Buffer, what: string, check: RecordCheck): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new GputelError('STORE_CORRUPT', `stored ${what} is not valid JSON (${errorMessage(error)})`, { cause: error });
  }
  const problem = isObject(parsed) ? check(parsed) : 'it is not a JSON object';
  if (problem !== undefined) throw new GputelError('STORE_CORRUPT', `stored ${what} is malformed: ${problem}`);
  return parsed as T;
}

/** GPU metadata (`.../gpus/{gpu}/metadata` and the uuid index). Throws STORE_CORRUPT when it is not one. */
export function decodeGpuMetadata(bytes: Buffer): GpuMetadata {
  return decodeRecord<GpuMetadata>(bytes, 'GPU metadata', (v) => {
    for (const field of ['gpuKey', 'uuid', 'hostname'] as const) if (typeof v[field] !== 'string' || v[field] === '') return `${field} is not a name`;
    if (!isCount(v.gpuId)) return 'gpuId is not a whole number';
    if (!isTime(v.firstSeenMs)) return 'firstSeenMs is not a time';
    if (v.metricAliases !== undefined && !isObject(v.metricAliases)) return 'metricAliases is not an object';
    return undefined;
  });
}

/** Host metadata. Throws STORE_CORRUPT when it is not one. */
export function decodeHostMetadata(bytes: Buffer): HostMetadata {
  return decodeRecord<HostMetadata>(bytes, 'host metadata', (v) =>
    typeof v.hostname !== 'string' ? 'hostname is not a string' : !isTime(v.firstSeenMs) ? 'firstSeenMs is not a time' : undefined,
  );
}

/** A host's latest values. Throws STORE_CORRUPT when it is not one. */
export function decodeLatestHost(bytes: Buffer): LatestHost {
  return decodeRecord<LatestHost>(bytes, 'latest values', (v) => {
    if (typeof v.hostname !== 'string') return 'hostname is not a string';
    if (!isObject(v.gpus)) return 'gpus is not an object';
    for (const [gpuKey, gpu] of Object.entries(v.gpus)) {
      if (!isObject(gpu) || !isTime(gpu.lastSeenMs) || !isObject(gpu.values)) return `GPU ${gpuKey} has no lastSeenMs and values`;
    }
    return undefined;
  });
}

/** A partition's counters. Throws STORE_CORRUPT when they are not. */
export function decodePartitionStats(bytes: Buffer): PartitionStats {
  return decodeRecord<PartitionStats>(bytes, 'partition stats', (v) => {
    for (const field of ['samples', 'records', 'messages'] as const) if (!isCount(v[field])) return `${field} is not a count`;
    if (v.conflictingDuplicates !== undefined && !isCount(v.conflictingDuplicates)) return 'conflictingDuplicates is not a count';
    return undefined;
  });
}
