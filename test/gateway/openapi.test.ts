/**
 * The API's self-description, over real HTTP against a gateway on the
 * embedded store: GET /openapi.json is a valid OpenAPI 3.1.0 document that
 * lists every route the gateway registered with its error responses, every
 * documented route refuses an unknown parameter, and Swagger UI at /docs
 * loads every asset from the gateway itself.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import type { RouteOptions } from 'fastify';
import { createLogger } from '../../src/common/logger.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore } from '../../src/kv/kv-store.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';

type Operation = { summary?: string; description?: string; parameters?: { name: string; in: string }[]; responses: Record<string, { description?: string; content?: Record<string, { schema: unknown }> }> };
type Document = { openapi: string; info: { title: string; version: string }; paths: Record<string, Record<string, Operation>> };

/** API routes need a key with a role when keys are configured (docs/security.md). */
const KEYED = [401, 403];

/** The error statuses each route documents beyond 400, 429 and 500 (every route's). */
const ROUTE_ERRORS: Record<string, number[]> = {
  '/api/v1/gpus': [...KEYED],
  '/api/v1/gpus/{id}': [...KEYED, 404, 409, 503],
  '/api/v1/gpus/{id}/telemetry': [...KEYED, 404, 409, 503],
  '/api/v1/gpus/{id}/latest': [...KEYED, 404, 409, 503],
  '/api/v1/hosts': [...KEYED],
  '/api/v1/hosts/{hostname}/gpus': [...KEYED, 404],
  '/api/v1/hosts/{hostname}/latest': [...KEYED, 404, 503],
  '/api/v1/hosts/{hostname}/summary': [...KEYED, 404],
  '/api/v1/summary': [...KEYED],
  '/api/v1/stats': [...KEYED, 503],
  '/healthz': [],
  '/readyz': [503],
  '/metrics': [],
  '/openapi.json': [],
  '/': [503],
};

const ERROR_SHAPE = {
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'object', required: ['code', 'message'] } },
};

/** The status of a GET, its body read (an unread body holds the connection, and the gateway's close waits for it). */
async function statusOf(url: URL): Promise<number> {
  const response = await fetch(url);
  await response.arrayBuffer();
  return response.status;
}

/** Fastify's /:id to OpenAPI's /{id}. */
const openApiPath = (url: string): string => url.replace(/:(\w+)/g, '{$1}');

