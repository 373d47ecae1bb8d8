/**
 * The API's description of itself: `GET /openapi.json` (OpenAPI 3.1.0, from
 * @fastify/swagger, built from the routes' TypeBox schemas) and Swagger UI at
 * `/docs` (@fastify/swagger-ui, its assets served from the package: the page
 * works offline). Also the two rules that make the schemas the one source:
 * strict query parameters, and response schemas that document without
 * changing what is sent.
 */
import { readFileSync } from 'node:fs';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { registerStrictQuery } from '../common/strict-query.js';
import { responses as openResponses } from '../common/error-responses.js';
import { NoQuery } from './api-schemas.js';

const PACKAGE = new URL('../../../package.json', import.meta.url);

const DESCRIPTION = `GPU telemetry of one cluster: GPUs, hosts, raw and downsampled telemetry, newest values, summaries and totals.

Every answer is JSON; every error answer is \`{"error":{"code","message"}}\` with a stable code. Every route refuses a query parameter it does not take, one given twice, and an integer not written in decimal digits.`;

/**
 * Registers the document, Swagger UI, strict query parameters and the
 * serializer. Call before adding routes (the document lists the routes added
 * after its plugin has loaded: add them in `app.after()`).
 */
export function registerApiDocs(app: FastifyInstance): void {
  const { version } = JSON.parse(readFileSync(PACKAGE, 'utf8')) as { version: string };
  registerStrictQuery(app);
  // Answers are written with JSON.stringify, as before response schemas were
  // declared: fast-json-stringify would drop any field a schema does not list
  // and coerce mistyped values silently. The bulk answers (/gpus, telemetry)
  // are Buffers already and are sent as they are.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  void app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'gputel gateway', version, description: DESCRIPTION, license: { name: 'Apache-2.0', identifier: 'Apache-2.0' } },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'an API key from `gputel keys create`, when the gateway has keys (docs/security.md)' },
          apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'the same key in X-API-Key' },
        },
      },
      // Either scheme; routes that need no key (probes, pages, this document) say `security: []`.
      security: [{ bearerAuth: [] }, { apiKeyHeader: [] }],
      tags: [
        { name: 'gpus', description: 'GPUs and their telemetry' },
        { name: 'hosts', description: 'hosts and their GPUs' },
        { name: 'fleet', description: 'summaries and totals' },
        { name: 'ops', description: 'health, readiness and Prometheus metrics' },
        { name: 'docs', description: 'this document' },
      ],
    },
  });
  void app.register(fastifySwaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true } });
  app.after((error) => {
    if (error) throw error;
    app.get(
      '/openapi.json',
      {
        schema: {
          summary: 'This API as an OpenAPI 3.1.0 document',
          security: [],
          description: 'Built from the same schemas that validate the requests. Swagger UI at /docs renders it.',
          tags: ['docs'],
          querystring: NoQuery,
          response: openResponses({ 200: Type.Object({}, { additionalProperties: true, description: 'the OpenAPI document' }) }),
        },
      },
      async () => app.swagger(),
    );
  });
}
