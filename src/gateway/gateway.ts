/**
 * The gateway role: a stateless HTTP server over the store. It keeps the
 * registry in memory (followed through watch) and reads chunks on demand, so
 * any number of gateways can serve behind a load balancer.
 */
import websocket from '@fastify/websocket';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import { listen } from '../common/listen.js';
import { requestLogger, type Logger } from '../common/logger.js';
import { registerOpsRoutes, type ReadinessCheck } from '../common/ops-routes.js';
import { histogram } from '../common/metrics.js';
import type { LiveSettings } from '../common/live-settings.js';
import { settingOf, type Setting } from '../common/setting.js';
import type { KeySpace } from '../kv/key-space.js';
import type { KvStore } from '../kv/kv-store.js';
import { FleetQuery } from '../store/fleet-query.js';
import { Registry } from '../store/registry.js';
import { registerErrorHandlers, sendApiError } from './api-error.js';
import { clientErrorResponder, registerHostCheck } from './client-error-response.js';
import { spokenProtocol } from './security/access-control.js';
import { gatewayServerOptions, registerGatewaySecurity, requestIdOf, type GatewaySecurityOptions } from './security/gateway-security.js';
import { registerApiDocs } from './api-docs.js';
import { registerDashboardRoutes } from './dashboard-routes.js';
import type { GatewayContext } from './gateway-context.js';
import { DEFAULT_IDLE_THRESHOLD } from './summary-params.js';
import { graphqlPlugin } from './graphql/graphql-plugin.js';
import { CLOSE_GOING_AWAY, GATEWAY_STOPPING } from './live/live-client.js';
import { registerLiveStream, type LiveStreamOptions } from './live/live-stream.js';
import { registerGpuRoutes } from './routes/gpu-routes.js';
import { registerHostRoutes } from './routes/host-routes.js';
import { registerRouteMethods } from './route-methods.js';
import { registerStatsRoutes } from './routes/stats-routes.js';
import { registerSummaryRoutes } from './routes/summary-routes.js';

