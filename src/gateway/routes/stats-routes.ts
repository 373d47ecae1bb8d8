/** GET /api/v1/stats: fleet totals, summed from the per-partition counters. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { NoQuery, Stats, responses } from '../api-schemas.js';
import type { GatewayContext } from '../gateway-context.js';

export function registerStatsRoutes(app: FastifyInstance, context: GatewayContext): void {
  app.withTypeProvider<TypeBoxTypeProvider>().get(
    '/api/v1/stats',
    {
      schema: {
        summary: 'Fleet totals',
        description: 'GPUs and hosts known, and records and samples stored (summed from the per-partition counters).',
        tags: ['fleet'],
        querystring: NoQuery,
        response: responses({ 200: Stats }, 503),
      },
    },
    async () => context.query.stats(),
  );
}
