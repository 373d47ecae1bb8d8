/**
 * The columnar form of a telemetry page, written as JSON bytes straight from
 * the columns: `{"data":{"timestamps":[…],"metrics":{"NAME":[v|null,…]}},
 * "count","next_cursor"}`. No object is built per record or per value.
 */
import type { TelemetryColumns } from '../store/telemetry-columns.js';
import { JsonBytes, type JsonAnswer } from './json-bytes.js';

/** The JSON answer of a columnar telemetry page, lent until released (json-bytes.ts). */
export function columnsJson(page: TelemetryColumns, nextCursor: string | null): JsonAnswer {
  const out = new JsonBytes();
  out.text('{"data":{"timestamps":');
  out.numbers(page.timestampsMs);
  out.text(',"metrics":{');
  for (let m = 0; m < page.metrics.length; m++) {
    out.text(`${m === 0 ? '' : ','}${JSON.stringify(page.metrics[m])}:`);
    out.numbers(page.columns[m]);
  }
  out.text(`}},"count":${page.timestampsMs.length},"next_cursor":${nextCursor === null ? 'null' : JSON.stringify(nextCursor)}}`);
  return out.answer();
}
