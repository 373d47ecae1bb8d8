/**
 * The `metrics` argument of telemetry: DCGM field names, or the API's named
 * fields (`power_draw` stands for DCGM_FI_DEV_POWER_USAGE), as in REST.
 *
 * LEAD: the query layer's own metric selection (branch rest) replaces
 * selectColumns: pass the DCGM names to FleetQuery.telemetry instead.
 */
import type { ColumnsPage } from '../../store/telemetry-columns.js';
import { NAMED_FIELDS } from '../named-fields.js';

const FIELD_OF_NAME = new Map<string, string>(NAMED_FIELDS);

/** The DCGM fields `names` ask for, in order and once each. */
export function dcgmFields(names: readonly string[]): string[] {
  return [...new Set(names.map((name) => FIELD_OF_NAME.get(name) ?? name))];
}

/** The page with only the columns of `fields` (a field the page lacks is simply absent). */
export function selectColumns(page: ColumnsPage, fields: readonly string[]): ColumnsPage {
  const wanted = new Set(fields);
  const kept = page.metrics.flatMap((name, m) => (wanted.has(name) ? [m] : []));
  return { ...page, metrics: kept.map((m) => page.metrics[m]), columns: kept.map((m) => page.columns[m]) };
}
