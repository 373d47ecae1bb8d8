/**
 * The security headers of every answer (Content-Security-Policy, HSTS over
 * HTTPS, X-Content-Type-Options, …), as helmet writes them, computed once.
 *
 * Why not @fastify/helmet: it calls `helmet(options)` on every request,
 * which parses the CSP directives and builds every middleware again. Profiled
 * under load on `/api/v1/gpus` (bench/gateway.ts --profile), that was 16% of
 * the gateway's CPU. The headers depend only on the options, so helmet runs
 * once here, against a response that records what it sets, and each request
 * gets the recorded headers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';

/** The headers `helmet(options)` sets on a response, by lower-case name. */
export function helmetHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    // helmet removes X-Powered-By, which Fastify never sets.
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  let failure: unknown;
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (error?: unknown) => {
    failure = error;
  });
  if (failure instanceof Error) throw failure;
  if (failure !== undefined && failure !== null) throw new Error(`helmet refused its options: ${String(failure)}`);
  return headers;
}

/**
 * Adds `helmetHeaders(options)` to every answer of `app`, from the first hook
 * on: refusals by later hooks carry them too. They are Fastify reply headers:
 * a route that writes its answer on the raw response after `reply.hijack()`
 * must set them itself (none does today).
 */
export function registerSecurityHeaders(app: FastifyInstance, options: HelmetOptions): void {
  const headers = helmetHeaders(options);
  // A callback hook, not an async one: it runs on every request, and a promise each is measurable.
  app.addHook('onRequest', (_request, reply, done) => {
    void reply.headers(headers);
    done();
  });
}
