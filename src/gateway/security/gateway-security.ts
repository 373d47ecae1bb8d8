/**
 * The gateway's security in one place (docs/security.md): the server options
 * that must be set when Fastify is created (HTTPS, size limits, the proxies
 * whose X-Forwarded-For it believes), and the
 * plugins registered before any route (URL length, CORS, security headers,
 * API keys with roles, rate limits). Protected mode is checked here too, so
 * that no way of creating a gateway can skip it.
 */
import { settingOf, type Setting } from '../../common/setting.js';
import type { RateLimit } from './access-control.js';
import { randomUUID } from 'node:crypto';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import { createSecureContext } from 'node:tls';
import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import { isAddressRange } from '../../common/address-range.js';
import { GputelError, errorMessage } from '../../common/gputel-error.js';
import { readPemFile } from '../../common/pem-file.js';
import { MAX_PARAM_CHARS } from '../api-error.js';
import { registerAccessControl } from './access-control.js';
import { ApiKeyRing } from './api-key-ring.js';
import { assertProtectedMode, isLoopbackHost } from './protected-mode.js';
import { registerSecurityHeaders } from './security-headers.js';

export interface GatewaySecurityOptions {
  /** API keys; none (the default) leaves every route open, which protected mode allows only on loopback. */
  keys?: ApiKeyRing;
  /** Serve without keys on a non-loopback address. */
  insecure?: boolean;
  /** HTTPS (and so WSS) from these PEM files. */
  tls?: { certFile: string; keyFile: string };
  /**
   * Requests per window per key or address; absent or max 0: no rate limit (the CLI's default is 6000/min).
   * A Setting follows live --rate-limit: the limiter is then always registered and reads it per request.
   */
  rateLimit?: RateLimit | Setting<RateLimit>;
  /** Browser origins allowed to call the API; none by default (same-origin pages only). */
  corsOrigins?: string[];
  /**
   * IP addresses and CIDR ranges of the load balancers in front of the gateway. A request whose TCP peer
   * is one of them has its client address (request.ip: rate limits, logs) taken from X-Forwarded-For,
   * walking back over the trusted hops; from any other peer the header is ignored. None by default.
   */
  trustProxy?: string[];
}

/**
 * The request size limits, documented in docs/security.md. A telemetry
 * query is a short GET and a GraphQL query a few KiB; only the future push
 * ingest (role ingest) will need larger bodies, and will set its own.
 */
export const REQUEST_LIMITS = {
  /** Request body (Fastify bodyLimit): larger is 413. */
  bodyBytes: 1024 * 1024,
  /** Request line and headers together (Node's maxHeaderSize, its default): larger is 431. */
  headerBytes: 16 * 1024,
  /** Path and query string: longer is 414 URI_TOO_LONG. */
  urlChars: 8 * 1024,
  /** One path parameter (Fastify maxParamLength, default 100): a GPU id can be 513 characters (see MAX_PARAM_CHARS). Longer is 414. */
  paramChars: MAX_PARAM_CHARS,
} as const;

/**
 * What the Fastify constructor needs: `https` when TLS is on (throws
 * BAD_CONFIG for unreadable or bad PEM files), the size limits, `trustProxy`
 * (throws BAD_CONFIG naming an entry that is not an address or CIDR range),
 * and `server` (Node's server options: timeouts and the like) for whichever
 * server it is.
 */
export function gatewayServerOptions(security: GatewaySecurityOptions, server: Record<string, unknown> = {}): {
  https?: HttpsServerOptions;
  http?: Record<string, unknown>;
  bodyLimit: number;
  routerOptions: { maxParamLength: number };
  trustProxy: string[] | false;
} {
  // routerOptions: the top-level maxParamLength is deprecated in Fastify 5 (FSTDEP022).
  const limits = { bodyLimit: REQUEST_LIMITS.bodyBytes, routerOptions: { maxParamLength: REQUEST_LIMITS.paramChars }, trustProxy: trustedProxies(security.trustProxy ?? []) };
  if (security.tls === undefined) return { ...limits, http: { ...server, maxHeaderSize: REQUEST_LIMITS.headerBytes } };
  return { ...limits, https: { ...server, ...tlsFiles(security.tls), maxHeaderSize: REQUEST_LIMITS.headerBytes } };
}

/**
 * Refuses (BAD_CONFIG) a gateway that protected mode forbids, then registers
 * the security plugins on `app`. Call before registering any route.
 */
