/**
 * One telemetry record as the GraphQL resolvers read it, whatever it came
 * from: a row of a telemetry page (columns), a GPU's newest values, or a
 * record streamed as it is stored. Values are read on demand, so a page of
 * 10,000 records builds no object per value, only one small row per record.
 */
import type { GpuEntry } from '../../store/registry.js';
import type { TelemetryColumns } from '../../store/telemetry-columns.js';

export interface RecordRow {
  gpu: GpuEntry;
  timestampMs: number;
  /** The DCGM fields the record lists under `metrics`, ascending. */
  metricNames: readonly string[];
  /** A DCGM field's value, or null when the record has no sample of it. */
  value(field: string): number | null;
}

/** The rows of a page, in its order: `metricNames` are the page's (null where a record lacks one, as in REST). */
export function pageRows(gpu: GpuEntry, page: TelemetryColumns): RecordRow[] {
  const columnOf = new Map(page.metrics.map((name, m) => [name, page.columns[m]]));
  const rows: RecordRow[] = new Array(page.timestampsMs.length);
  for (let r = 0; r < rows.length; r++) {
    rows[r] = {
      gpu,
      timestampMs: page.timestampsMs[r],
      metricNames: page.metrics,
      value(field) {
        const value = columnOf.get(field)?.[r];
        return value === undefined || Number.isNaN(value) ? null : value;
      },
    };
  }
  return rows;
}

/** A record given as a map of the values sampled (a GPU's newest record, a streamed one). */
export function valuesRow(record: { gpu: GpuEntry; timestampMs: number; values: Record<string, number> }): RecordRow {
  const { values } = record;
  return {
    gpu: record.gpu,
    timestampMs: record.timestampMs,
    metricNames: Object.keys(values).sort(),
    value: (field) => (Object.hasOwn(values, field) ? values[field] : null),
  };
}
