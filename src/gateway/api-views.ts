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

export function gpuView(gpu: GpuEntry): ApiGpu {
  const view: ApiGpu = {
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
  const views: ApiRecord[] = new Array(timestampsMs.length);
  for (let r = 0; r < timestampsMs.length; r++) {
    const view: Record<string, unknown> = {
      timestamp: formatTime(timestampsMs[r]),
      uuid: gpu.uuid,
      gpu_id: gpu.gpuId,
      hostname: gpu.hostname,
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
export function latestView(record: LatestRecord): ApiRecord {
  const metrics = Object.keys(record.values).sort();
  const columns = metrics.map((name) => Float64Array.of(record.values[name]));
  return recordViews(record.gpu, { timestampsMs: Float64Array.of(record.timestampMs), metrics, columns })[0];
}

function valueOrNull(value: number | undefined): number | null {
  return value === undefined || Number.isNaN(value) ? null : value;
}