export function registerGatewaySecurity(app: FastifyInstance, security: GatewaySecurityOptions, host: string): void {
  const keys = security.keys ?? ApiKeyRing.empty();
  assertProtectedMode({ host, keyCount: keys.size, insecure: security.insecure === true });
  const rate = security.rateLimit === undefined ? undefined : settingOf(security.rateLimit).value;
  app.log.info({ apiKeys: keys.describe(), tls: security.tls !== undefined, rateLimit: rate && rate.max > 0 ? `${rate.max}/${rate.windowMs}ms` : 'off', corsOrigins: security.corsOrigins ?? [], trustProxy: security.trustProxy ?? [] }, 'gateway security');
  if (keys.size === 0 && !isLoopbackHost(host)) app.log.warn({ host }, 'serving the API without API keys on a non-loopback address (--insecure): anyone who can reach it can read the fleet');
  const origins = security.corsOrigins ?? [];
  if (origins.length > 0) {
    // First, so that a 401 or 429 still carries the CORS headers and a browser page can read why.
    void app.register(cors, {
      origin: origins,
      methods: ['GET', 'HEAD', 'POST'],
      allowedHeaders: ['Authorization', 'X-API-Key', 'Content-Type'],
      exposedHeaders: ['X-Request-Id', 'Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'],
      maxAge: 600,
    });
  }
  registerSecurityHeaders(app, {
    // gputel's own pages (the dashboard, /docs, /graphiql) load scripts and styles from the gateway only, never a CDN,
    // with no inline script: script-src 'self'. Inline style attributes (Swagger UI, GraphiQL) need 'unsafe-inline' styles.
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        baseUri: ["'self'"],
        connectSrc: ["'self'"],
        fontSrc: ["'self'", 'data:'],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        imgSrc: ["'self'", 'data:'],
        objectSrc: ["'none'"],
        scriptSrc: ["'self'"],
        scriptSrcAttr: ["'none'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        // Only over HTTPS: on a plain-HTTP gateway the browser would rewrite the page's API calls to https:// and fail.
        ...(security.tls === undefined ? {} : { upgradeInsecureRequests: [] }),
      },
    },
    // HSTS means something only over HTTPS (browsers ignore it on http:// answers).
    strictTransportSecurity: security.tls === undefined ? false : { maxAge: 180 * 86_400 },
  });
  // After CORS and helmet, so that this refusal carries their headers too; not encapsulated, so it covers every route.
  const urlLimit = async (instance: FastifyInstance): Promise<void> => {
    instance.addHook('onRequest', async (request) => {
      if (request.url.length > REQUEST_LIMITS.urlChars) {
        throw new GputelError('URI_TOO_LONG', `the request URL is ${request.url.length} characters; the gateway accepts at most ${REQUEST_LIMITS.urlChars} (ask for fewer metrics or GPUs per request)`);
      }
    });
  };
  void app.register(Object.assign(urlLimit, { [Symbol.for('skip-override')]: true }));
  registerAccessControl(app, { keys, rateLimit: security.rateLimit ?? { max: 0, windowMs: 60_000 }, allowedOrigins: origins });
}

/**
 * Fastify's trustProxy: false for none (not an empty list, which Fastify
 * takes as "on" and then asks proxy-addr about every request for nothing).
 * Checked here as well as in the configuration: options built in code skip
 * that, and proxy-addr would throw a TypeError naming no setting.
 */
function trustedProxies(addresses: readonly string[]): string[] | false {
  const bad = addresses.find((address) => !isAddressRange(address));
  if (bad !== undefined) {
    throw new GputelError('BAD_CONFIG', `--trust-proxy: ${JSON.stringify(bad)} is not an IP address or a CIDR range: give the load balancers' addresses, e.g. 127.0.0.1,10.0.0.0/8`);
  }
  return addresses.length === 0 ? false : [...addresses];
}

/** What a client's X-Request-Id may be to be kept: a token that cannot forge or bloat a log line. */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request id: the client's `X-Request-Id` when it is 1-128 token characters (to follow one call across services), else a new UUID. */
export function requestIdOf(header: string | string[] | undefined): string {
  return typeof header === 'string' && CLIENT_REQUEST_ID.test(header) ? header : randomUUID();
}

/** The certificate and key, checked together now: a key that does not match the certificate must stop the start, not every handshake. */
function tlsFiles(tls: { certFile: string; keyFile: string }): { cert: Buffer; key: Buffer } {
  const files = { cert: readPemFile(tls.certFile, '--tls-cert'), key: readPemFile(tls.keyFile, '--tls-key') };
  try {
    createSecureContext(files);
  } catch (error) {
    throw new GputelError('BAD_CONFIG', `--tls-cert ${tls.certFile} and --tls-key ${tls.keyFile} cannot serve TLS (${errorMessage(error)}): give a PEM certificate and the private key it was issued for`, { cause: error });
  }
  return files;
}
