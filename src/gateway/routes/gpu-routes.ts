/** GET /api/v1/gpus, /api/v1/gpus/{id}/telemetry and /api/v1/gpus/{id}/latest. */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { GputelError } from '../../common/gputel-error.js';
import type { Logger } from '../../common/logger.js';
import { AGGREGATIONS } from '../../store/downsampler.js';
import type { GpuEntry } from '../../store/registry.js';
import { gpuView, latestView } from '../api-views.js';
import { columnsJson } from '../columns-json.js';
import { findGpu } from '../gpu-lookup.js';
import { recordsJson } from '../records-json.js';
import type { GatewayContext } from '../gateway-context.js';
import { DEFAULT_LIMIT, MAX_COLUMNS_LIMIT, MAX_LIMIT, readTelemetryPage, type TelemetryParams } from '../telemetry-page.js';

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
      const { gpu, page, nextCursor } = await readTelemetryPage(context.query, request.params.id, request.query, request.log as Logger);
      // Both forms are written as bytes straight from the columns (docs/performance.md).
      return reply.type('application/json; charset=utf-8').send(request.query.format === 'columns' ? columnsJson(page, nextCursor) : recordsJson(gpu, page, nextCursor));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/gpus/:id/latest',
    { schema: { params: Type.Object({ id: Type.String({ minLength: 1 }) }) } },
    async (request) => {
      const gpu = findGpu(context.query, request.params.id);
      const latest = await context.query.latest(gpu);
      if (!latest) throw new GputelError('NOT_FOUND', `GPU "${request.params.id}" has no stored samples yet`);
      return { data: latestView(latest) };
    },
  );
}
