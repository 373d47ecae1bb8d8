/**
 * GET /api/v1/summary and GET /api/v1/hosts/{hostname}/summary: parse the
 * window and threshold, ask the FleetSummary, shape its answer.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../common/logger.js';
import type { FleetSummaryResult, GpuRef } from '../../store/fleet-summary.js';
import { HostParams, Summary, SummaryQuery, responses, type ApiGpuRef, type ApiSummary, type SummaryQueryString } from '../api-schemas.js';
import { migInstanceOf } from '../api-views.js';
import type { GatewayContext } from '../gateway-context.js';
import { DEFAULT_WINDOW, parseWindow } from '../summary-params.js';
import { formatTime } from '../time-param.js';

/** A GPU in a summary: enough to tell MIG instances and hosts apart, and the id to ask it by. */
function refView(gpu: GpuRef): ApiGpuRef {
  return { id: gpu.id, uuid: gpu.uuid, hostname: gpu.hostname, gpu_id: gpu.gpuId, mig_instance_id: migInstanceOf(gpu) };
}

function summaryView(summary: FleetSummaryResult, window: string, threshold: number): ApiSummary {
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

const SUMMARY_DESCRIPTION =
  'Counts by status, newest utilisation, power and temperature, and the GPUs idle over the window; as_of is the newest sample of the cluster. docs/api.md has the details.';

export function registerSummaryRoutes(app: FastifyInstance, context: GatewayContext): void {
  const answer = (query: SummaryQueryString, log: Logger, hostname?: string): ApiSummary => {
    const window = (query.window ?? DEFAULT_WINDOW).trim();
    const threshold = query.idle_threshold ?? context.idleThreshold.value;
    const summary = context.query.summary({
      windowMs: parseWindow(window),
      idleThreshold: threshold,
      hostname,
      onUnreadable: (key, error) => log.warn({ err: error, key }, 'unreadable utilisation rollup skipped: its GPUs count as not idle'),
    });
    return summaryView(summary, window, threshold);
  };

  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  api.get(
    '/api/v1/summary',
    { schema: { summary: 'Fleet summary', description: SUMMARY_DESCRIPTION, tags: ['fleet'], querystring: SummaryQuery, response: responses({ 200: Summary }) } },
    async (request) => answer(request.query, request.log as Logger),
  );
  api.get(
    '/api/v1/hosts/:hostname/summary',
    {
      schema: {
        summary: 'Host summary',
        description: `${SUMMARY_DESCRIPTION} 404 for a host with no GPU.`,
        tags: ['hosts'],
        params: HostParams,
        querystring: SummaryQuery,
        response: responses({ 200: Summary }, 404),
      },
    },
    async (request) => answer(request.query, request.log as Logger, request.params.hostname),
  );
}