/** Labels: the route's pattern (`/api/v1/gpus/:id`, never the URL: ids would make a series each; `unmatched` for a 404 of no route), method and status. */
const requestSeconds = histogram(
  'gputel_gateway_request_seconds',
  'API request latency by route pattern, method and status (rate of _count: requests; status 5xx: errors)',
  [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
  ['route', 'method', 'status'],
);

export interface GatewayOptions {
  cluster: string;
  host: string;
  port: number;
  logger: Logger;
  /** See --stale-after (default STALE_AFTER_MS); a Setting follows live configuration. */
  staleAfterMs?: number | Setting<number>;
  /** The summaries' default idle_threshold in % (default DEFAULT_IDLE_THRESHOLD); a Setting follows live configuration. */
  idleThreshold?: number | Setting<number>;
  /** The process's settings, shown at GET /config (absent: no /config route). */
  settings?: LiveSettings;
  /** More readiness checks (the other roles of `gputel start`). */
  extraChecks?: () => ReadinessCheck[];
  /** A request (headers and body) not received within this is answered 408 and its connection closed (default REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number;
  /** API keys, TLS, rate limits, CORS (docs/security.md); none: open, HTTP, unlimited, which protected mode allows on loopback only. */
  security?: GatewaySecurityOptions;
  /** Limits of the live stream at /ws (defaults: LIVE_STREAM_DEFAULTS). */
  liveStream?: Partial<LiveStreamOptions>;
  /** The built web dashboard served at / (default DASHBOARD_DIR, what `npm run build` makes). */
  dashboardDir?: string;
}

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Bounds how long a slow client holds a socket; Node's own default for the headers alone is 60 s. */
export const REQUEST_TIMEOUT_MS = 60_000;

/**
 * Largest frame a WebSocket client may send (/ws and GraphQL subscriptions):
 * a /ws subscribe of 1,000 GPUs by UUID is ~45 KB, a GraphQL subscribe at
 * most 16 KiB of query plus variables, as over HTTP. mercurius parses a
 * subscription's text before any hook can refuse it, and that took ~90 ms
 * for 1 MB: a larger bound let one client stall the gateway.
 */
const MAX_WEBSOCKET_FRAME_BYTES = 64 * 1024;

export class Gateway {
  readonly app: FastifyInstance;
  private readonly registry: Registry;
  private readonly query: FleetQuery;
  private starting: Promise<string> | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly kv: KvStore,
    keys: KeySpace,
    private readonly options: GatewayOptions,
  ) {
    const logger = options.logger.child({ role: 'gateway' });
    const requestTimeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
    this.registry = new Registry(kv, keys, options.cluster, logger, options.staleAfterMs);
    const security = options.security ?? {};
    // Typed as the HTTP options: with `https` among them Fastify would type the instance over another server
    // class, while every route and hook here is the same for both.
    this.app = Fastify({
      ...(gatewayServerOptions(security, {
        // Node's own refusal of a request without Host has an empty body: registerHostCheck answers it.
        requireHostHeader: false,
        requestTimeout: requestTimeoutMs,
        headersTimeout: Math.min(60_000, requestTimeoutMs),
        // Node checks timeouts every connectionsCheckingInterval (30 s by default): check often enough to
        // keep a short timeout close to its value; the headers alone get no longer than the request.
        connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(requestTimeoutMs / 4))),
      }) as { bodyLimit: number; routerOptions: { maxParamLength: number }; trustProxy: string[] | false }),
      loggerInstance: logger as FastifyBaseLogger,
      logController: new LogController({ disableRequestLogging: true }),
      childLoggerFactory: requestLogger,
      // The caller's X-Request-Id when it is a plain token (it goes into every log line), else a new UUID.
      requestIdHeader: false,
      genReqId: (request) => requestIdOf(request.headers['x-request-id']),
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
    });
    // Before every route: the access hook must be the first thing each request meets.
    registerGatewaySecurity(this.app, security, options.host);
    const query = new FleetQuery(kv, keys, options.cluster, this.registry, logger);
    this.query = query;
    const context: GatewayContext = { query, idleThreshold: settingOf(options.idleThreshold ?? DEFAULT_IDLE_THRESHOLD) };
    this.app.addHook('onSend', async (request, reply, payload) => {
      reply.header('x-request-id', request.id);
      return payload;
    });
    this.app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      // Methods outside the known set come from clients: one value for all of them bounds the label.
      const method = KNOWN_METHODS.has(request.method) ? request.method : 'other';
      requestSeconds.observe({ route, method, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
      // client: the caller's address, the forwarded one behind a trusted proxy (--trust-proxy), never the proxy's own.
      request.log.debug({ method: request.method, url: request.url, status: reply.statusCode, ms: reply.elapsedTime, client: request.ip }, 'request');
    });
    registerErrorHandlers(this.app);
    registerRouteMethods(this.app);
    registerHostCheck(this.app);
    // Registered once, before the routes, for /ws and for GraphQL
    // subscriptions (mercurius finds app.websocketServer and reuses it).
    // No permessage-deflate: it costs memory per client and CPU per frame.
    // Stopping tells every WebSocket client why (1001, going away): the plugin's own preClose closes them with no code
    // (1005), which a client cannot tell from a failure. The live stream's preClose then waits for them to go.
    void this.app.register(websocket, {
      options: { perMessageDeflate: false, maxPayload: MAX_WEBSOCKET_FRAME_BYTES, handleProtocols: spokenProtocol },
      preClose(this: FastifyInstance, done: () => void) {
        for (const client of this.websocketServer.clients) client.close(CLOSE_GOING_AWAY, GATEWAY_STOPPING);
        this.websocketServer.close();
        done();
      },
    });
    // GraphQL documents itself (introspection, GraphiQL), and /ws in docs/websocket.md: neither is in the OpenAPI document.
    void this.app.register(graphqlPlugin, context);
    void this.app.register(async (app) => registerLiveStream(app, context, logger, options.liveStream));
    registerApiDocs(this.app);
    // Routes are added once the document's plugin has loaded: it lists the routes added after it.
    this.app.after((error) => {
      if (error) throw error;
      registerOpsRoutes(this.app, () => [
        { name: `store (${kv.driver})`, check: () => kv.ping() },
        { name: 'registry', check: async () => this.registry.check() },
        ...(options.extraChecks?.() ?? []),
      ], options.settings);
      registerGpuRoutes(this.app, context);
      registerHostRoutes(this.app, context);
      registerStatsRoutes(this.app, context);
      registerSummaryRoutes(this.app, context);
      // The dashboard's page and files stay open: the page asks for a key and sends it with its API calls.
      registerDashboardRoutes(this.app, options.dashboardDir);
    });
  }

  /** Loads the registry and starts listening; resolves with the URL served. Once only. */
  start(): Promise<string> {
    this.starting ??= (async () => {
      await this.registry.start();
      return listen(this.app, this.options.host, this.options.port);
    })();
    return this.starting;
  }

  /** The port actually bound (useful with port 0). */
  get port(): number {
    const address = this.app.server.address();
    return typeof address === 'object' && address ? address.port : this.options.port;
  }

  /** Stops listening and following the store. Safe before start and twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      // A stop during start waits for it, then undoes all of it: start would otherwise go on to listen after stop returned.
      await this.starting?.catch(() => undefined);
      await this.app.close();
      await this.query.close();
      await this.registry.stop();
    })();
    return this.stopping;
  }
}
