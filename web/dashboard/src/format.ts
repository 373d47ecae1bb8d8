/** Human units for values and times. */
import type { MetricInfo } from './metrics.js';

/**
 * A value with its unit ('–' when there is no sample), in one format per
 * unit wherever it shows (tiles, newest values, legends, chart axes): whole
 * %, °C, W and MHz, memory in GiB with one decimal. Two formats for one unit
 * side by side (`77.0 W` next to `635 W`) read as two different precisions.
 */
export function formatValue(value: number | null | undefined, metric: MetricInfo): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  if (metric.unit === 'MiB') return `${(value / 1024).toFixed(1)} GiB`;
  const whole = Math.round(value);
  return `${Object.is(whole, -0) ? 0 : whole}${metric.unit === '%' || metric.unit === '°C' ? '' : ' '}${metric.unit}`;
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

const pad = (n: number): string => String(n).padStart(2, '0');

/** An instant's date and time of day in the browser's zone, 24-hour: `2026-12-01 06:31:20` (no zone: see zoneOf). */
export function localDateTime(ms: number): string {
  const at = new Date(ms);
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}`;
}

/** The browser's zone at an instant, as the page names it: `UTC`, or its offset (`+01:00`, `-05:00`, `+05:30`). */
export function zoneOf(ms: number): string {
  const offsetMin = -new Date(ms).getTimezoneOffset();
  if (offsetMin === 0) return 'UTC';
  return `${offsetMin < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(offsetMin) / 60))}:${pad(Math.abs(offsetMin) % 60)}`;
}

/**
 * An instant as the CLI writes times: `2026-12-01 06:31:20 UTC`, 24-hour,
 * in the browser's zone, which is named (`UTC`, or its offset such as
 * `+01:00`), so a time read off the page is never ambiguous. An unreadable
 * time is returned as it came.
 */
export function formatClock(time: string | number): string {
  const ms = typeof time === 'number' ? time : Date.parse(time);
  if (Number.isNaN(ms)) return String(time);
  return `${localDateTime(ms)} ${zoneOf(ms)}`;
}

/** An RFC 3339 time or epoch ms (formatClock), with how long ago relative to `nowMs` (none for a time after it). */
export function formatTime(time: string | number | null, nowMs = Date.now()): string {
  if (time === null) return '–';
  const ms = typeof time === 'number' ? time : Date.parse(time);
  if (Number.isNaN(ms)) return String(time);
  const ago = nowMs - ms;
  return `${formatClock(ms)}${ago >= 0 ? ` (${formatDuration(ago)} ago)` : ''}`;
}
