/**
 * Unknown paths and unsupported methods: a path some route serves, asked
 * with a method none of its routes takes, is 405 METHOD_NOT_ALLOWED with an
 * `Allow` header; a path no route serves is 404 NOT_FOUND. Generic over the
 * routes, so routes added later (by plugins too) get it without a word.
 */
import type { FastifyInstance } from 'fastify';
import { errorBody, pathOf } from './api-error.js';

/** Conventional order of Allow; other methods follow alphabetically. */
const METHOD_ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

function byConvention(a: string, b: string): number {
  const ia = METHOD_ORDER.indexOf(a);
  const ib = METHOD_ORDER.indexOf(b);
  if (ia !== -1 || ib !== -1) return (ia === -1 ? METHOD_ORDER.length : ia) - (ib === -1 ? METHOD_ORDER.length : ib);
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Registers the not-found handler, and the onRoute hook that learns every
 * method routes use. Call before any route is declared: routes declared
 * earlier are not seen.
 */
export function registerRouteMethods(app: FastifyInstance): void {
  const methods = new Set<string>();
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) methods.add(method.toUpperCase());
    // Fastify answers HEAD on every GET route (exposeHeadRoutes).
    if (methods.has('GET')) methods.add('HEAD');
  });

  /**
   * The methods that have a route matching `path`, by Fastify's own router.
   * A root catch-all (`/*`, as a CORS preflight route can be) matches every
   * path, so it alone does not make a path known; it still adds its method
   * to the Allow of a path that is.
   */
  const allowedMethods = (path: string): string[] => {
    const specific: string[] = [];
    const everywhere: string[] = [];
    for (const method of methods) {
      const route = app.findRoute({ method: method as 'GET', url: path });
      if (!route) continue;
      const rest = (route.params as Record<string, string | undefined>)['*'];
      (rest !== undefined && `/${rest}` === path ? everywhere : specific).push(method);
    }
    return specific.length === 0 ? [] : [...specific, ...everywhere].sort(byConvention);
  };

  app.setNotFoundHandler((request, reply) => {
    const path = pathOf(request.url);
    const allowed = allowedMethods(path);
    if (allowed.length === 0) return reply.code(404).send(errorBody('NOT_FOUND', `no route ${request.method} ${path}: check the path (the REST API is under /api/v1)`));
    // A route of this method matched and found nothing: a static file that is not there (/assets/…, /docs/static/…), not a wrong method.
    if (allowed.includes(request.method)) return reply.code(404).send(errorBody('NOT_FOUND', `no file ${path}: check the name (a page's file from an older build: reload the page)`));
    return reply
      .code(405)
      .header('allow', allowed.join(', '))
      .send(errorBody('METHOD_NOT_ALLOWED', `${path} does not take ${request.method}: use ${allowed.join(', ')}`));
  });
}
