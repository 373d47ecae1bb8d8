/**
 * GPU list filters, GET /api/v1/gpus/{id}, metric selection on telemetry and
 * strict parameters, over real HTTP against a gateway fed the sample export
 * through the real streamer and collector, on both store drivers. Every
 * answer is checked against the schema the route documents.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { ColumnsPage, ErrorBody, GpuDetail, GpuList, LatestAnswer, RecordsPage, Stats } from '../../src/gateway/api-schemas.js';
import type { KvStore } from '../../src/kv/kv-store.js';
import { getJson } from '../support/api-checks.js';
import { useEtcdStore } from '../support/etcd-store.js';
import { startInProcessPipeline, type InProcessPipeline } from '../support/in-process-pipeline.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/dcgm-export-sample.csv', import.meta.url));
/** Good rows of the fixture: every one a sample stored. */
const FIXTURE_SAMPLES = 84;
const GPU0 = 'GPU-5fd4f087-86f3-7a43-b711-4771313afc50';
const GPU1 = 'GPU-1c8a1e2b-4d3f-0e9a-7b6c-2f1d3e4a5b6c';
const GPU_OTHER_HOST = 'GPU-aa0d4e6f-1234-5678-9abc-def012345678';
type ApiRecord = { timestamp: string; metrics: Record<string, number | null>; [field: string]: unknown };
type Page = { data: ApiRecord[]; count: number; next_cursor: string | null };
type Columns = { data: { timestamps: number[]; metrics: Record<string, (number | null)[]> }; count: number; next_cursor: string | null };
type List = { data: { uuid: string; hostname: string; gpu_id: number }[]; count: number };
type ErrorAnswer = { error: { code: string; message: string } };

/** GETs a URL and checks its answer against the schema the route documents for that status. */
async function getChecked<T>(url: string, schema: TSchema): Promise<{ status: number; body: T }> {
  const answer = await getJson<T>(url);
  assert.ok(Value.Check(schema, answer.body), `${url}: ${JSON.stringify([...Value.Errors(schema, answer.body)].slice(0, 3))}`);
  return answer;
}

/** Asserts a 400 BAD_REQUEST whose message matches (a RegExp) or is (a string) `message`. */
async function badRequest(url: string, message: RegExp | string): Promise<void> {
  const { status, body } = await getChecked<ErrorAnswer>(url, ErrorBody);
  assert.equal(status, 400, url);
  assert.equal(body.error.code, 'BAD_REQUEST', url);
  if (typeof message === 'string') assert.equal(body.error.message, message, url);
  else assert.match(body.error.message, message, url);
}

