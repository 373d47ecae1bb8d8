/**
 * The REST API's contract: shapes, ordering, time ranges, pagination and
 * errors, over real HTTP against a gateway on the in-memory embedded store.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { getJson } from '../support/api-checks.js';
import { startInProcessPipeline, type InProcessPipeline } from '../support/in-process-pipeline.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/dcgm-export-sample.csv', import.meta.url));
const GPU0 = 'GPU-5fd4f087-86f3-7a43-b711-4771313afc50';
type Page = { data: Record<string, unknown>[]; count: number; next_cursor: string | null };
type ErrorBody = { error: { code: string; message: string } };

describe('REST API', () => {
  let pipeline: InProcessPipeline;
  let api: string;
  before(async () => {
    pipeline = await startInProcessPipeline();
    api = `${pipeline.baseUrl}/api/v1`;
    await pipeline.ingest(FIXTURE);
  });
  after(() => pipeline.stop());

  it('lists GPUs with exactly the documented fields, by hostname then gpu_id', async () => {
    const { status, body } = await getJson<Page>(`${api}/gpus`);
    assert.equal(status, 200);
    assert.equal(body.count, 3);
    assert.deepEqual(Object.keys(body.data[0]).sort(), ['device', 'driver_version', 'first_seen', 'gpu_id', 'hostname', 'id', 'last_seen', 'mig_instance_id', 'mig_profile', 'model', 'status', 'uuid']);
    assert.deepEqual(body.data.map((g) => `${g.hostname}:${g.gpu_id}`), ['mtv5-dgx1-hgpu-031:0', 'mtv5-dgx1-hgpu-031:1', 'mtv5-dgx1-hgpu-032:0']);
    assert.deepEqual(body.data[0], {
      id: GPU0,
      uuid: GPU0,
      gpu_id: 0,
      hostname: 'mtv5-dgx1-hgpu-031',
      mig_instance_id: null,
      mig_profile: null,
      device: 'nvidia0',
      model: 'NVIDIA H100 80GB HBM3',
      driver_version: '535.129.03',
      status: 'active',
      first_seen: '2025-07-18T20:42:34.000Z',
      last_seen: '2025-07-18T20:42:54.000Z',
    });
  });

  it('lists hosts with GPU counts and the GPUs of one host', async () => {
    const hosts = await getJson<Page>(`${api}/hosts`);
    assert.deepEqual(hosts.body.data, [
      { hostname: 'mtv5-dgx1-hgpu-031', gpu_count: 2, first_seen: '2025-07-18T20:42:34.000Z', last_seen: '2025-07-18T20:42:54.000Z' },
      { hostname: 'mtv5-dgx1-hgpu-032', gpu_count: 1, first_seen: '2025-07-18T20:42:34.000Z', last_seen: '2025-07-18T20:42:54.000Z' },
    ]);
    const gpus = await getJson<Page>(`${api}/hosts/mtv5-dgx1-hgpu-032/gpus`);
    assert.equal(gpus.body.count, 1);
    assert.equal(gpus.body.data[0].uuid, 'GPU-aa0d4e6f-1234-5678-9abc-def012345678');
  });

  it('serves telemetry records ascending with named fields, metrics and source timestamps', async () => {
    const { body } = await getJson<Page>(`${api}/gpus/${GPU0}/telemetry`);
    assert.equal(body.count, 3);
    assert.equal(body.next_cursor, null);
    assert.deepEqual(body.data.map((r) => r.timestamp), ['2025-07-18T20:42:34.000Z', '2025-07-18T20:42:44.500Z', '2025-07-18T20:42:54.000Z']);
    const first = body.data[0];
    assert.deepEqual(Object.keys(first), ['timestamp', 'uuid', 'gpu_id', 'hostname', 'mig_instance_id', 'gpu_utilization', 'memory_utilization', 'memory_used_mb', 'memory_free_mb', 'temperature', 'power_draw', 'sm_clock_mhz', 'memory_clock_mhz', 'metrics']);
    assert.equal(first.gpu_utilization, (first.metrics as Record<string, number>).DCGM_FI_DEV_GPU_UTIL);
    assert.equal(first.mig_instance_id, null, 'a whole GPU');
  });

  it('serves a metric missing at a timestamp as null, never 0', async () => {
    const { body } = await getJson<Page>(`${api}/gpus/${GPU0}/telemetry`);
    assert.equal((body.data[1].metrics as Record<string, unknown>).DCGM_FI_DEV_XID_ERRORS, null);
    assert.equal((body.data[0].metrics as Record<string, unknown>).DCGM_FI_DEV_XID_ERRORS, 0);
  });

  it('finds a GPU by hostname:gpu_id as well as by UUID', async () => {
    const byName = await getJson<Page>(`${api}/gpus/mtv5-dgx1-hgpu-031:0/telemetry`);
    assert.equal(byName.status, 200);
    assert.equal(byName.body.data[0].uuid, GPU0);
  });

  it('includes both ends of a time range, given as RFC 3339 or epoch milliseconds', async () => {
    const rfc = await getJson<Page>(`${api}/gpus/${GPU0}/telemetry?start_time=2025-07-18T20:42:44.500Z&end_time=2025-07-18T20:42:54Z`);
    assert.equal(rfc.body.count, 2);
    const epoch = await getJson<Page>(`${api}/gpus/${GPU0}/telemetry?start_time=${Date.parse('2025-07-18T20:42:34Z')}&end_time=${Date.parse('2025-07-18T20:42:34Z')}`);
    assert.deepEqual(epoch.body.data.map((r) => r.timestamp), ['2025-07-18T20:42:34.000Z']);
    const relative = await getJson<Page>(`${api}/gpus/${GPU0}/telemetry?start_time=now-15m`);
    assert.equal(relative.body.count, 0, 'the export is from 2025');
  });

  it('pages with limit and next_cursor without losing or repeating a record', async () => {
    const seen: unknown[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `${api}/gpus/${GPU0}/telemetry?limit=1${cursor ? `&cursor=${cursor}` : ''}`;
      const { body } = await getJson<Page>(url);
      seen.push(...body.data.map((r) => r.timestamp));
      cursor = body.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    assert.deepEqual(seen, ['2025-07-18T20:42:34.000Z', '2025-07-18T20:42:44.500Z', '2025-07-18T20:42:54.000Z']);
    assert.equal(pages, 3);
  });

  it('counts GPUs, hosts, records and samples', async () => {
    assert.deepEqual((await getJson(`${api}/stats`)).body, { gpus: 3, hosts: 2, records: 9, samples: 84 });
  });

  it('answers 404 GPU_NOT_FOUND and HOST_NOT_FOUND for unknown ids', async () => {
    const gpu = await getJson<ErrorBody>(`${api}/gpus/GPU-nope/telemetry`);
    assert.equal(gpu.status, 404);
    assert.equal(gpu.body.error.code, 'GPU_NOT_FOUND');
    const host = await getJson<ErrorBody>(`${api}/hosts/nope/gpus`);
    assert.equal(host.status, 404);
    assert.equal(host.body.error.code, 'HOST_NOT_FOUND');
  });

  it('answers 400 BAD_REQUEST naming the bad parameter', async () => {
    for (const [query, pattern] of [
      ['limit=0', /limit/],
      ['limit=10001', /limit/],
      ['limit=ten', /limit/],
      ['start_time=yesterday', /start_time/],
      ['end_time=2025-07-18T00:00:00Z&start_time=2025-07-19T00:00:00Z', /before start_time/],
      ['cursor=bogus', /cursor/],
      ['start=2025-07-18T00:00:00Z', /unknown parameter "start"/],
      ['start_time=2026-02-30T00:00:00Z', /start_time/],
    ] as const) {
      const { status, body } = await getJson<ErrorBody>(`${api}/gpus/${GPU0}/telemetry?${query}`);
      assert.equal(status, 400, query);
      assert.equal(body.error.code, 'BAD_REQUEST');
      assert.match(body.error.message, pattern);
    }
  });

  it('refuses a cursor of another GPU', async () => {
    const first = await getJson<Page>(`${api}/gpus/${GPU0}/telemetry?limit=1`);
    const other = await getJson<ErrorBody>(`${api}/gpus/mtv5-dgx1-hgpu-032:0/telemetry?cursor=${first.body.next_cursor}`);
    assert.equal(other.status, 400);
    assert.match(other.body.error.message, /another GPU/);
  });

  it('takes only a plain number after the colon of hostname:gpu_id', async () => {
    for (const id of ['mtv5-dgx1-hgpu-031:', 'mtv5-dgx1-hgpu-031:0.0', 'mtv5-dgx1-hgpu-031:-0', 'mtv5-dgx1-hgpu-031:1e0', 'mtv5-dgx1-hgpu-031:0x1']) {
      assert.equal((await getJson(`${api}/gpus/${encodeURIComponent(id)}/telemetry`)).status, 404, id);
    }
  });

  it('answers an undecodable URL in the error shape', async () => {
    const { status, body } = await getJson<ErrorBody>(`${api}/gpus/%/telemetry`);
    assert.equal(status, 400);
    assert.equal(body.error.code, 'BAD_REQUEST');
  });

  it('answers 404 NOT_FOUND in the error shape for an unknown route', async () => {
    const { status, body } = await getJson<ErrorBody>(`${api}/nothing`);
    assert.equal(status, 404);
    assert.equal(body.error.code, 'NOT_FOUND');
  });

  it('returns a request id with every response', async () => {
    const response = await fetch(`${api}/gpus`, { headers: { 'x-request-id': 'abc-123' } });
    assert.equal(response.headers.get('x-request-id'), 'abc-123');
  });
});
