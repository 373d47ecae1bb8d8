/**
 * The small HTTP server of the roles that serve no API (streamer, collector):
 * /healthz, /readyz, /metrics and /config only.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { listen } from './listen.js';
import type { LiveSettings } from './live-settings.js';
import { requestLogger, type Logger } from './logger.js';
import { registerOpsRoutes, type ReadinessCheck } from './ops-routes.js';
import { registerStrictQuery } from './strict-query.js';

export async function startRoleServer(options: { host: string; port: number; logger: Logger; checks: () => ReadinessCheck[]; settings?: LiveSettings }): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: options.logger as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }), childLoggerFactory: requestLogger });
  registerStrictQuery(app);
  registerOpsRoutes(app, options.checks, options.settings);
  await listen(app, options.host, options.port);
  return app;
}
