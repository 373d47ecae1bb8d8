/**
 * Checks a running gateway against the oracle: every GPU and host, and every
 * value at every timestamp, plus the sample count.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { expectedSeries, type OracleRow } from './csv-oracle.js';

export async function getJson<T = Record<string, unknown>>(url: string): Promise<{ status: number; body: T }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as T };
}

/** Polls /api/v1/stats until samples reaches `samples` (or the timeout). */
export async function waitForSamples(baseUrl: string, samples: number, timeoutMs = 60_000): Promise<Record<string, number>> {
  const deadline = Date.now() + timeoutMs;
  let last: Record<string, number> = {};
  while (Date.now() < deadline) {
    try {
      last = (await getJson<Record<string, number>>(`${baseUrl}/api/v1/stats`)).body;
      if (last.samples >= samples) return last;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(`stats never reached ${samples} samples; last: ${JSON.stringify(last)}`);
}

type ApiRecord = { timestamp: string; uuid: string; metrics: Record<string, number | null>; [field: string]: unknown };

export async function fetchAllTelemetry(baseUrl: string, id: string, pageSize = 10_000): Promise<ApiRecord[]> {
  const records: ApiRecord[] = [];
  let cursor: string | null = null;
  do {
    const url: string = `${baseUrl}/api/v1/gpus/${encodeURIComponent(id)}/telemetry?limit=${pageSize}${cursor ? `&cursor=${cursor}` : ''}`;
    const { status, body } = await getJson<{ data: ApiRecord[]; count: number; next_cursor: string | null }>(url);
    assert.equal(status, 200, `GET ${url}`);
    assert.equal(body.count, body.data.length);
    records.push(...body.data);
    cursor = body.next_cursor;
  } while (cursor);
  return records;
}

type ApiGpu = { id: string; uuid: string; hostname: string; gpu_id: number };

/**
 * Asserts the API serves exactly the oracle's GPUs, hosts, samples and values.
 * `uuidOf` names a series when a UUID alone does not (one UUID on two hosts),
 * `idOf` the id to ask its telemetry by (default: the `id` the listing gives it).
 */
export async function assertApiMatches(
  baseUrl: string,
  rows: OracleRow[],
  options: { pageSize?: number; uuidOf?: (gpu: ApiGpu) => string; idOf?: (gpu: ApiGpu) => string } = {},
): Promise<void> {
  const uuidOf = options.uuidOf ?? ((gpu: ApiGpu) => gpu.uuid);
  const idOf = options.idOf ?? ((gpu: ApiGpu) => gpu.id);
  const expected = expectedSeries(rows);
  const hostCount = new Set(rows.map((r) => r.hostname)).size;
  // The GPU and host counts come from the gateway's registry, which follows the store by watch: it may
  // trail the counters it reads directly by a moment after the last commit. Wait (bounded) for it.
  let stats = (await getJson<Record<string, number>>(`${baseUrl}/api/v1/stats`)).body;
  for (let i = 0; i < 50 && (stats.gpus !== expected.size || stats.hosts !== hostCount); i++) {
    await sleep(100);
    stats = (await getJson<Record<string, number>>(`${baseUrl}/api/v1/stats`)).body;
  }
  assert.equal(stats.samples, rows.length, 'samples = good rows');
  const expectedRecords = [...expected.values()].reduce((n, byTime) => n + byTime.size, 0);
  assert.equal(stats.records, expectedRecords, 'records = GPU × timestamp pairs');

  const gpus = (await getJson<{ data: ApiGpu[]; count: number }>(`${baseUrl}/api/v1/gpus`)).body;
  assert.deepEqual(gpus.data.map(uuidOf).sort(), [...expected.keys()].sort(), 'the GPUs');
  assert.equal(gpus.count, expected.size);
  const hostnames = [...new Set(rows.map((r) => r.hostname))].sort();
  const hosts = (await getJson<{ data: { hostname: string; gpu_count: number }[] }>(`${baseUrl}/api/v1/hosts`)).body;
  assert.deepEqual(hosts.data.map((h) => h.hostname), hostnames, 'the hosts');
  assert.equal(stats.gpus, expected.size);
  assert.equal(stats.hosts, hostnames.length);

  for (const gpu of gpus.data) {
    const uuid = uuidOf(gpu);
    const byTime = expected.get(uuid)!;
    const records = await fetchAllTelemetry(baseUrl, idOf(gpu), options.pageSize);
    const times = [...byTime.keys()].sort((a, b) => a - b);
    assert.deepEqual(records.map((r) => Date.parse(r.timestamp)), times, `timestamps of ${uuid}`);
    for (const record of records) {
      const want = byTime.get(Date.parse(record.timestamp))!;
      for (const [metric, value] of want) assert.equal(record.metrics[metric], value, `${uuid} ${record.timestamp} ${metric}`);
      for (const [metric, value] of Object.entries(record.metrics)) {
        if (!want.has(metric)) assert.equal(value, null, `${uuid} ${record.timestamp} ${metric} absent → null`);
      }
      assert.equal(record.gpu_utilization, want.get('DCGM_FI_DEV_GPU_UTIL') ?? null);
      assert.equal(record.temperature, want.get('DCGM_FI_DEV_GPU_TEMP') ?? null);
      assert.equal(record.power_draw, want.get('DCGM_FI_DEV_POWER_USAGE') ?? null);
    }
  }
}
