/**
 * /healthz, /readyz and /metrics, mounted on every role's HTTP server.
 * /healthz says the process is alive; /readyz asks each dependency and
 * answers 503 with the failing checks when one does not answer.
 */
import type { FastifyInstance } from 'fastify';
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

export function registerOpsRoutes(app: FastifyInstance, checks: () => ReadinessCheck[]): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const results = await Promise.all(checks().map(runCheck));
    const ready = results.every((r) => r.ok);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks: results });
  });
  app.get('/metrics', async (_request, reply) => {
    return reply.type(metricsRegistry.contentType).send(await metricsRegistry.metrics());
  });
}
