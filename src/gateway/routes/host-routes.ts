/** GET /api/v1/hosts and GET /api/v1/hosts/{hostname}/gpus. */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { GputelError } from '../../common/gputel-error.js';
import { gpuView, hostView } from '../api-views.js';
import type { GatewayContext } from '../gateway-context.js';

export function registerHostRoutes(app: FastifyInstance, context: GatewayContext): void {
  app.get('/api/v1/hosts', async () => {
    const data = context.registry.hosts().map(hostView);
    return { data, count: data.length };
  });

  app.get<{ Params: { hostname: string } }>(
    '/api/v1/hosts/:hostname/gpus',
    { schema: { params: Type.Object({ hostname: Type.String({ minLength: 1 }) }) } },
    async (request) => {
      const { hostname } = request.params;
      const data = context.registry.gpus().filter((gpu) => gpu.hostname === hostname).map(gpuView);
      if (data.length === 0) throw new GputelError('HOST_NOT_FOUND', `no host "${hostname}": see /api/v1/hosts`);
      return { data, count: data.length };
    },
  );
}
