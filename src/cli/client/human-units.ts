/**
 * Values for people reading a table: units (%, °C, W, GiB, MHz), one decimal
 * at most, ages, short times, and the status colours. CSV and JSON never go
 * through here: they carry the API's values as they are.
 */
import { NAMED_FIELDS } from '../../store/named-fields.js';
import { formatAge, type TerminalColors } from '../output-format.js';

/** A number with at most one decimal, and no trailing `.0`; `-` for no value. */
export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined) return '-';
  return Number.isInteger(value) ? String(value) : String(Number(value.toFixed(1)));
}

const unit = (suffix: string) => (value: number | null | undefined): string => (value === null || value === undefined ? '-' : `${formatNumber(value)}${suffix}`);

export const percent = unit('%');
export const celsius = unit('°C');

/** Memory from DCGM's MiB, as GiB with one decimal from 1 GiB on (as the dashboard shows it): `73.9 GiB`, `512 MiB`. */
export function memory(mebibytes: number | null | undefined): string {
  if (mebibytes === null || mebibytes === undefined) return '-';
  return Math.abs(mebibytes) >= 1024 ? `${(mebibytes / 1024).toFixed(1)} GiB` : `${formatNumber(mebibytes)} MiB`;
}
export const megahertz = unit(' MHz');

/** Watts, as kW from 10 kW on (a fleet's total). */
export function watts(value: number | null | undefined): string {
  if (value === null || value === undefined) return '-';
  return value >= 10_000 ? `${formatNumber(value / 1000)} kW` : `${formatNumber(value)} W`;
}

/** How a metric shows in a table: its column title and its unit. */
export interface MetricDisplay {
  title: string;
  format: (value: number | null | undefined) => string;
}

const NAMED_DISPLAY: Record<string, MetricDisplay> = {
  gpu_utilization: { title: 'UTIL', format: percent },
  memory_utilization: { title: 'MEM UTIL', format: percent },
  memory_used_mb: { title: 'MEM USED', format: memory },
  memory_free_mb: { title: 'MEM FREE', format: memory },
  temperature: { title: 'TEMP', format: celsius },
  power_draw: { title: 'POWER', format: watts },
  sm_clock_mhz: { title: 'SM CLOCK', format: megahertz },
  memory_clock_mhz: { title: 'MEM CLOCK', format: megahertz },
};
const NAMED_OF_DCGM = new Map<string, string>(NAMED_FIELDS.map(([name, field]) => [field, name]));

/** The display of a metric: a named field, the DCGM field of one (same unit), or any other DCGM field (its name, no unit). */
export function metricDisplay(name: string): MetricDisplay {
  const named = NAMED_DISPLAY[name] ?? NAMED_DISPLAY[NAMED_OF_DCGM.get(name) ?? ''];
  if (named) return NAMED_DISPLAY[name] ? named : { title: name.replace(/^DCGM_FI_/, ''), format: named.format };
  return { title: name.replace(/^DCGM_FI_/, ''), format: formatNumber };
}

/** An API time (RFC 3339) shortened for a table: `2026-03-02 09:15:00Z`, milliseconds kept only when not zero. */
export function shortTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  return iso.replace('T', ' ').replace('.000Z', 'Z');
}

/** How long ago an API time was, by this machine's clock: `12.3s ago`. */
export function ago(iso: string | null | undefined, nowMs = Date.now()): string {
  if (!iso) return '-';
  const ms = nowMs - Date.parse(iso);
  return Number.isFinite(ms) ? (ms < 0 ? 'in the future' : `${formatAge(ms)} ago`) : '-';
}

/** active green, stale yellow, idle cyan: what an operator looks for first. */
export function statusCell(status: string, colors: TerminalColors): string {
  if (status === 'active') return colors.green(status);
  if (status === 'stale') return colors.yellow(status);
  if (status === 'idle') return colors.cyan(status);
  return status;
}

/** Which GPU a record is of, for a person, in the `hostname:gpu_id` form the API takes as an id: `node-1:0`, `node-1:0 mig1`. */
export function gpuLabel(record: { hostname: string; gpu_id: number; mig_instance_id: string | null }): string {
  return `${record.hostname}:${record.gpu_id}${record.mig_instance_id === null ? '' : ` mig${record.mig_instance_id}`}`;
}