describe('OpenAPI document and Swagger UI', () => {
  let kv: KvStore;
  let gateway: Gateway;
  let base: string;
  const registered: { url: string; methods: string[]; readonly hidden: boolean }[] = [];
  before(async () => {
    kv = await openKvStore({ dataDir: ':memory:' });
    gateway = new Gateway(kv, new KeySpace('/gputel'), { cluster: 'default', host: '127.0.0.1', port: 0, logger: createLogger('silent') });
    // The routes are added when the gateway starts (after its document's plugin): this sees every one.
    gateway.app.addHook('onRoute', (route: RouteOptions) => {
      const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((method) => method !== 'HEAD');
      // Read when checked: a plugin's own onRoute hook (GraphQL's) may hide the route after this one ran.
      registered.push({ url: route.url, methods, get hidden() { return (route.schema as { hide?: boolean } | undefined)?.hide === true; } });
    });
    await gateway.start();
    base = `http://127.0.0.1:${gateway.port}`;
  });
  after(async () => {
    await gateway?.stop();
    await kv?.close();
  });

  const fetchDocument = async (): Promise<Document> => {
    const response = await fetch(`${base}/openapi.json`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    return (await response.json()) as Document;
  };

  it('serves a valid OpenAPI 3.1.0 document', async () => {
    const document = await fetchDocument();
    assert.equal(document.openapi, '3.1.0');
    assert.equal(document.info.title, 'gputel gateway');
    // validate() dereferences in place: give it a copy.
    await SwaggerParser.validate(structuredClone(document) as never);
    // API keys: Swagger UI's Authorize sends one; the probes, pages and this document need none.
    const described = document as unknown as { components: { securitySchemes: Record<string, { type: string }> }; security: unknown[]; paths: Record<string, Record<string, { security?: unknown[] }>> };
    assert.deepEqual(Object.keys(described.components.securitySchemes).sort(), ['apiKeyHeader', 'bearerAuth']);
    assert.equal(described.security.length, 2);
    for (const path of ['/healthz', '/readyz', '/openapi.json', '/']) assert.deepEqual(described.paths[path].get.security, [], path);
    assert.equal(described.paths['/api/v1/gpus'].get.security, undefined, 'API routes take the document-wide schemes');
  });

  it('lists every route the gateway registered, with its methods, a summary and its error responses', async () => {
    const { paths } = await fetchDocument();
    const visible = registered.filter((route) => !route.hidden);
    assert.ok(visible.some((route) => route.url.startsWith('/api/v1/')), 'the hook saw the API routes');
    for (const route of visible) {
      const path = openApiPath(route.url);
      assert.ok(paths[path], `${path} is documented`);
      for (const method of route.methods) {
        const operation = paths[path][method.toLowerCase()];
        assert.ok(operation, `${method} ${path} is documented`);
        assert.ok(operation.summary && operation.summary.length > 0, `${method} ${path} has a summary`);
        const statuses = Object.keys(operation.responses).map(Number);
        assert.ok(statuses.includes(200), `${path}: 200`);
        assert.notEqual(operation.responses['200'].description ?? 'Default Response', 'Default Response', `${path}: 200 says what it is`);
        assert.ok(ROUTE_ERRORS[path], `${path} has an expected list in this test`);
        assert.deepEqual(statuses.filter((status) => status >= 400).sort(), [400, 429, 500, ...ROUTE_ERRORS[path]].sort(), `${path}: error statuses`);
        // /readyz's 503 lists its checks; the dashboard's 503 is a page saying to run npm run build.
        for (const status of statuses.filter((s) => s >= 400 && !((path === '/readyz' || path === '/') && s === 503))) {
          const response = operation.responses[String(status)];
          assert.ok(response.description, `${path} ${status} says when`);
          const schema = response.content?.['application/json']?.schema as Record<string, unknown>;
          assert.deepEqual(schema.required, ERROR_SHAPE.required, `${path} ${status}: {"error":…}`);
          assert.deepEqual((schema.properties as { error: { required: string[] } }).error.required, ERROR_SHAPE.properties.error.required);
        }
      }
    }
    // Nothing documented that the gateway does not serve.
    const served = new Set(visible.map((route) => openApiPath(route.url)));
    assert.deepEqual(Object.keys(paths).filter((path) => !served.has(path)), []);
    assert.deepEqual(Object.keys(ROUTE_ERRORS).sort(), [...served].sort(), 'this test names every route');
  });

  it('documents integer parameters as integers with their range, and the metric selection', async () => {
    const { paths } = await fetchDocument();
    const parameters = (paths['/api/v1/gpus/{id}/telemetry'].get.parameters ?? []) as unknown as { name: string; schema: Record<string, unknown> }[];
    const limit = parameters.find((p) => p.name === 'limit')!;
    assert.deepEqual({ type: limit.schema.type, minimum: limit.schema.minimum, maximum: limit.schema.maximum }, { type: 'integer', minimum: 1, maximum: 100_000 });
    assert.ok(parameters.some((p) => p.name === 'metrics'));
    const filters = (paths['/api/v1/gpus'].get.parameters ?? []).map((p) => p.name).sort();
    assert.deepEqual(filters, ['hostname', 'model', 'namespace', 'pod', 'status']);
  });

  it('refuses an unknown query parameter on every documented route, in the error shape', async () => {
    const { paths } = await fetchDocument();
    for (const path of Object.keys(paths)) {
      const url = `${base}${path.replace('{id}', 'GPU-x').replace('{hostname}', 'host-x')}?bogus=1`;
      const response = await fetch(url);
      assert.equal(response.status, 400, url);
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'BAD_REQUEST');
      assert.match(body.error.message, /unknown parameter "bogus"/, url);
    }
  });

  it('serves Swagger UI at /docs with every asset from the gateway itself', async () => {
    for (const page of [`${base}/docs`, `${base}/docs/`]) {
      const response = await fetch(page);
      assert.equal(response.status, 200, page);
      assert.match(response.headers.get('content-type') ?? '', /text\/html/);
      const html = await response.text();
      const referenced = [...html.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((match) => match[1]);
      assert.ok(referenced.length >= 5, `${page} references its scripts and styles`);
      for (const reference of referenced) {
        const url = new URL(reference, page);
        assert.equal(url.host, new URL(base).host, `${reference} is served by the gateway`);
        assert.equal(await statusOf(url), 200, url.href);
      }
    }
    const initializer = await fetch(`${base}/docs/static/swagger-initializer.js`);
    assert.equal(initializer.status, 200);
    const code = (await initializer.text())
      .split('\n')
      .filter((line) => !line.trim().startsWith('//'))
      .join('\n');
    assert.doesNotMatch(code, /https?:\/\//, 'the initializer loads nothing from another host');
    const loaded = [...code.matchAll(/resolveUrl\('([^']+)'\)/g)].map((match) => match[1]);
    assert.ok(loaded.includes('./json'), 'the page loads the document from the gateway');
    for (const reference of loaded) assert.equal(await statusOf(new URL(reference, `${base}/docs/`)), 200, reference);
    assert.deepEqual(await (await fetch(`${base}/docs/json`)).json(), await fetchDocument(), 'Swagger UI shows /openapi.json');
  });
});
