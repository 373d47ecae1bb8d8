/**
 * Who may call what (docs/security.md): ONE global onRequest hook in front of
 * every route of the gateway, REST, GraphQL, the WebSocket upgrades, the
 * OpenAPI document and the doc pages alike, so a route added later is
 * protected without knowing about it. Per request it:
 *
 *  1. identifies the caller by `Authorization: Bearer KEY` or `X-API-Key: KEY`
 *     (a browser's WebSocket upgrade: the subprotocol `gputel-key.KEY`);
 *  2. counts the request against the caller's rate limit: the key's name when
 *     the key is known, else the client address (so guessing keys is limited too);
 *  3. checks the route's access: `open`, or the role it needs (`read` unless
 *     the route's config says otherwise), answering 401 (no or unknown key,
 *     with `WWW-Authenticate: Bearer`) or 403 (a role that may not).
 *
 * A WebSocket upgrade runs through the same hook before it is accepted, so an
 * unauthenticated client is refused at connect with an HTTP 401.
 */
import { settingOf, type Setting } from '../../common/setting.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { GputelError } from '../../common/gputel-error.js';
import { pathOf } from '../api-error.js';
import { roleAllows, type ApiKeyIdentity, type ApiKeyRing, type ApiKeyRole } from './api-key-ring.js';
import { DASHBOARD_ASSET_PREFIX } from '../dashboard-routes.js';

/** What a route needs: nothing (`open`), or a key of a role allowed to call `ApiKeyRole` routes. */
export type RouteAccess = 'open' | ApiKeyRole;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The access this route needs (default `read`); `open` for pages and probes anyone may load. */
    access?: RouteAccess;
  }
  interface FastifyRequest {
    /** The caller's key (name and role) when it sent one the gateway knows; never the key itself. */
    apiKey: ApiKeyIdentity | null;
  }
}

/** Probes stay open on every role (orchestrators call them without credentials); they are registered outside the gateway. */
const OPEN_PATHS = new Set(['/healthz', '/readyz']);
/** The static files of gputel's own pages (dashboard, Swagger UI, GraphiQL): not rate limited. */
const PAGE_FILE_PREFIXES = [DASHBOARD_ASSET_PREFIX, '/docs/static/', '/graphiql/assets/'];
const PAGE_FILES = new Set(['/', '/docs', '/docs/', '/graphiql']);

/**
 * The API's description and the pages that render it: Swagger UI (`/docs`,
 * its files and the document it loads), `/openapi.json`, GraphiQL and its
 * files. They hold no fleet data, and a browser cannot send a key on a page
 * navigation: open, they let a user enter a key (Swagger UI's Authorize,
 * GraphiQL's headers) for the calls that do read data.
 */
function isDocumentation(path: string): boolean {
  return path === '/openapi.json' || path === '/docs' || path.startsWith('/docs/') || path === '/graphiql' || path.startsWith('/graphiql/');
}

function isPageFile(path: string): boolean {
  return PAGE_FILES.has(path) || PAGE_FILE_PREFIXES.some((prefix) => path.startsWith(prefix));
}
/** The access of a request that matched no route (404): a caller without a key learns nothing about which paths exist. */
const UNMATCHED_ACCESS: RouteAccess = 'read';
const BEARER = /^Bearer\s+(\S+)\s*$/i;
/** The subprotocol prefix that carries a key on a browser's WebSocket upgrade. */
export const KEY_SUBPROTOCOL = 'gputel-key.';

/** Requests per window (--rate-limit). */
export interface RateLimit {
  max: number;
  windowMs: number;
}

export interface AccessControlOptions {
  keys: ApiKeyRing;
  /**
   * Requests per window per key or address; max 0 turns rate limiting off.
   * A Setting (live --rate-limit) is read on every request, so a change, to
   * or from 0 included, applies to the next request.
   */
  rateLimit: RateLimit | Setting<RateLimit>;
  /** Origins of other sites whose pages may open WebSockets here (--cors-origins). */
  allowedOrigins?: readonly string[];
}

/**
 * Registers the access hook on `app` (and @fastify/rate-limit for it).
 * Must be registered before the routes' plugins so that its hook runs first.
 * With no keys, every route is open (loopback or --insecure, see
 * protected-mode.ts) and only rate limits apply.
 */
