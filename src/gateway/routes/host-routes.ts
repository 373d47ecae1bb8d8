/** GET /api/v1/hosts, /api/v1/hosts/{hostname}/gpus and /api/v1/hosts/{hostname}/latest. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { GputelError } from '../../common/gputel-error.js';
import { GpuList, HostList, HostParams, LatestList, NoQuery, responses } from '../api-schemas.js';
import { gpuView, hostView, latestView } from '../api-views.js';
import type { GatewayContext } from '../gateway-context.js';

function hostNotFound(hostname: string): GputelError {
  return new GputelError('HOST_NOT_FOUND', `no host "${hostname}": see /api/v1/hosts`);
}

export function registerHostRoutes(app: FastifyInstance, context: GatewayContext): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  api.get(
    '/api/v1/hosts',
    { schema: { summary: 'List hosts', description: 'Every host with its GPU count, by hostname.', tags: ['hosts'], querystring: NoQuery, response: responses({ 200: HostList }) } },
    async () => {
      const data = context.query.hosts().map(hostView);
      return { data, count: data.length };
    },
  );

  api.get(
    '/api/v1/hosts/:hostname/gpus',
    {
      schema: {
        summary: "A host's GPUs",
        description: 'In /api/v1/gpus order and shape.',
        tags: ['hosts'],
        params: HostParams,
        querystring: NoQuery,
        response: responses({ 200: GpuList }, 404),
      },
    },
    async (request) => {
      const { hostname } = request.params;
      const data = context.query.gpusOfHost(hostname).map(gpuView);
      if (data.length === 0) throw hostNotFound(hostname);
      return { data, count: data.length };
    },
  );

  api.get(
    '/api/v1/hosts/:hostname/latest',
    {
      schema: {
        summary: 'The newest record of each GPU of a host',
        description: 'In /api/v1/gpus order, each in the telemetry record shape; GPUs with no sample yet are left out.',
        tags: ['hosts'],
        params: HostParams,
        querystring: NoQuery,
        response: responses({ 200: LatestList }, 404, 503),
      },
    },
    async (request) => {
      const { hostname } = request.params;
      const records = await context.query.hostLatest(hostname);
      if (!records) throw hostNotFound(hostname);
      const data = records.map((record) => latestView(record));
      return { data, count: data.length };
    },
  );
}
