/**
 * The columnar form of a telemetry page, written as a JSON string straight
 * from the columns: `{"data":{"timestamps":[…],"metrics":{"NAME":[v|null,…]}},
 * "count","next_cursor"}`. No object is built per record or per value
 * (docs/performance.md has what that saved).
 */
import type { TelemetryColumns } from '../store/telemetry-columns.js';

/** A JSON array of numbers, NaN written as null. String(n) is JSON's own form for every finite number (-0 included: "0"). */
function numbersJson(values: Float64Array): string {
  if (values.length === 0) return '[]';
  let text = '[';
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    text += (i === 0 ? '' : ',') + (value === value ? String(value) : 'null');
  }
  return text + ']';
}

export function columnsJson(page: TelemetryColumns, nextCursor: string | null): string {
  let metrics = '';
  for (let m = 0; m < page.metrics.length; m++) metrics += (m === 0 ? '' : ',') + JSON.stringify(page.metrics[m]) + ':' + numbersJson(page.columns[m]);
  return (
    `{"data":{"timestamps":${numbersJson(page.timestampsMs)},"metrics":{${metrics}}},` +
    `"count":${page.timestampsMs.length},"next_cursor":${nextCursor === null ? 'null' : JSON.stringify(nextCursor)}}`
  );
}
