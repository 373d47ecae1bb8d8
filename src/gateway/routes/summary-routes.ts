/**
 * GET /api/v1/summary and GET /api/v1/hosts/{hostname}/summary: parse the
 * window and threshold, ask the FleetSummary, shape its answer.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { parseDurationMs } from '../../common/config.js';
import { GputelError } from '../../common/gputel-error.js';
import type { Logger } from '../../common/logger.js';
import { SUMMARY_MAX_WINDOW_MS, SUMMARY_MIN_WINDOW_MS, type FleetSummaryResult, type GpuRef } from '../../store/fleet-summary.js';
import { HostParams, Summary, SummaryQuery, responses, type ApiSummary, type SummaryQueryString } from '../api-schemas.js';
import type { GatewayContext } from '../gateway-context.js';
import { formatTime } from '../time-param.js';

const DEFAULT_WINDOW = '1h';
const DEFAULT_IDLE_THRESHOLD = 5;

/** The window in ms; throws BAD_REQUEST naming the parameter, the value and what is allowed. */
function parseWindow(raw: string): number {
  const ms = parseDurationMs(raw);
  if (Number.isNaN(ms)) throw new GputelError('BAD_REQUEST', `window "${raw}" is not a duration: use a number with s, m, h or d, from 1m to 7d (e.g. 15m, 1h, 7d)`);
  if (ms < SUMMARY_MIN_WINDOW_MS) throw new GputelError('BAD_REQUEST', `window "${raw}" is shorter than 1m, the finest utilisation bucket`);
  if (ms > SUMMARY_MAX_WINDOW_MS) throw new GputelError('BAD_REQUEST', `window "${raw}" is longer than 7d, the longest window the utilisation rollups keep`);
  return ms;
}

function refView(gpu: GpuRef): { uuid: string; hostname: string; gpu_id: number } {
  return { uuid: gpu.uuid, hostname: gpu.hostname, gpu_id: gpu.gpuId };
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
    const threshold = query.idle_threshold ?? DEFAULT_IDLE_THRESHOLD;
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
