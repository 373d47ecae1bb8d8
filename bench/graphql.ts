/**
 * GraphQL against REST on the same gateway and data (in-process pipeline,
 * embedded store): p50 and p99 over sequential requests of
 *   (a) the GPU list (256 GPUs): GET /api/v1/gpus vs `gpus { every field }`;
 *   (b) one GPU's 1,000-record page: the REST record form vs `telemetry { records { every field } }`;
 *   (c) the same page as columns: format=columns vs `telemetry { columns { … } }`.
 * REST writes its answers as bytes straight from the columns; GraphQL
 * resolves a field at a time, so the ratio is the price of its flexibility.
 * Not a test: read the ratios, and run it on a quiet machine.
 *
 *   npm run build && node dist/bench/graphql.js [--requests 200]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeGeneratedFile } from '../src/cli/generate-command.js';
import { startInProcessPipeline } from '../test/support/in-process-pipeline.js';
import { median } from './median.js';

const START_MS = Date.parse('2026-03-02T00:00:00Z');
const RECORD = 'timestamp uuid gpuId hostname gpuUtilization memoryUtilization memoryUsedMb memoryFreeMb temperature powerDraw smClockMhz memoryClockMhz metrics { name value }';
const GPU = 'id uuid gpuId hostname device model driverVersion status firstSeen lastSeen migInstanceId migProfile';

function argument(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

/** Milliseconds of each of `requests` sequential calls of `call`, after 20 to warm up. */
async function timeCalls(requests: number, call: () => Promise<void>): Promise<number[]> {
  for (let i = 0; i < 20; i++) await call();
  const times: number[] = [];
  for (let i = 0; i < requests; i++) {
    const started = performance.now();
    await call();
    times.push(performance.now() - started);
  }
  return times;
}

function p99(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)];
}

async function main(): Promise<void> {
  const requests = Number(argument('requests') ?? 200);
  const dir = mkdtempSync(join(tmpdir(), 'gputel-bench-graphql-'));
  const pipeline = await startInProcessPipeline();
  try {
    const fleet = join(dir, 'fleet.csv');
    await writeGeneratedFile(fleet, { hosts: 32, gpusPerHost: 8, durationMs: 60_000, intervalMs: 10_000, seed: 7, startMs: START_MS });
    await pipeline.ingest(fleet);
    const long = join(dir, 'long.csv');
    await writeGeneratedFile(long, { hosts: 1, gpusPerHost: 1, durationMs: 3 * 3_600_000, intervalMs: 10_000, seed: 8, startMs: START_MS });
    await pipeline.ingest(long);
    const base = pipeline.baseUrl;
    const listed = (await (await fetch(`${base}/api/v1/gpus`)).json()) as { count: number; data: { uuid: string; last_seen: string }[] };
    // The GPU of the long file is the one seen last.
    const id = listed.data.reduce((latest, gpu) => (gpu.last_seen > latest.last_seen ? gpu : latest)).uuid;
    const get = (path: string) => async (): Promise<void> => {
      const response = await fetch(`${base}${path}`);
      if (response.status !== 200) throw new Error(`GET ${path}: ${response.status}`);
      await response.arrayBuffer();
    };
    const post = (query: string) => async (): Promise<void> => {
      const response = await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
      const body = (await response.json()) as { errors?: unknown };
      if (response.status !== 200 || body.errors) throw new Error(`POST /graphql: ${response.status} ${JSON.stringify(body.errors)}`);
    };
    console.log(`${listed.count} GPUs; ${requests} sequential requests each; milliseconds`);
    console.log('| query | REST p50 | GraphQL p50 | ratio | REST p99 | GraphQL p99 |');
    console.log('|---|---|---|---|---|---|');
    for (const [name, rest, graphql] of [
      ['GPU list', get('/api/v1/gpus'), post(`{ gpus { ${GPU} } }`)],
      ['1,000 records', get(`/api/v1/gpus/${id}/telemetry?limit=1000`), post(`{ telemetry(id: "${id}", limit: 1000) { count nextCursor records { ${RECORD} } } }`)],
      ['1,000 records as columns', get(`/api/v1/gpus/${id}/telemetry?limit=1000&format=columns`), post(`{ telemetry(id: "${id}", limit: 1000) { count nextCursor columns { timestamps metrics { name values } } } }`)],
    ] as const) {
      const restTimes = await timeCalls(requests, rest);
      const graphqlTimes = await timeCalls(requests, graphql);
      const [a, b] = [median(restTimes), median(graphqlTimes)];
      console.log(`| ${name} | ${a.toFixed(2)} | ${b.toFixed(2)} | ${(b / a).toFixed(1)}× | ${p99(restTimes).toFixed(2)} | ${p99(graphqlTimes).toFixed(2)} |`);
    }
  } finally {
    await pipeline.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
