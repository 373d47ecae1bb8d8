/** Human units for values and times. */
import type { MetricInfo } from './metrics.js';

/** A value with its unit ('–' when there is no sample). */
export function formatValue(value: number | null | undefined, metric: MetricInfo): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  if (metric.unit === 'MiB' && value >= 1024) return `${(value / 1024).toFixed(1)} GiB`;
  const digits = Math.abs(value) >= 100 || Number.isInteger(value) ? 0 : 1;
  return `${value.toFixed(digits)}${metric.unit === '%' || metric.unit === '°C' ? '' : ' '}${metric.unit}`;
}

/** Watts as W or kW. */
export function formatPower(watts: number | null): string {
  if (watts === null) return '–';
  return watts >= 10_000 ? `${(watts / 1000).toFixed(1)} kW` : `${Math.round(watts)} W`;
}

/** A duration in ms as "45 s", "12 min", "3 h", "2 d". */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

/** An RFC 3339 time as local date and time, with how long ago relative to `nowMs`. */
export function formatTime(iso: string | null, nowMs = Date.now()): string {
  if (iso === null) return '–';
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  const ago = nowMs - ms;
  return `${new Date(ms).toLocaleString()}${ago >= 0 ? ` (${formatDuration(ago)} ago)` : ''}`;
}
