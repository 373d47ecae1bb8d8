/**
 * The columns of telemetry records (`gputel telemetry`, `gputel watch`,
 * the latest values of `gputel gpu`): the metrics asked for with
 * --metrics, or the API's named fields.
 */
import type { ApiRecord } from '../../gateway/api-schemas.js';
import { GputelError } from '../../common/gputel-error.js';
import { NAMED_FIELDS } from '../../store/named-fields.js';
import type { Column } from './client-output.js';
import { gpuLabel, metricDisplay, shortTime } from './human-units.js';

const NAMED = new Set<string>(NAMED_FIELDS.map(([name]) => name));

/** A record's value of a metric name: its named field, or its DCGM field in `metrics`; null when it has none. */
export function metricValue(record: ApiRecord, name: string): number | null {
  const value = NAMED.has(name) ? (record as Record<string, unknown>)[name] : record.metrics[name];
  return typeof value === 'number' ? value : null;
}

/** One column per metric: `selection` (names as --metrics gave them), else every named field. */
export function metricColumns(selection: readonly string[] | undefined): Column<ApiRecord>[] {
  const names = selection ?? NAMED_FIELDS.map(([name]) => name);
  return names.map((name) => {
    const display = metricDisplay(name);
    return { name, title: display.title, value: (r: ApiRecord) => metricValue(r, name), cell: (r: ApiRecord) => display.format(metricValue(r, name)), right: true };
  });
}

/** The time column (the sample's, or the bucket's start). */
export const TIME_COLUMN: Column<ApiRecord> = { name: 'timestamp', title: 'TIME', value: (r) => r.timestamp as string, cell: (r, colors) => colors.dim(shortTime(r.timestamp as string)) };

/** Which GPU: one column in a table, the API's identity fields in CSV. */
export const IDENTITY_CSV_COLUMNS: Column<ApiRecord>[] = [
  { name: 'uuid', title: 'UUID', value: (r) => r.uuid },
  { name: 'hostname', title: 'HOST', value: (r) => r.hostname },
  { name: 'gpu_id', title: 'GPU', value: (r) => r.gpu_id },
  { name: 'mig_instance_id', title: 'MIG', value: (r) => r.mig_instance_id },
];
export const GPU_LABEL_COLUMN: Column<ApiRecord> = { name: 'gpu', title: 'GPU', value: (r) => gpuLabel(r) };

/**
 * Parses --metrics: names, comma-separated, blanks around them dropped;
 * undefined when not given, BAD_CONFIG when it names none. The gateway
 * checks the names themselves (a 400 names a bad one).
 */
export function metricsOption(raw: unknown): string[] | undefined {
  if (raw === undefined) return undefined;
  const names = String(raw).split(',').map((name) => name.trim()).filter((name) => name !== '');
  if (names.length === 0) throw new GputelError('BAD_CONFIG', '--metrics names no metric: give names separated by commas, e.g. --metrics power_draw,temperature');
  return names;
}
