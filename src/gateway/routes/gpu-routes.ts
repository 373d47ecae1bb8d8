/** GET /api/v1/gpus, /api/v1/gpus/{id}, /api/v1/gpus/{id}/telemetry and /api/v1/gpus/{id}/latest. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { GputelError } from '../../common/gputel-error.js';
import type { Logger } from '../../common/logger.js';
import type { GpuEntry } from '../../store/registry.js';
import {
  GpuDetail,
  GpuIdParams,
  GpuList,
  GpusQuery,
  LatestAnswer,
  NoQuery,
  TelemetryAnswer,
  TelemetryQuery,
  responses,
  type ApiGpuDetail,
} from '../api-schemas.js';
import { gpuView, latestView } from '../api-views.js';
import { columnsJson } from '../columns-json.js';
import { findGpu } from '../gpu-lookup.js';
import { recordsJson } from '../records-json.js';
import type { JsonAnswer } from '../json-bytes.js';
import type { GatewayContext } from '../gateway-context.js';
import { readTelemetryPage } from '../telemetry-page.js';

/** Sends JSON bytes written beforehand: the response schema documents them, nothing serialises them again. */
function sendJsonBytes(reply: FastifyReply, body: Buffer): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(body);
}

/**
 * Sends a lent answer, and gives its buffer back once the response has been
 * handed to the socket ('finish'). A response cut short ('close' first)
 * keeps its buffer out of reuse: the socket may still hold a write of it.
 * This relies on no onSend hook or plugin keeping the payload past
 * 'finish': a response cache or compression added later must copy it.
 */
function sendJsonAnswer(reply: FastifyReply, answer: JsonAnswer): FastifyReply {
  reply.raw.once('finish', answer.release);
  return sendJsonBytes(reply, answer.bytes);
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
      const gpu = findGpu(context.query, request.params.id);
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
      const { gpu, page, nextCursor, namedFields } = await readTelemetryPage(context.query, request.params.id, request.query, request.log as Logger, { releases: true });
      // Both forms are written as bytes straight from the columns (docs/performance.md).
      const answer = request.query.format === 'columns' ? columnsJson(page, nextCursor) : recordsJson(gpu, page, nextCursor, namedFields);
      // The answer's bytes are written: the page's arrays can serve the next read.
      page.release?.();
      return sendJsonAnswer(reply, answer);
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
      const gpu = findGpu(context.query, request.params.id);
      const latest = await context.query.latest(gpu);
      if (!latest) throw new GputelError('NOT_FOUND', `GPU "${request.params.id}" has no stored samples yet`);
      return { data: latestView(latest) };
    },
  );
}
