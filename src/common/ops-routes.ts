/**
 * /healthz, /readyz, /metrics and /config, mounted on every role's HTTP server.
 * /healthz says the process is alive; /readyz asks each dependency and
 * answers 503 with the failing checks when one does not answer.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { responses } from './error-responses.js';
import { errorMessage } from './gputel-error.js';
import type { LiveSettings } from './live-settings.js';
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

const SettingRow = Type.Object(
  {
    key: Type.String({ description: 'the flag name, e.g. batch-samples' }),
    value: Type.String({ description: "in effect, in the flag's syntax (5m, 600/min); secrets read (hidden)" }),
    source: Type.Enum(['flag', 'environment', 'config file', 'default', 'live'], { description: 'where the value in effect came from' }),
    live: Type.Boolean({ description: 'whether gputel config set changes it at run time' }),
    effective: Type.Optional(
      Type.String({ description: 'what the process uses when it differs from value, and why: low-watermark 0 reads "500 (half of high-watermark)"' }),
    ),
    rejected: Type.Optional(
      Type.Object({ value: Type.String(), reason: Type.String() }, { description: 'a live value that was refused; the value above stayed in effect' }),
    ),
  },
  { title: 'SettingInEffect' },
);
const CONFIG = {
  summary: 'Settings in effect in this process, and where each came from',
  description: 'Every setting with its value and source (flag, environment, config file, default, live); API keys and passwords are never shown. docs/configuration.md.',
  tags: ['ops'],
  querystring: NoQuery,
  response: responses({ 200: Type.Object({ settings: Type.Array(SettingRow) }, { title: 'Settings', description: 'the settings in effect' }) }),
};

/** Registers /healthz, /readyz, /metrics, and /config when the process's settings are given. */
export function registerOpsRoutes(app: FastifyInstance, checks: () => ReadinessCheck[], settings?: LiveSettings): void {
  if (settings !== undefined) app.get('/config', { schema: CONFIG }, async () => ({ settings: settings.describe() }));
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
