/** GET /api/v1/gpus, /api/v1/gpus/{id}, /api/v1/gpus/{id}/telemetry and /api/v1/gpus/{id}/latest. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { GputelError } from '../../common/gputel-error.js';
import type { Logger } from '../../common/logger.js';
import { bucketStart, stepForPoints } from '../../store/downsampler.js';
import type { GpuEntry } from '../../store/registry.js';
import {
  DEFAULT_LIMIT,
  GpuDetail,
  GpuIdParams,
  GpuList,
  GpusQuery,
  LatestAnswer,
  MAX_COLUMNS_LIMIT,
  MAX_LIMIT,
  NoQuery,
  TelemetryAnswer,
  TelemetryQuery,
  responses,
  type ApiGpuDetail,
  type TelemetryQueryString,
} from '../api-schemas.js';
import { gpuView, latestView } from '../api-views.js';
import { columnsJson } from '../columns-json.js';
import { recordsJson } from '../records-json.js';
import type { GatewayContext } from '../gateway-context.js';
import { parseMetricsParam } from '../metrics-param.js';
import { parseStepParam } from '../step-param.js';
import { parseTimeParam } from '../time-param.js';

/** Sends JSON bytes written beforehand: the response schema documents them, nothing serialises them again. */
function sendJsonBytes(reply: FastifyReply, body: Buffer): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(body);
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

function findGpu(context: GatewayContext, id: string): GpuEntry {
  const gpu = context.query.findGpu(id);
  if (!gpu) throw new GputelError('GPU_NOT_FOUND', `no GPU "${id}": use a UUID or hostname:gpu_id from /api/v1/gpus`);
  return gpu;
}

export function registerGpuRoutes(app: FastifyInstance, context: GatewayContext): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  // The registry hands out the same list until something changes: its JSON is written once per list, not per request.
  let listed: { gpus: readonly GpuEntry[]; body: Buffer } | undefined;
  api.get(
    '/api/v1/gpus',
    {
      schema: {
        summary: 'List GPUs',
        description: 'Every GPU (each MIG instance on its own), by hostname, then gpu_id, then MIG instance; filters match exactly and combine.',
        tags: ['gpus'],
        querystring: GpusQuery,
        response: responses({ 200: GpuList }),
      },
    },
    async (request, reply) => {
      const gpus = context.query.gpus(request.query);
      if (gpus === listed?.gpus) return sendJsonBytes(reply, listed.body);
      const data = gpus.map(gpuView);
      const body = Buffer.from(JSON.stringify({ data, count: data.length }));
      // Only the unfiltered list is the same array until the registry changes.
      if (gpus === context.query.gpus()) listed = { gpus, body };
      return sendJsonBytes(reply, body);
    },
  );

  api.get(
    '/api/v1/gpus/:id',
    {
      schema: {
        summary: "A GPU's metadata and newest record",
        description: 'The /api/v1/gpus item, its newest record (latest, null before any sample) and the Kubernetes attribution of that record when known.',
        tags: ['gpus'],
        params: GpuIdParams,
        querystring: NoQuery,
        response: responses({ 200: GpuDetail }, 404, 409, 503),
      },
    },
    async (request) => {
      const gpu = findGpu(context, request.params.id);
      const latest = await context.query.latest(gpu);
      const data: ApiGpuDetail = { ...gpuView(gpu), latest: latest ? latestView(latest) : null };
      // Attribution of the newest sample; empty strings are "no workload holds the GPU".
      if (gpu.latest?.namespace) data.namespace = gpu.latest.namespace;
      if (gpu.latest?.pod) data.pod = gpu.latest.pod;
      if (gpu.latest?.container) data.container = gpu.latest.container;
      return { data };
    },
  );

  api.get(
    '/api/v1/gpus/:id/telemetry',
    {
      schema: {
        summary: "A GPU's telemetry, raw or downsampled, as records or columns",
        description: 'Ascending by time, paged with limit and next_cursor. docs/api.md has the details of downsampling and of the two forms.',
        tags: ['gpus'],
        params: GpuIdParams,
        querystring: TelemetryQuery,
        response: responses({ 200: TelemetryAnswer }, 404, 409, 503),
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const query = request.query;
      let gpu = findGpu(context, id);
      const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
      if (cursor) {
        // Page on through the series the cursor started in, even if a UUID seen
        // under two hostnames now resolves to the other one.
        if (cursor.gpuKey !== gpu.gpuKey) throw new GputelError('BAD_REQUEST', `cursor "${query.cursor}" belongs to another GPU's telemetry`);
        const series = context.query.findSeries(cursor.hostname, cursor.gpuKey);
        if (!series) throw new GputelError('BAD_REQUEST', `cursor "${query.cursor}" names a series that no longer exists`);
        gpu = series;
      }
      const startMs = query.start_time === undefined ? 0 : parseTimeParam(query.start_time, 'start_time');
      const endMs = query.end_time === undefined ? Number.MAX_SAFE_INTEGER : parseTimeParam(query.end_time, 'end_time');
      if (endMs < startMs) throw new GputelError('BAD_REQUEST', `end_time (${query.end_time}) is before start_time (${query.start_time})`);
      const columns = query.format === 'columns';
      const limit = query.limit ?? DEFAULT_LIMIT;
      if (!columns && limit > MAX_LIMIT) throw new GputelError('BAD_REQUEST', `limit must be <= ${MAX_LIMIT} (up to ${MAX_COLUMNS_LIMIT} with format=columns)`);
      const selection = query.metrics === undefined ? undefined : parseMetricsParam(query.metrics);
      const stepMs = downsampleStep(query, gpu, startMs, endMs, cursor);
      const downsample = stepMs === undefined ? undefined : { stepMs, aggregation: query.agg ?? 'avg' };
      // The next page starts after the last record served, or after the last bucket served.
      const pageStartMs = cursor === undefined ? startMs : Math.max(startMs, stepMs === undefined ? cursor.afterMs + 1 : bucketStart(cursor.afterMs, stepMs) + stepMs);
      const page = await context.query.telemetry(gpu, { startMs: pageStartMs, endMs, limit, downsample, metrics: selection?.fields }, request.log as Logger);
      const lastMs = page.timestampsMs[page.timestampsMs.length - 1];
      const nextCursor = page.more && lastMs !== undefined ? encodeCursor(gpu, lastMs, query.max_points === undefined ? undefined : stepMs) : null;
      // Both forms are written as bytes straight from the columns (docs/performance.md).
      return sendJsonBytes(reply, columns ? columnsJson(page, nextCursor) : recordsJson(gpu, page, nextCursor, selection?.namedFields));
    },
  );

  api.get(
    '/api/v1/gpus/:id/latest',
    {
      schema: {
        summary: "A GPU's newest record",
        description: 'In the telemetry record shape; its metrics are those sampled at that time. 404 NOT_FOUND before the first sample.',
        tags: ['gpus'],
        params: GpuIdParams,
        querystring: NoQuery,
        response: responses({ 200: LatestAnswer }, 404, 409, 503),
      },
    },
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
function downsampleStep(query: TelemetryQueryString, gpu: GpuEntry, startMs: number, endMs: number, cursor: Cursor | undefined): number | undefined {
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
