/** GET /api/v1/hosts, /api/v1/hosts/{hostname}/gpus and /api/v1/hosts/{hostname}/latest. */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { GputelError } from '../../common/gputel-error.js';
import { gpuView, hostView, latestView } from '../api-views.js';
import type { GatewayContext } from '../gateway-context.js';

const HostParams = Type.Object({ hostname: Type.String({ minLength: 1 }) });

function hostNotFound(hostname: string): GputelError {
  return new GputelError('HOST_NOT_FOUND', `no host "${hostname}": see /api/v1/hosts`);
}

export function registerHostRoutes(app: FastifyInstance, context: GatewayContext): void {
  app.get('/api/v1/hosts', async () => {
    const data = context.query.hosts().map(hostView);
    return { data, count: data.length };
  });

  app.get<{ Params: { hostname: string } }>('/api/v1/hosts/:hostname/gpus', { schema: { params: HostParams } }, async (request) => {
    const { hostname } = request.params;
    const data = context.query.gpusOfHost(hostname).map(gpuView);
    if (data.length === 0) throw hostNotFound(hostname);
    return { data, count: data.length };
  });

  app.get<{ Params: { hostname: string } }>('/api/v1/hosts/:hostname/latest', { schema: { params: HostParams } }, async (request) => {
    const { hostname } = request.params;
    const records = await context.query.hostLatest(hostname);
    if (!records) throw hostNotFound(hostname);
    const data = records.map(latestView);
    return { data, count: data.length };
  });
}
