/**
 * GET /graphiql and /graphiql/assets/{name}: GraphiQL 3 (UMD) with React 18,
 * served from the installed packages at this gateway's own URLs, so it works
 * offline and under a Content-Security-Policy of script-src 'self'
 * (mercurius's built-in page loads them from a CDN). Only the files listed
 * here are served; each is read once, on first request.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { GputelError } from '../../common/gputel-error.js';

const require = createRequire(import.meta.url);
const PAGE_DIR = fileURLToPath(new URL('../../../../web/graphiql/', import.meta.url));
const packageDir = (name: string): string => dirname(require.resolve(`${name}/package.json`));

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Asset name → file. The source maps are there for the browser's developer tools, which follow the bundles' sourceMappingURL. */
function assetFiles(): Map<string, string> {
  const graphiql = packageDir('graphiql');
  return new Map([
    ['graphiql.min.js', join(graphiql, 'graphiql.min.js')],
    ['graphiql.min.js.map', join(graphiql, 'graphiql.min.js.map')],
    ['graphiql.min.css', join(graphiql, 'graphiql.min.css')],
    ['graphiql.min.css.map', join(graphiql, 'graphiql.min.css.map')],
    // React's package exports do not list umd/: resolve the package, then the file.
    ['react.production.min.js', join(packageDir('react'), 'umd', 'react.production.min.js')],
    ['react-dom.production.min.js', join(packageDir('react-dom'), 'umd', 'react-dom.production.min.js')],
    ['graphiql-start.js', join(PAGE_DIR, 'graphiql-start.js')],
    ['graphiql-page.css', join(PAGE_DIR, 'graphiql-page.css')],
    // The dashboard's icon, from its source: GraphiQL has it whether or not the dashboard is built.
    ['favicon.svg', join(PAGE_DIR, '..', 'dashboard', 'favicon.svg')],
  ]);
}

function typeOf(name: string): string {
  return TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream';
}

export function registerGraphiqlPage(app: FastifyInstance): void {
  const files = assetFiles();
  const cache = new Map<string, Promise<Buffer>>();
  const read = (file: string): Promise<Buffer> => {
    let bytes = cache.get(file);
    if (!bytes) {
      bytes = readFile(file);
      // A failed read (a package removed under a running gateway) is tried again next time.
      bytes.catch(() => cache.delete(file));
      cache.set(file, bytes);
    }
    return bytes;
  };

  app.get('/graphiql', async (_request, reply) => reply.type(TYPES['.html']).header('cache-control', 'no-cache').send(await read(join(PAGE_DIR, 'index.html'))));
  app.get<{ Params: { name: string } }>('/graphiql/assets/:name', async (request, reply) => {
    const file = files.get(request.params.name);
    if (!file) throw new GputelError('NOT_FOUND', `no GraphiQL asset "${request.params.name}": the page at /graphiql lists them`);
    // Assets change only with gputel's version; an hour keeps a reload cheap without pinning an old bundle for long.
    return reply.type(typeOf(request.params.name)).header('cache-control', 'public, max-age=3600').send(await read(file));
  });
}
