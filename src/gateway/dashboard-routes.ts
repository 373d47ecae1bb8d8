/**
 * The web dashboard (docs/dashboard.md): `GET /` is the page Vite built into
 * dist/web/dashboard (`npm run build`), and `/assets/…` its hashed script
 * and styles, served by @fastify/static. Both are open: a browser cannot
 * send a key on a page load; the page asks for one and sends it with its API
 * calls. A checkout built with tsc alone has no dashboard: `/` then answers
 * 503 with a page that says how to build it, and the API works as usual.
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { responses as openResponses } from '../common/error-responses.js';
import { HTML_PAGE, NoQuery } from './api-schemas.js';

/** Where `npm run build` puts the dashboard (this file is dist/src/gateway/ once compiled). */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../web/dashboard/', import.meta.url));
/** The URL prefix of the dashboard's built files (Vite's `assets/` folder at base `/`). */
export const DASHBOARD_ASSET_PREFIX = '/assets/';

/** The browser's default icon URLs: the page's and GraphiQL's (both link the icon, but a browser or tool may still ask here). */
export const FAVICON_PATHS = ['/favicon.ico', '/graphiql/favicon.ico'] as const;
/** Vite's name for the built icon, `favicon-HASH.svg` (web/dashboard/favicon.svg, linked from index.html). */
const BUILT_FAVICON = /^favicon-[\w-]+\.svg$/;
/** Not an API: left out of the OpenAPI document, as GraphiQL's files are. */
const ICON_SCHEMA = { hide: true };
/** The icon's URLs carry no hash: a day in the cache, so a new icon shows the next day at the latest. */
const ICON_CACHE = 'public, max-age=86400';

const NOT_BUILT = { description: 'the dashboard is not built (run npm run build)', content: { 'text/html': { schema: Type.String() } } };
const PAGE_SCHEMA = { summary: 'The web dashboard (HTML)', tags: ['docs'], security: [], querystring: NoQuery, response: openResponses({ 200: HTML_PAGE, 503: NOT_BUILT }) };
/** Vite names each built file by a hash of its content: a name never changes content, so browsers may keep it for a year. */
const ASSET_MAX_AGE_MS = 365 * 86_400_000;

/** Registers `/` and `/assets/*` from `dir` (default DASHBOARD_DIR), or the 503 page when `dir` holds no built dashboard. */
export function registerDashboardRoutes(app: FastifyInstance, dir = DASHBOARD_DIR): void {
  const index = join(dir, 'index.html');
  const assets = join(dir, 'assets');
  if (!existsSync(index)) {
    app.log.warn({ dir }, 'the web dashboard is not built: / answers 503 until `npm run build` is run and the gateway restarted');
    app.get('/', { schema: PAGE_SCHEMA, config: { access: 'open' } }, async (_request, reply) => reply.code(503).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(notBuiltPage(dir)));
    return;
  }
  // Read on each load (it is small): a rebuild while the gateway runs is served at once, with its new asset names.
  app.get('/', { schema: PAGE_SCHEMA, config: { access: 'open' } }, async (_request, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(await readFile(index)));
  if (existsSync(assets)) {
    void app.register(fastifyStatic, { root: assets, prefix: DASHBOARD_ASSET_PREFIX, decorateReply: false, index: false, maxAge: ASSET_MAX_AGE_MS, immutable: true });
    registerFavicon(app, assets);
  }
}

/** `/favicon.ico` and `/graphiql/favicon.ico` answer the built icon (an SVG): without them every page load logs a 404. */
function registerFavicon(app: FastifyInstance, assets: string): void {
  const name = readdirSync(assets).find((file) => BUILT_FAVICON.test(file));
  if (name === undefined) return;
  const file = join(assets, name);
  for (const path of FAVICON_PATHS) {
    app.get(path, { schema: ICON_SCHEMA, config: { access: 'open' } }, async (_request, reply) => reply.type('image/svg+xml').header('cache-control', ICON_CACHE).send(await readFile(file)));
  }
}

function notBuiltPage(dir: string): string {
  const escaped = dir.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gputel: dashboard not built</title></head>
<body style="font: 15px/1.5 system-ui, sans-serif; margin: 2rem; max-width: 46rem">
<h1>The dashboard is not built</h1>
<p>This gateway found no built dashboard in <code>${escaped}</code>. Build it in the gputel checkout with</p>
<pre>npm run build</pre>
<p>(it runs <code>tsc</code>, then <code>vite build</code> into <code>dist/web/dashboard</code>), then restart the gateway.
The API works meanwhile: <a href="/docs">/docs</a>, <a href="/api/v1/gpus">/api/v1/gpus</a>.</p>
</body></html>
`;
}
