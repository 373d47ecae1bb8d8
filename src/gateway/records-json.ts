/**
 * The record form of a telemetry page written as JSON bytes: exactly
 * `JSON.stringify({ data: recordViews(gpu, page, namedFields), count, next_cursor })`
 * (api-views.ts has the shape), without an object per record. Every key and
 * the GPU's identity are encoded once per page and copied into each record.
 */
import type { GpuEntry } from '../store/registry.js';
import type { TelemetryColumns } from '../store/telemetry-columns.js';
import { migInstanceOf } from './api-views.js';
import { JsonBytes, MAX_NUMBER_BYTES, NULL_BYTES, type JsonAnswer } from './json-bytes.js';
import { NAMED_FIELDS, type NamedFieldEntry } from './named-fields.js';

const ascii = (text: string): Buffer => Buffer.from(text, 'utf8');
const RECORD_OPEN = ascii('{"timestamp":"');
const METRICS_OPEN = ascii(',"metrics":{');
const RECORD_CLOSE = ascii('}}');
/** `2026-03-02T00:00:00.000Z` */
const TIMESTAMP_BYTES = 24;

/**
 * The JSON answer of a telemetry page in the record form, with the named
 * fields given (all by default). The answer is lent until released (json-bytes.ts).
 */
export function recordsJson(gpu: GpuEntry, page: TelemetryColumns, nextCursor: string | null, namedFields: readonly NamedFieldEntry[] = NAMED_FIELDS): JsonAnswer {
  const { timestampsMs, metrics, columns } = page;
  const identity = ascii(
    `","uuid":${JSON.stringify(gpu.uuid)},"gpu_id":${JSON.stringify(gpu.gpuId)},"hostname":${JSON.stringify(gpu.hostname)},"mig_instance_id":${JSON.stringify(migInstanceOf(gpu))}`,
  );
  const columnOf = new Map(metrics.map((name, m) => [name, columns[m]]));
  const named = namedFields.map(([name, field]) => ({ key: ascii(`,"${name}":`), column: columnOf.get(field) }));
  const metricKeys = metrics.map((name, m) => ascii(`${m === 0 ? '' : ','}${JSON.stringify(name)}:`));
  let recordBytes = 1 + RECORD_OPEN.length + TIMESTAMP_BYTES + identity.length + METRICS_OPEN.length + RECORD_CLOSE.length;
  for (const { key } of named) recordBytes += key.length + MAX_NUMBER_BYTES;
  for (const key of metricKeys) recordBytes += key.length + MAX_NUMBER_BYTES;

  const out = new JsonBytes();
  out.text('{"data":[');
  for (let r = 0; r < timestampsMs.length; r++) {
    out.reserve(recordBytes);
    if (r > 0) out.ascii(',');
    out.raw(RECORD_OPEN);
    out.ascii(new Date(timestampsMs[r]).toISOString());
    out.raw(identity);
    for (const { key, column } of named) {
      out.raw(key);
      if (column) out.number(column[r]);
      else out.raw(NULL_BYTES);
    }
    out.raw(METRICS_OPEN);
    for (let m = 0; m < metrics.length; m++) {
      out.raw(metricKeys[m]);
      out.number(columns[m][r]);
    }
    out.raw(RECORD_CLOSE);
  }
  out.text(`],"count":${timestampsMs.length},"next_cursor":${nextCursor === null ? 'null' : JSON.stringify(nextCursor)}}`);
  return out.answer();
}
