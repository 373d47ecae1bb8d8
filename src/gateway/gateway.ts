/**
 * The gateway role: a stateless HTTP server over the store. It keeps the
 * registry in memory (followed through watch) and reads chunks on demand, so
 * any number of gateways can serve behind a load balancer.
 */
import { readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import { listen } from '../common/listen.js';
import type { Logger } from '../common/logger.js';
import { registerOpsRoutes, type ReadinessCheck } from '../common/ops-routes.js';
import { histogram } from '../common/metrics.js';
import type { KeySpace } from '../kv/key-space.js';
import type { KvStore } from '../kv/kv-store.js';
import { FleetQuery } from '../store/fleet-query.js';
import { Registry } from '../store/registry.js';
import { registerApiDocs } from './api-docs.js';
import { HTML_PAGE, NoQuery, responses } from './api-schemas.js';
import { errorBody, registerErrorHandlers } from './api-error.js';
import type { GatewayContext } from './gateway-context.js';
import { registerGpuRoutes } from './routes/gpu-routes.js';
import { registerHostRoutes } from './routes/host-routes.js';
import { registerStatsRoutes } from './routes/stats-routes.js';
import { registerSummaryRoutes } from './routes/summary-routes.js';

const requestSeconds = histogram('gputel_gateway_request_seconds', 'API request latency', [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], ['route', 'status']);
const DASHBOARD_PAGE = new URL('../../../web/index.html', import.meta.url);
const DASHBOARD_SCHEMA = { summary: 'The dashboard (HTML)', tags: ['docs'], querystring: NoQuery, response: responses({ 200: HTML_PAGE }) };

export interface GatewayOptions {
  cluster: string;
  host: string;
  port: number;
  logger: Logger;
  /** See --stale-after (default STALE_AFTER_MS). */
  staleAfterMs?: number;
  /** More readiness checks (the other roles of `gputel start`). */
  extraChecks?: () => ReadinessCheck[];
}

export class Gateway {
  readonly app: FastifyInstance;
  private readonly registry: Registry;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly kv: KvStore,
    keys: KeySpace,
    private readonly options: GatewayOptions,
  ) {
    const logger = options.logger.child({ role: 'gateway' });
    this.registry = new Registry(kv, keys, options.cluster, logger, options.staleAfterMs);
    this.app = Fastify({
      loggerInstance: logger as FastifyBaseLogger,
      logController: new LogController({ disableRequestLogging: true }),
      requestIdHeader: 'x-request-id',
      genReqId: () => randomUUID(),
      // Fastify strips unknown properties by default; report them instead.
      ajv: { customOptions: { removeAdditional: false } },
      // A URL Fastify cannot decode (/api/v1/gpus/%) still answers in the API's error shape.
      frameworkErrors: (error, _request, reply) => {
        void (reply as FastifyReply).code(400).send(errorBody('BAD_REQUEST', error.message));
      },
    });
    const query = new FleetQuery(kv, keys, options.cluster, this.registry, logger);
    const context: GatewayContext = { query };
    this.app.addHook('onSend', async (request, reply, payload) => {
      reply.header('x-request-id', request.id);
      return payload;
    });
    this.app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unknown';
      requestSeconds.observe({ route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
      request.log.debug({ method: request.method, url: request.url, status: reply.statusCode, ms: reply.elapsedTime }, 'request');
    });
    registerErrorHandlers(this.app);
    registerApiDocs(this.app);
    // Routes are added once the document's plugin has loaded: it lists the routes added after it.
    this.app.after((error) => {
      if (error) throw error;
      registerOpsRoutes(this.app, () => [
        { name: `store (${kv.driver})`, check: () => kv.ping() },
        { name: 'registry', check: async () => this.registry.check() },
        ...(options.extraChecks?.() ?? []),
      ]);
      registerGpuRoutes(this.app, context);
      registerHostRoutes(this.app, context);
      registerStatsRoutes(this.app, context);
      registerSummaryRoutes(this.app, context);
      this.app.get('/', { schema: DASHBOARD_SCHEMA }, async (_request, reply) => reply.type('text/html; charset=utf-8').send(await readFile(DASHBOARD_PAGE)));
    });
  }

  /** Loads the registry and starts listening; resolves with the URL served. */
  async start(): Promise<string> {
    await this.registry.start();
    return listen(this.app, this.options.host, this.options.port);
  }

  /** The port actually bound (useful with port 0). */
  get port(): number {
    const address = this.app.server.address();
    return typeof address === 'object' && address ? address.port : this.options.port;
  }

  /** Stops listening and following the store. Safe before start and twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.app.close();
      await this.registry.stop();
    })();
    return this.stopping;
  }
}
