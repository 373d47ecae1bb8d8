/** GET /api/v1/stats: fleet totals, summed from the per-partition counters. */
import type { FastifyInstance } from 'fastify';
import { decodePartitionStats } from '../../store/gpu-records.js';
import type { GatewayContext } from '../gateway-context.js';

export function registerStatsRoutes(app: FastifyInstance, context: GatewayContext): void {
  app.get('/api/v1/stats', async (request) => {
    const counters = await context.kv.range({ prefix: context.keys.statsPrefix(context.cluster) });
    let records = 0;
    let samples = 0;
    for (const kv of counters.kvs) {
      try {
        const stats = decodePartitionStats(kv.value);
        records += stats.records;
        samples += stats.samples;
      } catch (error) {
        // The partition's collector overwrites it with its next message; until then it counts nothing.
        request.log.warn({ err: error, key: kv.key }, 'unreadable partition stats skipped');
      }
    }
    return { gpus: context.registry.gpus().length, hosts: context.registry.hosts().length, records, samples };
  });
}
