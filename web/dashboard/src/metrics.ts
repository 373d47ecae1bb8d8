/**
 * The metrics the dashboard colours tiles by and charts: the API's named
 * field (records, `/ws`), the DCGM field it reads (columnar pages), its unit
 * and the range its colour scale spans.
 */
import type { TelemetryRecord } from './api-types.js';

export type MetricName = 'gpu_utilization' | 'temperature' | 'power_draw' | 'memory_used_mb' | 'memory_utilization' | 'sm_clock_mhz';

export interface MetricInfo {
  name: MetricName;
  label: string;
  dcgm: string;
  unit: string;
  /** The colour scale's ends: values outside are clamped. */
  low: number;
  high: number;
}

export const METRICS: readonly MetricInfo[] = [
  { name: 'gpu_utilization', label: 'Utilisation', dcgm: 'DCGM_FI_DEV_GPU_UTIL', unit: '%', low: 0, high: 100 },
  { name: 'temperature', label: 'Temperature', dcgm: 'DCGM_FI_DEV_GPU_TEMP', unit: '°C', low: 30, high: 90 },
  { name: 'power_draw', label: 'Power', dcgm: 'DCGM_FI_DEV_POWER_USAGE', unit: 'W', low: 0, high: 700 },
  { name: 'memory_used_mb', label: 'Memory used', dcgm: 'DCGM_FI_DEV_FB_USED', unit: 'MiB', low: 0, high: 81_920 },
  { name: 'memory_utilization', label: 'Memory copy util.', dcgm: 'DCGM_FI_DEV_MEM_COPY_UTIL', unit: '%', low: 0, high: 100 },
  { name: 'sm_clock_mhz', label: 'SM clock', dcgm: 'DCGM_FI_DEV_SM_CLOCK', unit: 'MHz', low: 0, high: 2_100 },
];

/** What tiles can be coloured by (the four). */
export const TILE_METRICS: readonly MetricInfo[] = METRICS.slice(0, 4);
/** What charts show unless the URL names others. */
export const DEFAULT_CHART_METRICS: readonly MetricName[] = ['gpu_utilization', 'temperature', 'power_draw', 'memory_used_mb'];

const BY_NAME = new Map(METRICS.map((metric) => [metric.name, metric]));

/** The metric of this name, or undefined for a name the dashboard does not chart. */
export function metricNamed(name: string): MetricInfo | undefined {
  return BY_NAME.get(name as MetricName);
}

/** A record's value of a metric: its named field, else its DCGM field (a `/ws` record with a metric selection carries both). */
export function valueOf(record: TelemetryRecord, metric: MetricInfo): number | null {
  const named = record[metric.name];
  if (typeof named === 'number') return named;
  const raw = record.metrics[metric.dcgm];
  return typeof raw === 'number' ? raw : null;
}

/** Metric names from a URL's `metrics=a,b` (unknown names dropped), or the defaults. */
export function metricsFromQuery(value: string | null): MetricInfo[] {
  const chosen = (value ?? '').split(',').map((name) => metricNamed(name.trim())).filter((metric): metric is MetricInfo => metric !== undefined);
  return chosen.length > 0 ? chosen : DEFAULT_CHART_METRICS.map((name) => BY_NAME.get(name) as MetricInfo);
}
