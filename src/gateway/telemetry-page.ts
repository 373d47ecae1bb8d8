/**
 * One page of a GPU's telemetry as the API's parameters describe it, shared
 * by REST and GraphQL: find the GPU (or the series a cursor started in),
 * parse the time range, pick the downsampling step, read the page through
 * the query layer and hand out the cursor of the next one. Protocol-free:
 * it throws GputelError (GPU_NOT_FOUND, BAD_REQUEST) and each protocol
 * shapes the answer and the errors its own way.
 */
import { GputelError } from '../common/gputel-error.js';
import type { Logger } from '../common/logger.js';
import { bucketStart, stepForPoints } from '../store/downsampler.js';
import type { FleetQuery } from '../store/fleet-query.js';
import type { GpuEntry } from '../store/registry.js';
import type { ColumnsPage } from '../store/telemetry-columns.js';
import { DEFAULT_LIMIT, MAX_COLUMNS_LIMIT, MAX_LIMIT, type TelemetryQueryString } from './api-schemas.js';
import { parseMetricsParam } from './metrics-param.js';
import { NAMED_FIELDS, type NamedFieldEntry } from './named-fields.js';
import { findCursorGpu, findGpu } from './gpu-lookup.js';
import { parseStepParam } from './step-param.js';
import { decodeTelemetryCursor, encodeTelemetryCursor, type TelemetryCursor } from './telemetry-cursor.js';
import { parseTimeParam } from './time-param.js';

/** The telemetry parameters, by their REST names (api-schemas.ts). */
export type TelemetryParams = TelemetryQueryString;

export interface TelemetryPageResult {
  /** The series served: the one the cursor started in when paging on. */
  gpu: GpuEntry;
  page: ColumnsPage;
  nextCursor: string | null;
  /** The named fields the records carry: those the metrics selection keeps (all without one). */
  namedFields: readonly NamedFieldEntry[];
}

/**
 * Reads the page `params` ask for of GPU `id`. Throws GPU_NOT_FOUND,
 * AMBIGUOUS_GPU, BAD_REQUEST (a bad time, step, cursor or combination, naming the
 * parameter) and the store's KV_* errors. With `releases`, the caller calls
 * the page's `release()` once done with it (its arrays are then pooled).
 */
export async function readTelemetryPage(query: FleetQuery, id: string, params: TelemetryParams, logger: Logger, options: { releases?: boolean } = {}): Promise<TelemetryPageResult> {
  const cursor = params.cursor === undefined ? undefined : decodeTelemetryCursor(params.cursor);
  // A cursor names its series: paging goes on in it even if the id has turned ambiguous since.
  const gpu = cursor ? findCursorGpu(query, id, cursor) : findGpu(query, id);
  const startMs = params.start_time === undefined ? 0 : parseTimeParam(params.start_time, 'start_time');
  const endMs = params.end_time === undefined ? Number.MAX_SAFE_INTEGER : parseTimeParam(params.end_time, 'end_time');
  if (endMs < startMs) throw new GputelError('BAD_REQUEST', `end_time (${params.end_time}) is before start_time (${params.start_time})`);
  const columns = params.format === 'columns';
  const limit = params.limit ?? DEFAULT_LIMIT;
  if (!columns && limit > MAX_LIMIT) throw new GputelError('BAD_REQUEST', `limit must be <= ${MAX_LIMIT} (up to ${MAX_COLUMNS_LIMIT} with format=columns)`);
  const selection = params.metrics === undefined ? undefined : parseMetricsParam(params.metrics);
  const stepMs = downsampleStep(params, gpu, startMs, endMs, cursor);
  // A cursor goes on only in pages of its own kind: a raw one after a bucket, or one of another step, would skip or repeat records.
  if (cursor !== undefined && cursor.stepMs !== stepMs) {
    throw new GputelError('BAD_REQUEST', `cursor is from ${pageKind(cursor.stepMs)}, and this request asks for ${pageKind(stepMs)}: ask with the step of the page it came from, or without cursor to start again`);
  }
  const downsample = stepMs === undefined ? undefined : { stepMs, aggregation: params.agg ?? 'avg' };
  // The next page starts after the last record served, or after the last bucket served.
  const pageStartMs = cursor === undefined ? startMs : Math.max(startMs, stepMs === undefined ? cursor.afterMs + 1 : bucketStart(cursor.afterMs, stepMs) + stepMs);
  const page = await query.telemetry(gpu, { startMs: pageStartMs, endMs, limit, downsample, metrics: selection?.fields, pooled: options.releases }, logger);
  const lastMs = page.timestampsMs[page.timestampsMs.length - 1];
  const nextCursor = page.more && lastMs !== undefined ? encodeTelemetryCursor(gpu, lastMs, stepMs) : null;
  return { gpu, page, nextCursor, namedFields: selection?.namedFields ?? NAMED_FIELDS };
}

function pageKind(stepMs: number | undefined): string {
  return stepMs === undefined ? 'raw records' : `buckets of ${stepMs} ms`;
}

/**
 * The bucket width of a downsampled request, or undefined for raw records.
 * `max_points` picks it over the range clipped to the GPU's data, once: the
 * cursor carries it to the next pages, so new data cannot change it midway.
 */
function downsampleStep(params: TelemetryParams, gpu: GpuEntry, startMs: number, endMs: number, cursor: TelemetryCursor | undefined): number | undefined {
  if (params.step !== undefined && params.max_points !== undefined) throw new GputelError('BAD_REQUEST', 'step and max_points exclude each other: give one of them');
  if (params.step !== undefined) return parseStepParam(params.step);
  if (params.max_points !== undefined) {
    if (cursor?.stepMs !== undefined) return cursor.stepMs;
    const fromMs = Math.max(startMs, gpu.firstSeenMs);
    return stepForPoints(fromMs, Math.max(fromMs, Math.min(endMs, gpu.lastSeenMs)), params.max_points);
  }
  if (params.agg !== undefined) throw new GputelError('BAD_REQUEST', `agg "${params.agg}" needs step or max_points: raw records are not aggregated`);
  return undefined;
}
