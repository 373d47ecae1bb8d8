/**
 * How stored things look in the API (exact shapes: other tools depend on
 * them). Field names are snake_case, times RFC 3339 with milliseconds in UTC.
 */
import type { GpuEntry, HostEntry } from '../store/registry.js';
import type { StoredRecord } from '../store/telemetry-reader.js';
import { NAMED_FIELDS } from './named-fields.js';
import { formatTime } from './time-param.js';

export function gpuView(gpu: GpuEntry): Record<string, unknown> {
  const view: Record<string, unknown> = {
    uuid: gpu.uuid,
    gpu_id: gpu.gpuId,
    hostname: gpu.hostname,
    device: gpu.device,
    model: gpu.modelName,
    driver_version: gpu.driverVersion === '' ? null : gpu.driverVersion,
    status: gpu.status,
    first_seen: formatTime(gpu.firstSeenMs),
    last_seen: formatTime(gpu.lastSeenMs),
  };
  // Only MIG instances carry these, so whole GPUs keep the documented shape.
  if (gpu.migInstanceId !== '') {
    view.mig_instance_id = gpu.migInstanceId;
    view.mig_profile = gpu.migProfile;
    view.id = gpu.gpuKey;
  }
  return view;
}

export function hostView(host: HostEntry): Record<string, unknown> {
  return {
    hostname: host.hostname,
    gpu_count: host.gpuCount,
    first_seen: formatTime(host.firstSeenMs),
    last_seen: formatTime(host.lastSeenMs),
  };
}

/**
 * A telemetry record. `metrics` lists every DCGM field present in any record
 * of the page, with null where this record has no sample of it.
 */
export function recordView(gpu: GpuEntry, record: StoredRecord, pageMetrics: string[]): Record<string, unknown> {
  const view: Record<string, unknown> = {
    timestamp: formatTime(record.timestampMs),
    uuid: gpu.uuid,
    gpu_id: gpu.gpuId,
    hostname: gpu.hostname,
  };
  for (const [name, field] of NAMED_FIELDS) view[name] = record.values.get(field) ?? null;
  const metrics: Record<string, number | null> = {};
  for (const name of pageMetrics) metrics[name] = record.values.get(name) ?? null;
  view.metrics = metrics;
  return view;
}
