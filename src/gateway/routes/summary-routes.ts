/**
 * GET /api/v1/summary and GET /api/v1/hosts/{hostname}/summary: parse the
 * window and threshold, ask the FleetSummary, shape its answer.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Logger } from '../../common/logger.js';
import type { FleetSummaryResult, GpuRef } from '../../store/fleet-summary.js';
import { migInstanceOf } from '../api-views.js';
import type { GatewayContext } from '../gateway-context.js';
import { DEFAULT_IDLE_THRESHOLD, DEFAULT_WINDOW, parseWindow } from '../summary-params.js';
import { formatTime } from '../time-param.js';

const SummaryQuery = Type.Object(
  {
    window: Type.Optional(Type.String({ description: 'idle window ending at as_of: 1m to 7d, e.g. 15m, 1h, 7d', default: DEFAULT_WINDOW })),
    idle_threshold: Type.Optional(
      Type.Number({ minimum: 0, maximum: 100, default: DEFAULT_IDLE_THRESHOLD, description: 'a GPU whose mean utilisation (%) over the window is below this is idle' }),
    ),
  },
  { additionalProperties: false },
);
type SummaryQueryString = { window?: string; idle_threshold?: number };

/** A GPU in a summary: enough to tell MIG instances and hosts apart, and the id to ask it by. */
function refView(gpu: GpuRef): Record<string, unknown> {
  return { id: gpu.id, uuid: gpu.uuid, hostname: gpu.hostname, gpu_id: gpu.gpuId, mig_instance_id: migInstanceOf(gpu) };
}

function summaryView(summary: FleetSummaryResult, window: string, threshold: number): Record<string, unknown> {
  return {
    gpus: summary.gpus,
    by_status: { active: summary.active, stale: summary.stale },
    utilization: { mean: summary.utilizationMean, max: summary.utilizationMax },
    power_draw: { total: summary.powerDrawTotal },
    temperature: { max: summary.hottest?.value ?? null, hottest: summary.hottest && { ...refView(summary.hottest), value: summary.hottest.value } },
    idle: {
      threshold,
      window,
      count: summary.idle.length,
      gpus: summary.idle.map((gpu) => ({ ...refView(gpu), mean_utilization: gpu.meanUtilization })),
    },
    as_of: summary.asOfMs === undefined ? null : formatTime(summary.asOfMs),
  };
}

export function registerSummaryRoutes(app: FastifyInstance, context: GatewayContext): void {
  const answer = (request: FastifyRequest<{ Querystring: SummaryQueryString }>, hostname?: string): Record<string, unknown> => {
    const window = (request.query.window ?? DEFAULT_WINDOW).trim();
    const threshold = request.query.idle_threshold ?? DEFAULT_IDLE_THRESHOLD;
    const summary = context.query.summary({
      windowMs: parseWindow(window),
      idleThreshold: threshold,
      hostname,
      onUnreadable: (key, error) => (request.log as Logger).warn({ err: error, key }, 'unreadable utilisation rollup skipped: its GPUs count as not idle'),
    });
    return summaryView(summary, window, threshold);
  };

  app.get<{ Querystring: SummaryQueryString }>('/api/v1/summary', { schema: { querystring: SummaryQuery } }, (request) => answer(request));
  app.get<{ Params: { hostname: string }; Querystring: SummaryQueryString }>(
    '/api/v1/hosts/:hostname/summary',
    { schema: { params: Type.Object({ hostname: Type.String({ minLength: 1 }) }), querystring: SummaryQuery } },
    (request) => answer(request, request.params.hostname),
  );
}
