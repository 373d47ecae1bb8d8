/** GET /api/v1/gpus, /api/v1/gpus/{id}/telemetry and /api/v1/gpus/{id}/latest. */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { GputelError } from '../../common/gputel-error.js';
import type { Logger } from '../../common/logger.js';
import { AGGREGATIONS, bucketStart, stepForPoints, type Aggregation } from '../../store/downsampler.js';
import type { GpuEntry } from '../../store/registry.js';
import { gpuView, latestView } from '../api-views.js';
import { columnsJson } from '../columns-json.js';
import { findCursorGpu, findGpu } from '../gpu-lookup.js';
import { recordsJson } from '../records-json.js';
import type { GatewayContext } from '../gateway-context.js';
import { parseStepParam } from '../step-param.js';
import { parseTimeParam } from '../time-param.js';

export const DEFAULT_LIMIT = 1000;
/** Most records per page in the record form (each value is written twice, with names). */
export const MAX_LIMIT = 10_000;
/** Most records per page in the columnar form: one GPU's 24 h at 1 s in one page. */
export const MAX_COLUMNS_LIMIT = 100_000;

const TelemetryQuery = Type.Object(
  {
    start_time: Type.Optional(Type.String({ description: 'RFC 3339, epoch ms, or now-15m style; inclusive' })),
    end_time: Type.Optional(Type.String({ description: 'RFC 3339, epoch ms, or now-15m style; inclusive' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_COLUMNS_LIMIT, description: `records (or buckets) per page; default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT} (${MAX_COLUMNS_LIMIT} with format=columns)` })),
    cursor: Type.Optional(Type.String({ description: 'next_cursor of the previous page' })),
    step: Type.Optional(Type.String({ description: 'downsample into buckets of this width, aligned to multiples of it since the epoch: 30s, 5m, 1h' })),
    max_points: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_COLUMNS_LIMIT, description: 'downsample with the smallest nice step giving at most this many buckets over the range' })),
    agg: Type.Optional(Type.Union(AGGREGATIONS.map((a) => Type.Literal(a)), { description: 'aggregation per bucket and metric (default avg)' })),
    format: Type.Optional(Type.Union([Type.Literal('records'), Type.Literal('columns')], { description: 'records (default) or columns' })),
  },
  // A misspelt parameter (?start=) must be an error, not a silently wider query.
  { additionalProperties: false },
);

interface TelemetryParams {
  start_time?: string;
  end_time?: string;
  limit?: number;
  cursor?: string;
  step?: string;
  max_points?: number;
  agg?: Aggregation;
  format?: 'records' | 'columns';
}

interface Cursor {
  afterMs: number;
  hostname: string;
  gpuKey: string;
  /** The step of a downsampled page (max_points picks it once, for every page). */
  stepMs?: number;
}

/** A cursor is the series (host and GPU), the last timestamp served and the step, opaque to clients. */
function encodeCursor(gpu: GpuEntry, lastMs: number, stepMs: number | undefined): string {
  const fields: unknown[] = [lastMs, gpu.hostname, gpu.gpuKey];
  if (stepMs !== undefined) fields.push(stepMs);
  return Buffer.from(JSON.stringify(fields)).toString('base64url');
}

function decodeCursor(cursor: string): Cursor {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    decoded = undefined;
  }
  if (
    !Array.isArray(decoded) ||
    !Number.isInteger(decoded[0]) ||
    typeof decoded[1] !== 'string' ||
    typeof decoded[2] !== 'string' ||
    (decoded[3] !== undefined && !(Number.isSafeInteger(decoded[3]) && (decoded[3] as number) >= 1))
  ) {
    throw new GputelError('BAD_REQUEST', `cursor "${cursor}" is not a cursor this API gave out`);
  }
  return { afterMs: decoded[0] as number, hostname: decoded[1], gpuKey: decoded[2], stepMs: decoded[3] as number | undefined };
}

