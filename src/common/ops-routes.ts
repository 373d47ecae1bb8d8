/**
 * /healthz, /readyz and /metrics, mounted on every role's HTTP server.
 * /healthz says the process is alive; /readyz asks each dependency and
 * answers 503 with the failing checks when one does not answer.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { responses } from './error-responses.js';
import { errorMessage } from './gputel-error.js';
import { metricsRegistry } from './metrics.js';

/** A named dependency check: resolves when healthy, rejects with the reason otherwise. */
export type ReadinessCheck = { name: string; check: () => Promise<void> };

const CHECK_TIMEOUT_MS = 2_000;

async function runCheck(check: ReadinessCheck): Promise<{ name: string; ok: boolean; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check.check(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return { name: check.name, ok: true };
  } catch (error) {
    return { name: check.name, ok: false, error: errorMessage(error) };
  } finally {
    clearTimeout(timer);
  }
}

const NoQuery = Type.Object({}, { additionalProperties: false });
const Readiness = Type.Object(
  {
    status: Type.Enum(['ready', 'not ready']),
    checks: Type.Array(Type.Object({ name: Type.String(), ok: Type.Boolean(), error: Type.Optional(Type.String({ description: 'why the check failed' })) })),
  },
  { title: 'Readiness' },
);

const HEALTHZ = {
  summary: 'Liveness: the process answers',
  security: [],
  tags: ['ops'],
  querystring: NoQuery,
  response: responses({ 200: Type.Object({ status: Type.Literal('ok') }, { title: 'Health', description: 'the process answers' }) }),
};
const READYZ = {
  summary: 'Readiness: every dependency answers',
  security: [],
  description: `Runs each check (the store, the registry, the other roles of gputel start) with a ${CHECK_TIMEOUT_MS} ms timeout; 503 lists the failing ones.`,
  tags: ['ops'],
  querystring: NoQuery,
  response: responses({ 200: Type.Object(Readiness.properties, { description: 'every check passed' }), 503: Type.Object(Readiness.properties, { description: 'a check failed' }) }),
};
const METRICS = {
  summary: 'Prometheus metrics of this process (text exposition format)',
  tags: ['ops'],
  querystring: NoQuery,
  response: responses({ 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: Type.String() } } } }),
};

export function registerOpsRoutes(app: FastifyInstance, checks: () => ReadinessCheck[]): void {
  app.get('/healthz', { schema: HEALTHZ }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: READYZ }, async (_request, reply) => {
    const results = await Promise.all(checks().map(runCheck));
    const ready = results.every((r) => r.ok);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks: results });
  });
  app.get('/metrics', { schema: METRICS }, async (_request, reply) => {
    return reply.type(metricsRegistry.contentType).send(await metricsRegistry.metrics());
  });
}
