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
import { MAX_PARAM_CHARS, registerErrorHandlers, sendApiError } from './api-error.js';
import { clientErrorResponder, registerHostCheck } from './client-error-response.js';
import type { GatewayContext } from './gateway-context.js';
import { registerGpuRoutes } from './routes/gpu-routes.js';
import { registerHostRoutes } from './routes/host-routes.js';
import { registerRouteMethods } from './route-methods.js';
import { registerStatsRoutes } from './routes/stats-routes.js';
import { registerSummaryRoutes } from './routes/summary-routes.js';

const requestSeconds = histogram('gputel_gateway_request_seconds', 'API request latency', [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], ['route', 'status']);
const DASHBOARD_PAGE = new URL('../../../web/index.html', import.meta.url);

export interface GatewayOptions {
  cluster: string;
  host: string;
  port: number;
  logger: Logger;
  /** See --stale-after (default STALE_AFTER_MS). */
  staleAfterMs?: number;
  /** More readiness checks (the other roles of `gputel start`). */
  extraChecks?: () => ReadinessCheck[];
  /** A request (headers and body) not received within this is answered 408 and its connection closed (default REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number;
}

/** Bounds how long a slow client holds a socket; Node's own default for the headers alone is 60 s. */
export const REQUEST_TIMEOUT_MS = 60_000;

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
    const requestTimeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
    this.registry = new Registry(kv, keys, options.cluster, logger, options.staleAfterMs);
    this.app = Fastify({
      loggerInstance: logger as FastifyBaseLogger,
      logController: new LogController({ disableRequestLogging: true }),
      requestIdHeader: 'x-request-id',
      genReqId: () => randomUUID(),
      // A GPU id can be longer than Fastify's default of 100 (see MAX_PARAM_CHARS).
      routerOptions: { maxParamLength: MAX_PARAM_CHARS },
      // Fastify strips unknown properties by default; report them instead.
      ajv: { customOptions: { removeAdditional: false } },
      // A URL Fastify cannot decode (/api/v1/gpus/%) still answers in the API's error shape.
      // Fastify answers these before any hook runs: the request id is set here.
      frameworkErrors: (error, request, reply) => {
        void sendApiError(error, request, (reply as FastifyReply).header('x-request-id', request.id));
      },
      // So do requests Node's parser refuses before Fastify sees them (bad method, 431, 408).
      clientErrorHandler: clientErrorResponder(logger),
      requestTimeout: requestTimeoutMs,
      // Node checks timeouts every connectionsCheckingInterval (30 s by default): check often enough to
      // keep a short timeout close to its value; the headers alone get no longer than the request.
      http: {
        // Node's own refusal of a request without Host has an empty body: registerHostCheck answers it.
        requireHostHeader: false,
        requestTimeout: requestTimeoutMs,
        headersTimeout: Math.min(60_000, requestTimeoutMs),
        connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(requestTimeoutMs / 4))),
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
    registerRouteMethods(this.app);
    registerHostCheck(this.app);
    registerOpsRoutes(this.app, () => [
      { name: `store (${kv.driver})`, check: () => kv.ping() },
      { name: 'registry', check: async () => this.registry.check() },
      ...(options.extraChecks?.() ?? []),
    ]);
    registerGpuRoutes(this.app, context);
    registerHostRoutes(this.app, context);
    registerStatsRoutes(this.app, context);
    registerSummaryRoutes(this.app, context);
    this.app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(await readFile(DASHBOARD_PAGE)));
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
