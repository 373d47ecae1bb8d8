/**
 * How stored things look in the API (exact shapes: other tools depend on
 * them). Field names are snake_case, times RFC 3339 with milliseconds in UTC.
 */
import type { GpuEntry, HostEntry } from '../store/registry.js';
import type { LatestRecord } from '../store/latest-subscription.js';
import type { TelemetryColumns } from '../store/telemetry-columns.js';
import type { ApiGpu, ApiHost, ApiRecord } from './api-schemas.js';
import { NAMED_FIELDS, type NamedFieldEntry } from './named-fields.js';
import { formatTime } from './time-param.js';

/** The MIG instance of a series as the API writes it: null for a whole GPU. */
export function migInstanceOf(gpu: { migInstanceId: string }): string | null {
  return gpu.migInstanceId === '' ? null : gpu.migInstanceId;
}

export function gpuView(gpu: GpuEntry): ApiGpu {
  return {
    // The id that names this series alone: what to ask /gpus/{id}/… by (see Registry's GpuEntry.id).
    id: gpu.id,
    uuid: gpu.uuid,
    gpu_id: gpu.gpuId,
    hostname: gpu.hostname,
    mig_instance_id: migInstanceOf(gpu),
    mig_profile: gpu.migInstanceId === '' ? null : gpu.migProfile,
    device: gpu.device,
    model: gpu.modelName,
    driver_version: gpu.driverVersion === '' ? null : gpu.driverVersion,
    status: gpu.status,
    first_seen: formatTime(gpu.firstSeenMs),
    last_seen: formatTime(gpu.lastSeenMs),
  };
}

export function hostView(host: HostEntry): ApiHost {
  return {
    hostname: host.hostname,
    gpu_count: host.gpuCount,
    first_seen: formatTime(host.firstSeenMs),
    last_seen: formatTime(host.lastSeenMs),
  };
}

/**
 * Telemetry records, one per timestamp of the columns. `metrics` lists every
 * DCGM field present in any record of the page, with null where this record
 * has no sample of it; `namedFields` are the named fields written (all but
 * those a metric selection leaves out).
 */
export function recordViews(gpu: GpuEntry, page: TelemetryColumns, namedFields: readonly NamedFieldEntry[] = NAMED_FIELDS): ApiRecord[] {
  const { timestampsMs, metrics, columns } = page;
  const columnOf = new Map(metrics.map((name, m) => [name, columns[m]]));
  const named = namedFields.map(([name, field]) => [name, columnOf.get(field)] as const);
  const migInstance = migInstanceOf(gpu);
  const views: ApiRecord[] = new Array(timestampsMs.length);
  for (let r = 0; r < timestampsMs.length; r++) {
    const view: Record<string, unknown> = {
      timestamp: formatTime(timestampsMs[r]),
      uuid: gpu.uuid,
      gpu_id: gpu.gpuId,
      hostname: gpu.hostname,
      mig_instance_id: migInstance,
    };
    for (const [name, column] of named) view[name] = valueOrNull(column?.[r]);
    const values: Record<string, number | null> = {};
    for (let m = 0; m < metrics.length; m++) values[metrics[m]] = valueOrNull(columns[m][r]);
    view.metrics = values;
    views[r] = view as ApiRecord;
  }
  return views;
}

/** A GPU's newest record, in the shape of a telemetry record (its metrics are those sampled then). */
export function latestView(record: LatestRecord, namedFields: readonly NamedFieldEntry[] = NAMED_FIELDS): ApiRecord {
  const metrics = Object.keys(record.values).sort();
  const columns = metrics.map((name) => Float64Array.of(record.values[name]));
  return recordViews(record.gpu, { timestampsMs: Float64Array.of(record.timestampMs), metrics, columns }, namedFields)[0];
}

function valueOrNull(value: number | undefined): number | null {
  return value === undefined || Number.isNaN(value) ? null : value;
}