export function registerAccessControl(app: FastifyInstance, options: AccessControlOptions): void {
  app.decorateRequest('apiKey', null);
  const live = typeof options.rateLimit === 'object' && 'onChange' in options.rateLimit;
  const rate = settingOf(options.rateLimit);
  const limited = live || rate.value.max > 0;
  if (limited) {
    void app.register(rateLimit, {
      // Applied by the hook below, not per route, so that it counts before the access check and covers every route.
      global: false,
      // Functions, read per request: @fastify/rate-limit calls them for each one, so a live change needs no new plugin.
      max: () => rate.value.max,
      timeWindow: () => rate.value.windowMs,
      keyGenerator: (request) => (request.apiKey !== null ? `key:${request.apiKey.name}` : `ip:${request.ip}`),
      // Orchestrators' probes must never be refused, and the pages' own files are not API calls
      // (one Swagger UI or GraphiQL load is 7-8 of them).
      // A live max of 0 turns limits off.
      allowList: (request) => rate.value.max === 0 || OPEN_PATHS.has(pathOf(request.url)) || isPageFile(pathOf(request.url)),
      errorResponseBuilder: (_request, context) =>
        new GputelError('RATE_LIMITED', `rate limit of ${context.max} requests per ${describeWindow(rate.value.windowMs)} exceeded for this API key or address; retry in ${context.after} (Retry-After)`, { retryable: true }),
    });
  }
  const plugin = async (instance: FastifyInstance): Promise<void> => {
    const countRequest = limited ? instance.rateLimit() : undefined;
    instance.addHook('onRequest', async (request, reply) => {
      refuseCrossSiteUpgrade(request, options.allowedOrigins ?? []);
      const presented = presentedKey(request);
      if (presented !== undefined && options.keys.size > 0) {
        request.apiKey = options.keys.identify(presented) ?? null;
        // Every later log line of the request names the caller's key (its name only).
        if (request.apiKey !== null) request.log = request.log.child({ apiKey: request.apiKey.name });
      }
      if (countRequest !== undefined) await countRequest.call(instance, request, reply);
      if (options.keys.size === 0 || isPreflight(request)) return;
      const access = accessOf(request);
      if (access === 'open') return;
      if (request.apiKey === null) {
        void reply.header('www-authenticate', 'Bearer realm="gputel"');
        throw new GputelError(
          'UNAUTHORIZED',
          presented === undefined
            ? 'an API key is required: send it as "Authorization: Bearer KEY" or "X-API-Key: KEY" (gputel keys create makes one)'
            : 'unknown API key: check the key, or ask an operator to add its line to the gateway\'s keys file',
        );
      }
      if (!roleAllows(request.apiKey.role, access)) {
        throw new GputelError('FORBIDDEN', `API key "${request.apiKey.name}" has role ${request.apiKey.role}; ${request.method} ${pathOf(request.url)} needs role ${access} (or admin)`);
      }
    });
    // A refused WebSocket upgrade got its answer on the raw socket, which nothing else closes: the WebSocket
    // plugin closes it only for requests its own onRequest hook saw, and this hook ran (and refused) first.
    instance.addHook('onResponse', async (request, reply) => {
      // Only refused WebSocket upgrades: a plain request that happens to carry Upgrade (h2c) keeps its connection.
      if (request.headers.upgrade?.toLowerCase() !== 'websocket' || reply.statusCode < 400) return;
      const socket = request.raw.socket;
      if (socket.destroyed) return;
      socket.once('finish', () => socket.destroy());
      socket.end();
    });
  };
  // Not encapsulated (what fastify-plugin does): the hook must apply to every route of the app.
  Object.assign(plugin, { [Symbol.for('skip-override')]: true });
  void app.register(plugin);
}

function presentedKey(request: FastifyRequest): string | undefined {
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    const match = BEARER.exec(authorization);
    if (match) return match[1];
  }
  const header = request.headers['x-api-key'];
  const value = Array.isArray(header) ? header[0] : header;
  if (value !== undefined && value.trim() !== '') return value.trim();
  return request.headers.upgrade === undefined ? undefined : keyInSubprotocols(request.headers['sec-websocket-protocol']);
}

/**
 * A browser's WebSocket cannot set headers, only subprotocols: it offers
 * `gputel-key.KEY` after the protocol it speaks (`new WebSocket(url,
 * ['graphql-transport-ws', 'gputel-key.' + key])`), and the server picks the
 * first, real one. Only on upgrades; never in the URL, where keys would be logged.
 */
/**
 * Refuses (403) a WebSocket upgrade sent by a page of another site. Browsers
 * do not apply CORS to WebSockets, but they send the page's Origin: without
 * this check any web page an operator opens could stream the fleet from a
 * gateway it can reach (an open one on loopback, say). Clients that are not
 * browsers send no Origin and are not affected.
 */
function refuseCrossSiteUpgrade(request: FastifyRequest, allowedOrigins: readonly string[]): void {
  const origin = request.headers.origin;
  if (request.headers.upgrade?.toLowerCase() !== 'websocket' || origin === undefined) return;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    originHost = '';
  }
  if (originHost !== '' && originHost === request.headers.host) return;
  if (allowedOrigins.includes(origin)) return;
  throw new GputelError('FORBIDDEN', `a WebSocket from a page of ${JSON.stringify(origin.slice(0, 100))} is refused: only pages served by this gateway, or origins given in --cors-origins, may open one`);
}

/**
 * The subprotocol a WebSocket server answers with (ws's handleProtocols):
 * the first one offered that is not a key, or none. ws would pick the first
 * offered, and a client offering only its key would get the key echoed back
 * in a response header, which proxies log.
 */
export function spokenProtocol(protocols: Set<string>): string | false {
  for (const protocol of protocols) if (!protocol.startsWith(KEY_SUBPROTOCOL)) return protocol;
  return false;
}

function keyInSubprotocols(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const protocol of header.split(',')) {
    const trimmed = protocol.trim();
    if (trimmed.startsWith(KEY_SUBPROTOCOL)) return trimmed.slice(KEY_SUBPROTOCOL.length);
  }
  return undefined;
}

function accessOf(request: FastifyRequest): RouteAccess {
  const path = pathOf(request.url);
  // The dashboard's built files (served by @fastify/static, whose routes take no config) are open as the page is.
  if (OPEN_PATHS.has(path) || isDocumentation(path) || path.startsWith(DASHBOARD_ASSET_PREFIX)) return 'open';
  // A request no route matched has Fastify's empty 404 route config.
  if (request.routeOptions.url === undefined) return UNMATCHED_ACCESS;
  return request.routeOptions.config.access ?? 'read';
}

/** A CORS preflight carries no credentials by the fetch standard; @fastify/cors answers it. */
function isPreflight(request: FastifyRequest): boolean {
  return request.method === 'OPTIONS' && request.headers.origin !== undefined && request.headers['access-control-request-method'] !== undefined;
}


function describeWindow(windowMs: number): string {
  return windowMs === 1_000 ? 'second' : windowMs === 60_000 ? 'minute' : windowMs === 3_600_000 ? 'hour' : `${windowMs} ms`;
}