function restSuite(kvOf: () => Promise<KvStore | undefined>): void {
  let pipeline: InProcessPipeline;
  let api: string;
  before(async () => {
    pipeline = await startInProcessPipeline({ kv: await kvOf() });
    api = `${pipeline.baseUrl}/api/v1`;
    await pipeline.ingest(FIXTURE);
  });
  after(() => pipeline?.stop());

  it('filters the GPU list by hostname, model, status, namespace and pod, exactly and combined', async () => {
    const uuids = async (query: string): Promise<string[]> => {
      const { status, body } = await getChecked<List>(`${api}/gpus?${query}`, GpuList);
      assert.equal(status, 200, query);
      assert.equal(body.count, body.data.length);
      return body.data.map((gpu) => gpu.uuid);
    };
    assert.deepEqual(await uuids('hostname=mtv5-dgx1-hgpu-031'), [GPU0, GPU1]);
    assert.deepEqual(await uuids('hostname=mtv5-dgx1-hgpu-03'), [], 'exact, not a prefix');
    assert.deepEqual(await uuids(`model=${encodeURIComponent('NVIDIA H100 80GB HBM3')}`), [GPU0, GPU1, GPU_OTHER_HOST]);
    assert.deepEqual(await uuids('status=active'), [GPU0, GPU1, GPU_OTHER_HOST]);
    assert.deepEqual(await uuids('status=stale'), []);
    // GPU1 has no workload; the other two run pod job-42-worker-0 of ml-team.
    assert.deepEqual(await uuids('namespace=ml-team'), [GPU0, GPU_OTHER_HOST]);
    assert.deepEqual(await uuids('pod=job-42-worker-0'), [GPU0, GPU_OTHER_HOST]);
    assert.deepEqual(await uuids('namespace=ml-team&hostname=mtv5-dgx1-hgpu-032'), [GPU_OTHER_HOST]);
    assert.deepEqual(await uuids('namespace=ml-team&status=active&hostname=mtv5-dgx1-hgpu-031'), [GPU0]);
    assert.deepEqual(await uuids('namespace=ml&pod=job-42-worker-0'), []);
  });

  it('serves the unfiltered list unchanged around filtered ones', async () => {
    const before = await (await fetch(`${api}/gpus`)).text();
    await (await fetch(`${api}/gpus?hostname=mtv5-dgx1-hgpu-032`)).arrayBuffer();
    const after = await (await fetch(`${api}/gpus`)).text();
    assert.equal(after, before);
    assert.equal((JSON.parse(after) as List).count, 3);
  });

  it('serves one GPU: its list item, its newest record and its Kubernetes attribution', async () => {
    const list = (await getJson<{ data: Record<string, unknown>[] }>(`${api}/gpus`)).body.data;
    const latest = (await getChecked<{ data: ApiRecord }>(`${api}/gpus/${GPU0}/latest`, LatestAnswer)).body.data;
    const { status, body } = await getChecked<{ data: Record<string, unknown> }>(`${api}/gpus/${GPU0}`, GpuDetail);
    assert.equal(status, 200);
    assert.deepEqual(body.data, { ...list[0], latest, namespace: 'ml-team', pod: 'job-42-worker-0', container: 'trainer' });
    // A GPU no workload holds has no attribution fields; hostname:gpu_id finds it too.
    const other = await getChecked<{ data: Record<string, unknown> }>(`${api}/gpus/mtv5-dgx1-hgpu-031:1`, GpuDetail);
    assert.deepEqual(Object.keys(other.body.data).sort(), [...Object.keys(list[1]), 'latest'].sort());
    assert.equal((other.body.data.latest as ApiRecord).uuid, GPU1);
    const missing = await getChecked<ErrorAnswer>(`${api}/gpus/GPU-nope`, ErrorBody);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'GPU_NOT_FOUND');
  });

  it('selects metrics by named field or DCGM name, in records, columns and downsampled', async () => {
    const telemetry = `${api}/gpus/${GPU0}/telemetry`;
    const all = (await getChecked<Page>(telemetry, RecordsPage)).body.data;
    const selected = await getChecked<Page>(`${telemetry}?metrics=power_draw,DCGM_FI_DEV_GPU_TEMP`, RecordsPage);
    assert.equal(selected.status, 200);
    assert.deepEqual(
      selected.body.data,
      all.map((record) => ({
        timestamp: record.timestamp,
        uuid: record.uuid,
        gpu_id: record.gpu_id,
        hostname: record.hostname,
        mig_instance_id: record.mig_instance_id,
        temperature: record.temperature,
        power_draw: record.power_draw,
        metrics: { DCGM_FI_DEV_GPU_TEMP: record.metrics.DCGM_FI_DEV_GPU_TEMP, DCGM_FI_DEV_POWER_USAGE: record.metrics.DCGM_FI_DEV_POWER_USAGE },
      })),
      'the same records, with only the selected named fields and metrics',
    );
    const columns = (await getChecked<Columns>(`${telemetry}?format=columns&metrics=temperature`, ColumnsPage)).body;
    assert.deepEqual(columns.data.metrics, { DCGM_FI_DEV_GPU_TEMP: all.map((record) => record.metrics.DCGM_FI_DEV_GPU_TEMP) });
    const allBuckets = (await getChecked<Page>(`${telemetry}?step=1h&agg=max`, RecordsPage)).body.data;
    const buckets = (await getChecked<Page>(`${telemetry}?step=1h&agg=max&metrics=DCGM_FI_DEV_XID_ERRORS,gpu_utilization`, RecordsPage)).body.data;
    assert.equal(buckets.length, allBuckets.length);
    assert.deepEqual(
      buckets.map((b) => [b.gpu_utilization, b.metrics]),
      allBuckets.map((b) => [b.gpu_utilization, { DCGM_FI_DEV_GPU_UTIL: b.metrics.DCGM_FI_DEV_GPU_UTIL, DCGM_FI_DEV_XID_ERRORS: b.metrics.DCGM_FI_DEV_XID_ERRORS }]),
    );
    // A DCGM field this GPU never reported: the records stay, with no metric.
    const none = (await getChecked<Page>(`${telemetry}?metrics=DCGM_FI_DEV_ENC_UTIL`, RecordsPage)).body;
    assert.equal(none.count, all.length);
    assert.deepEqual(none.data[0].metrics, {});
  });

  it('refuses an unknown or empty metric name, listing what is allowed', async () => {
    const telemetry = `${api}/gpus/${GPU0}/telemetry`;
    await badRequest(`${telemetry}?metrics=powr_draw`, /metrics has "powr_draw", not a metric: .*named fields \(gpu_utilization, .*power_draw.*\) or DCGM field names/);
    await badRequest(`${telemetry}?metrics=power_draw,`, /metrics has an empty name/);
    await badRequest(`${telemetry}?metrics=dcgm_fi_dev_gpu_temp`, /not a metric/);
    await badRequest(`${telemetry}?format=columns&step=1m&metrics=`, /metrics has an empty name/);
  });

  it('refuses unknown and repeated parameters, and integers not in decimal digits, on every route alike', async () => {
    const telemetry = `${api}/gpus/${GPU0}/telemetry`;
    await badRequest(`${api}/gpus?x=1`, /^unknown parameter "x"/);
    await badRequest(`${api}/hosts/mtv5-dgx1-hgpu-031/gpus?limit=1`, /^unknown parameter "limit": this route takes no parameter/);
    await badRequest(`${api}/gpus/${GPU0}?metrics=power_draw`, /^unknown parameter "metrics"/);
    for (const spelling of ['0x10', '0b11', '1e3', '+5', ' 5', '5 ', '5.0', '']) {
      await badRequest(`${telemetry}?limit=${encodeURIComponent(spelling)}`, `limit must be a decimal integer, got ${JSON.stringify(spelling)}`);
    }
    // A negative value of a parameter that takes none is told its range.
    await badRequest(`${telemetry}?limit=-5`, 'limit must be from 1 to 100000, got "-5"');
    await badRequest(`${api}/summary?idle_threshold=-1`, 'idle_threshold must be from 0 to 100, got "-1"');
    await badRequest(`${telemetry}?max_points=1e2`, /^max_points must be a decimal integer, got "1e2"$/);
    await badRequest(`${telemetry}?limit=5&limit=6`, /^limit is given twice/);
    await badRequest(`${telemetry}?metrics=power_draw&metrics=temperature`, /^metrics is given twice/);
    await badRequest(`${api}/gpus?status=active&status=stale&status=active`, /^status is given 3 times/);
    await badRequest(`${api}/gpus?status=gone`, /^status must be one of active, stale$/);
    await badRequest(`${api}/summary?idle_threshold=1e1`, /^idle_threshold must be a decimal number, got "1e1"$/);
    await badRequest(`${api}/hosts/mtv5-dgx1-hgpu-031/summary?window=1h&window=2h`, /^window is given twice/);
    await badRequest(`${pipeline.baseUrl}/healthz?verbose=1`, /^unknown parameter "verbose"/);
    // Decimal digits within range still work, as does a decimal threshold.
    assert.equal((await getJson(`${telemetry}?limit=2`)).status, 200);
    assert.equal((await getJson(`${api}/summary?idle_threshold=2.5`)).status, 200);
    await badRequest(`${telemetry}?limit=100001&format=columns`, /limit must be <= 100000/);
  });

  it('refuses times out of the range a date holds, and takes times before 1970', async () => {
    const telemetry = `${api}/gpus/${GPU0}/telemetry`;
    for (const [query, name] of [
      ['start_time=now-99999999999999d', 'start_time'],
      ['end_time=now%2B99999999999999w', 'end_time'],
      ['end_time=8640000000000001', 'end_time'],
      ['start_time=-8640000000000001', 'start_time'],
      ['start_time=99999999999999999999999', 'start_time'],
    ]) {
      await badRequest(`${telemetry}?${query}`, new RegExp(`^${name} ".*" is out of range: times run from -271821-04-20T00:00:00Z to \\+275760-09-13T00:00:00Z`));
    }
    const before1970 = await getChecked<Page>(`${telemetry}?start_time=-86400000&end_time=8640000000000000`, RecordsPage);
    assert.equal(before1970.body.count, 3);
    const onlyBefore = await getChecked<Page>(`${telemetry}?start_time=-86400000&end_time=-1`, RecordsPage);
    assert.equal(onlyBefore.body.count, 0);
  });

  it('stored every sample of the export once: samples in = samples out', async () => {
    assert.equal((await getChecked<{ samples: number }>(`${api}/stats`, Stats)).body.samples, FIXTURE_SAMPLES);
  });
}

describe('REST filters, selection and strict parameters on the embedded store', () => {
  restSuite(async () => undefined); // the pipeline's own in-memory store
});

describe('REST filters, selection and strict parameters on etcd', () => {
  const etcd = useEtcdStore();
  restSuite(async () => etcd.store);
});
