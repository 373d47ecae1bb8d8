/**
 * The `metrics` argument of telemetry: DCGM field names, or the API's named
 * fields (`power_draw` stands for DCGM_FI_DEV_POWER_USAGE), as in REST.
 *
 * LEAD: once the query layer selects metrics itself (branch rest), pass the
 * resolved names to FleetQuery.telemetry and drop selectColumns.
 */
import { resolveMetricName } from '../../store/named-fields.js';
import type { ColumnsPage } from '../../store/telemetry-columns.js';

/** The DCGM fields `names` ask for, once each; throws BAD_REQUEST for a name that is neither. */
export function dcgmFields(names: readonly string[]): string[] {
  return [...new Set(names.map(resolveMetricName))];
}

/** The page with only the columns of `fields` (a field the page lacks is simply absent). */
export function selectColumns(page: ColumnsPage, fields: readonly string[]): ColumnsPage {
  const wanted = new Set(fields);
  const kept = page.metrics.flatMap((name, m) => (wanted.has(name) ? [m] : []));
  return { ...page, metrics: kept.map((m) => page.metrics[m]), columns: kept.map((m) => page.columns[m]) };
}
