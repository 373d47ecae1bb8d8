/** GET /api/v1/stats: fleet totals, summed from the per-partition counters. */
import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from '../gateway-context.js';

export function registerStatsRoutes(app: FastifyInstance, context: GatewayContext): void {
  app.get('/api/v1/stats', async () => context.query.stats());
}
