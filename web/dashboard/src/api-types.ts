/** The API's shapes the dashboard reads (docs/api.md); field names as the API writes them. */

export interface Gpu {
  /** Names this series alone: what every view and URL uses (never the bare UUID, which MIG instances share). */
  id: string;
  uuid: string;
  gpu_id: number;
  hostname: string;
  device: string;
  model: string;
  driver_version: string | null;
  status: 'active' | 'stale';
  first_seen: string;
  last_seen: string;
  mig_instance_id: string | null;
  mig_profile: string | null;
}

/** A telemetry record (REST record form, `/ws` record frames, latest values). */
export interface TelemetryRecord {
  timestamp: string;
  uuid: string;
  gpu_id: number;
  hostname: string;
  mig_instance_id: string | null;
  gpu_utilization?: number | null;
  memory_utilization?: number | null;
  memory_used_mb?: number | null;
  memory_free_mb?: number | null;
  temperature?: number | null;
  power_draw?: number | null;
  sm_clock_mhz?: number | null;
  memory_clock_mhz?: number | null;
  metrics: Record<string, number | null>;
}

/** `GET /api/v1/gpus/{id}`: the list entry, its newest record and the workload holding it. */
export interface GpuDetail extends Gpu {
  latest: TelemetryRecord | null;
  namespace?: string;
  pod?: string;
  container?: string;
}

/** `GET /api/v1/gpus/{id}/telemetry?format=columns`. */
export interface ColumnsPage {
  data: { timestamps: number[]; metrics: Record<string, (number | null)[]> };
  count: number;
  next_cursor: string | null;
}

export interface SummaryGpu {
  id: string;
  uuid: string;
  hostname: string;
  gpu_id: number;
  mig_instance_id: string | null;
}

/** `GET /api/v1/summary`. */
export interface Summary {
  gpus: number;
  by_status: { active: number; stale: number };
  utilization: { mean: number | null; max: number | null };
  power_draw: { total: number | null };
  temperature: { max: number | null; hottest: (SummaryGpu & { value: number }) | null };
  idle: { threshold: number; window: string; count: number; gpus: (SummaryGpu & { mean_utilization: number })[] };
  as_of: string | null;
}

export interface ListAnswer<T> {
  data: T[];
  count: number;
}