export function registerGpuRoutes(app: FastifyInstance, context: GatewayContext): void {
  // The registry hands out the same list until something changes: its JSON is written once per list, not per request.
  let listed: { gpus: readonly GpuEntry[]; body: Buffer } | undefined;
  app.get('/api/v1/gpus', async (_request, reply) => {
    const gpus = context.query.gpus();
    if (listed?.gpus !== gpus) {
      const data = gpus.map(gpuView);
      listed = { gpus, body: Buffer.from(JSON.stringify({ data, count: data.length })) };
    }
    return reply.type('application/json; charset=utf-8').send(listed.body);
  });

  app.get<{ Params: { id: string }; Querystring: TelemetryParams }>(
    '/api/v1/gpus/:id/telemetry',
    { schema: { params: Type.Object({ id: Type.String({ minLength: 1 }) }), querystring: TelemetryQuery } },
    async (request, reply) => {
      const { id } = request.params;
      const query = request.query;
      const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
      // A cursor names its series: paging goes on in it even if the id has turned ambiguous since.
      const gpu = cursor ? findCursorGpu(context, id, cursor) : findGpu(context, id);
      const startMs = query.start_time === undefined ? 0 : parseTimeParam(query.start_time, 'start_time');
      const endMs = query.end_time === undefined ? Number.MAX_SAFE_INTEGER : parseTimeParam(query.end_time, 'end_time');
      if (endMs < startMs) throw new GputelError('BAD_REQUEST', `end_time (${query.end_time}) is before start_time (${query.start_time})`);
      const columns = query.format === 'columns';
      const limit = query.limit ?? DEFAULT_LIMIT;
      if (!columns && limit > MAX_LIMIT) throw new GputelError('BAD_REQUEST', `limit must be <= ${MAX_LIMIT} (up to ${MAX_COLUMNS_LIMIT} with format=columns)`);
      const stepMs = downsampleStep(query, gpu, startMs, endMs, cursor);
      const downsample = stepMs === undefined ? undefined : { stepMs, aggregation: query.agg ?? 'avg' };
      // The next page starts after the last record served, or after the last bucket served.
      const pageStartMs = cursor === undefined ? startMs : Math.max(startMs, stepMs === undefined ? cursor.afterMs + 1 : bucketStart(cursor.afterMs, stepMs) + stepMs);
      const page = await context.query.telemetry(gpu, { startMs: pageStartMs, endMs, limit, downsample }, request.log as Logger);
      const lastMs = page.timestampsMs[page.timestampsMs.length - 1];
      const nextCursor = page.more && lastMs !== undefined ? encodeCursor(gpu, lastMs, query.max_points === undefined ? undefined : stepMs) : null;
      // Both forms are written as bytes straight from the columns (docs/performance.md).
      return reply.type('application/json; charset=utf-8').send(columns ? columnsJson(page, nextCursor) : recordsJson(gpu, page, nextCursor));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/gpus/:id/latest',
    { schema: { params: Type.Object({ id: Type.String({ minLength: 1 }) }) } },
    async (request) => {
      const gpu = findGpu(context, request.params.id);
      const latest = await context.query.latest(gpu);
      if (!latest) throw new GputelError('NOT_FOUND', `GPU "${request.params.id}" has no stored samples yet`);
      return { data: latestView(latest) };
    },
  );
}

/**
 * The bucket width of a downsampled request, or undefined for raw records.
 * `max_points` picks it over the range clipped to the GPU's data, once: the
 * cursor carries it to the next pages, so new data cannot change it midway.
 */
function downsampleStep(query: TelemetryParams, gpu: GpuEntry, startMs: number, endMs: number, cursor: Cursor | undefined): number | undefined {
  if (query.step !== undefined && query.max_points !== undefined) throw new GputelError('BAD_REQUEST', 'step and max_points exclude each other: give one of them');
  if (query.step !== undefined) return parseStepParam(query.step);
  if (query.max_points !== undefined) {
    if (cursor?.stepMs !== undefined) return cursor.stepMs;
    const fromMs = Math.max(startMs, gpu.firstSeenMs);
    return stepForPoints(fromMs, Math.max(fromMs, Math.min(endMs, gpu.lastSeenMs)), query.max_points);
  }
  if (query.agg !== undefined) throw new GputelError('BAD_REQUEST', `agg "${query.agg}" needs step or max_points: raw records are not aggregated`);
  return undefined;
}
