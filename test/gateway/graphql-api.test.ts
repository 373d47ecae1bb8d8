/**
 * The GraphQL API over real HTTP and graphql-ws: its queries give the same
 * values as the REST endpoints for the same data (embedded store, and one
 * case on a real etcd), errors carry the REST codes, a subscription gets
 * only the records stored after it of the GPUs and metrics it asked for,
 * and GraphiQL is served entirely by the gateway.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Client } from 'graphql-ws';
import { DCGM_CSV_COLUMNS } from '../../src/ingest/dcgm-row.js';
import { getJson } from '../support/api-checks.js';
import { useEtcdStore } from '../support/etcd-store.js';
import { camelKeys, gql, subscribe, within, wsClient, type GraphqlAnswer, type TestSubscription } from '../support/graphql-client.js';
import { startInProcessPipeline, type InProcessPipeline } from '../support/in-process-pipeline.js';
import { waitFor } from '../support/wait-for.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/dcgm-export-sample.csv', import.meta.url));
/** Samples (good rows) in the fixture. */
const FIXTURE_SAMPLES = 84;
const GPU0 = 'GPU-5fd4f087-86f3-7a43-b711-4771313afc50';
const GPU1 = 'GPU-1c8a1e2b-4d3f-0e9a-7b6c-2f1d3e4a5b6c';
const HOST_A = 'mtv5-dgx1-hgpu-031';
const HOST_B = 'mtv5-dgx1-hgpu-032';
/** The GPU of host B: the probe of subscription tests (see untilFollowing). */
const GPU_B = 'GPU-aa0d4e6f-1234-5678-9abc-def012345678';
const MODEL = 'NVIDIA H100 80GB HBM3';

const RECORD_FIELDS = 'timestamp uuid gpuId hostname migInstanceId gpuUtilization memoryUtilization memoryUsedMb memoryFreeMb temperature powerDraw smClockMhz memoryClockMhz metrics { name value }';
const GPU_FIELDS = 'id uuid gpuId hostname device model driverVersion status firstSeen lastSeen migInstanceId migProfile';

type Row = Record<string, unknown>;
type Page = { data: Row[]; count: number; next_cursor: string | null };
type GqlPage = { count: number; nextCursor: string | null; records: Row[] };

/** A REST record in GraphQL's shape: camelCase names, metrics as a list by name. */
function restRecord(record: Row): Row {
  const { metrics, ...rest } = camelKeys(record) as Row;
  return { ...rest, metrics: Object.entries(metrics as Record<string, number | null>).map(([name, value]) => ({ name, value })) };
}

/** A REST GPU in GraphQL's shape (a whole GPU: its id is its UUID, no MIG fields). */
function restGpu(gpu: Row): Row {
  return { ...(camelKeys(gpu) as Row), id: gpu.id ?? gpu.uuid, migInstanceId: gpu.mig_instance_id ?? null, migProfile: gpu.mig_profile ?? null };
}

/** One CSV line of a sample, in DATA.md's columns. */
function csvLine(time: string, metric: string, gpuId: number, uuid: string, hostname: string, value: number, labelsRaw = ''): string {
  return [time, metric, String(gpuId), `nvidia${gpuId}`, uuid, MODEL, hostname, '', '', '', String(value), labelsRaw].map((field) => `"${field.replaceAll('"', '""')}"`).join(',');
}

/** Writes a CSV of `times` new records of GPU0 and GPU1 (host A) with three metrics each. */
function writeCsv(dir: string, name: string, times: string[]): string {
  const lines = [DCGM_CSV_COLUMNS.join(',')];
  times.forEach((time, i) => {
    for (const [gpuId, uuid] of [[0, GPU0], [1, GPU1]] as const) {
      lines.push(csvLine(time, 'DCGM_FI_DEV_GPU_UTIL', gpuId, uuid, HOST_A, 10 + i));
      lines.push(csvLine(time, 'DCGM_FI_DEV_GPU_TEMP', gpuId, uuid, HOST_A, 50 + i));
      lines.push(csvLine(time, 'DCGM_FI_DEV_POWER_USAGE', gpuId, uuid, HOST_A, 300 + i));
    }
  });
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/**
 * Makes sure a subscription follows the store before the test stores what
 * it must see: graphql-ws has no "subscribed" message, so records of GPU_B,
 * which the subscription also selects, are stored one by one until one
 * arrives. Answers the number stored (one sample each).
 */
async function untilFollowing(pipeline: InProcessPipeline, dir: string, subscription: TestSubscription<{ telemetry: Row }>): Promise<number> {
  let stored = 0;
  await waitFor(
    'the subscription to receive a probe record',
    20_000,
    async () => {
      if (subscription.events.some((event) => event.telemetry.uuid === GPU_B)) return true;
      const path = join(dir, `probe-${stored}.csv`);
      // A second after the last probe, after every other record of the test.
      writeFileSync(path, `${DCGM_CSV_COLUMNS.join(',')}\n${csvLine(new Date(Date.UTC(2025, 6, 18, 21, 0, stored)).toISOString(), 'DCGM_FI_DEV_GPU_TEMP', 0, GPU_B, HOST_B, stored)}\n`);
      await pipeline.ingest(path);
      stored++;
      return undefined;
    },
    300,
  );
  return stored;
}

describe('GraphQL API (embedded store)', () => {
  let pipeline: InProcessPipeline;
  let base: string;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gputel-graphql-'));
    pipeline = await startInProcessPipeline();
    base = pipeline.baseUrl;
    await pipeline.ingest(FIXTURE);
  });
  after(async () => {
    await pipeline.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gpus and gpu give every GPU field by field as GET /api/v1/gpus', async () => {
    const rest = await getJson<Page>(`${base}/api/v1/gpus`);
    const { status, body } = await gql<{ gpus: Row[] }>(base, `{ gpus { ${GPU_FIELDS} } }`);
    assert.equal(status, 200);
    assert.deepEqual(body.data?.gpus, rest.body.data.map(restGpu));
    const one = await gql<{ gpu: Row }>(base, `query ($id: String!) { gpu(id: $id) { ${GPU_FIELDS} } }`, { id: `${HOST_A}:1` });
    assert.deepEqual(one.body.data?.gpu, restGpu(rest.body.data[1]));
  });

  it('gpus filters by hostname, model and status', async () => {
    const byHost = await gql<{ gpus: Row[] }>(base, `{ gpus(hostname: "${HOST_B}") { hostname } }`);
    assert.deepEqual(byHost.body.data?.gpus, [{ hostname: HOST_B }]);
    const byModel = await gql<{ gpus: Row[] }>(base, `{ gpus(model: "${MODEL}", status: active) { uuid } }`);
    assert.equal(byModel.body.data?.gpus.length, 3);
    const none = await gql<{ gpus: Row[] }>(base, `{ gpus(status: stale) { uuid } }`);
    assert.deepEqual(none.body.data?.gpus, []);
  });

  it('hosts and host agree with /api/v1/hosts and /api/v1/hosts/{hostname}/gpus', async () => {
    const rest = await getJson<Page>(`${base}/api/v1/hosts`);
    const { body } = await gql<{ hosts: Row[] }>(base, '{ hosts { hostname gpuCount firstSeen lastSeen } }');
    assert.deepEqual(body.data?.hosts, camelKeys(rest.body.data));
    const restGpus = await getJson<Page>(`${base}/api/v1/hosts/${HOST_A}/gpus`);
    const host = await gql<{ host: { gpus: Row[] } }>(base, `{ host(hostname: "${HOST_A}") { gpus { ${GPU_FIELDS} } } }`);
    assert.deepEqual(host.body.data?.host.gpus, restGpus.body.data.map(restGpu));
  });

  it('raw telemetry gives the REST records: timestamps, named fields and every metric (null where not sampled)', async () => {
    const rest = await getJson<Page>(`${base}/api/v1/gpus/${GPU0}/telemetry`);
    const { body } = await gql<{ telemetry: GqlPage }>(base, `{ telemetry(id: "${GPU0}") { count nextCursor records { ${RECORD_FIELDS} } } }`);
    assert.equal(body.data?.telemetry.count, 3);
    assert.equal(body.data?.telemetry.nextCursor, null);
    assert.deepEqual(body.data?.telemetry.records, rest.body.data.map(restRecord));
    assert.ok(body.data?.telemetry.records[1].metrics && (body.data.telemetry.records[1].metrics as Row[]).some((m) => m.name === 'DCGM_FI_DEV_XID_ERRORS' && m.value === null));
  });

  it('downsampled telemetry (step with agg, and maxPoints) gives the REST buckets', async () => {
    for (const [graphqlArgs, restQuery] of [
      ['step: "10s", agg: max', 'step=10s&agg=max'],
      ['maxPoints: 2', 'max_points=2'],
      ['step: "5s", agg: p95, startTime: "2025-07-18T20:42:40Z"', 'step=5s&agg=p95&start_time=2025-07-18T20:42:40Z'],
    ]) {
      const rest = await getJson<Page>(`${base}/api/v1/gpus/${GPU1}/telemetry?${restQuery}`);
      assert.equal(rest.status, 200);
      const { body } = await gql<{ telemetry: GqlPage }>(base, `{ telemetry(id: "${GPU1}", ${graphqlArgs}) { count nextCursor records { ${RECORD_FIELDS} } } }`);
      assert.deepEqual(body.data?.telemetry, { count: rest.body.count, nextCursor: rest.body.next_cursor, records: rest.body.data.map(restRecord) }, graphqlArgs);
    }
  });

  it('telemetry pages by cursor exactly as REST does, cursors included', async () => {
    const pagesOf = async (get: (cursor: string | null) => Promise<{ records: Row[]; next: string | null }>): Promise<{ records: Row[]; cursors: string[] }> => {
      const records: Row[] = [];
      const cursors: string[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 10; page++) {
        const answer = await get(cursor);
        records.push(...answer.records);
        if (answer.next === null) return { records, cursors };
        cursors.push(answer.next);
        cursor = answer.next;
      }
      throw new Error('more than 10 pages');
    };
    const rest = await pagesOf(async (cursor) => {
      const { body } = await getJson<Page>(`${base}/api/v1/gpus/${GPU0}/telemetry?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      return { records: body.data.map(restRecord), next: body.next_cursor };
    });
    const graphql = await pagesOf(async (cursor) => {
      const { body } = await gql<{ telemetry: GqlPage }>(base, `query ($cursor: String) { telemetry(id: "${GPU0}", limit: 1, cursor: $cursor) { nextCursor records { ${RECORD_FIELDS} } } }`, { cursor });
      return { records: body.data!.telemetry.records, next: body.data!.telemetry.nextCursor };
    });
    assert.equal(graphql.records.length, 3);
    assert.deepEqual(graphql, rest);
  });

  it('the column form gives what format=columns gives', async () => {
    const rest = await getJson<{ data: { timestamps: number[]; metrics: Record<string, (number | null)[]> } }>(`${base}/api/v1/gpus/${GPU0}/telemetry?format=columns`);
    const { body } = await gql<{ telemetry: { columns: { timestamps: number[]; metrics: { name: string; values: (number | null)[] }[] } } }>(
      base,
      `{ telemetry(id: "${GPU0}") { columns { timestamps metrics { name values } } } }`,
    );
    const columns = body.data!.telemetry.columns;
    assert.deepEqual(columns.timestamps, rest.body.data.timestamps);
    assert.deepEqual(Object.fromEntries(columns.metrics.map((m) => [m.name, m.values])), rest.body.data.metrics);
  });

  it('metrics keeps only the fields asked for, by DCGM name or named field, and refuses an unknown one', async () => {
    const { body } = await gql<{ telemetry: GqlPage }>(base, `{ telemetry(id: "${GPU0}", metrics: ["power_draw", "DCGM_FI_DEV_GPU_TEMP"]) { records { powerDraw temperature gpuUtilization metrics { name } } } }`);
    const records = body.data!.telemetry.records;
    assert.equal(records.length, 3);
    for (const record of records) {
      assert.deepEqual(record.metrics, [{ name: 'DCGM_FI_DEV_GPU_TEMP' }, { name: 'DCGM_FI_DEV_POWER_USAGE' }]);
      assert.equal(typeof record.powerDraw, 'number');
      assert.equal(record.gpuUtilization, null);
    }
    const bad = await gql(base, `{ telemetry(id: "${GPU0}", metrics: ["bogus"]) { count } }`);
    assert.equal(bad.body.errors?.[0].extensions?.code, 'BAD_REQUEST');
    assert.match(bad.body.errors![0].message, /metrics has "bogus", not a metric/);
  });

  it('summary and stats agree with /api/v1/summary, /api/v1/hosts/{hostname}/summary and /api/v1/stats', async () => {
    const fields =
      'gpus byStatus { active stale } utilization { mean max } powerDraw { total } temperature { max hottest { id uuid hostname gpuId migInstanceId value } } idle { threshold window count gpus { id uuid hostname gpuId migInstanceId meanUtilization } } asOf';
    const { body } = await gql<Row>(base, `{ summary(window: "15m", idleThreshold: 50) { ${fields} } host: summary(hostname: "${HOST_B}") { ${fields} } stats { gpus hosts records samples } }`);
    assert.deepEqual(body.data?.summary, camelKeys((await getJson(`${base}/api/v1/summary?window=15m&idle_threshold=50`)).body));
    assert.deepEqual(body.data?.host, camelKeys((await getJson(`${base}/api/v1/hosts/${HOST_B}/summary`)).body));
    const stats = (await getJson(`${base}/api/v1/stats`)).body;
    assert.deepEqual(body.data?.stats, stats);
    assert.equal(stats.samples, FIXTURE_SAMPLES, 'samples in = samples out');
  });

  it('answers GET /graphql?query= for queries', async () => {
    const { status, body } = await getJson<{ data: { stats: { gpus: number } } }>(`${base}/graphql?query=${encodeURIComponent('{ stats { gpus } }')}`);
    assert.equal(status, 200);
    assert.equal(body.data.stats.gpus, 3);
  });

  it('an error carries the code REST gives for the same request, beside the data that could be answered', async () => {
    const cases: [string, string, string][] = [
      ['{ gpu(id: "GPU-nope") { uuid } stats { gpus } }', '/api/v1/gpus/GPU-nope/latest', 'GPU_NOT_FOUND'],
      ['{ host(hostname: "nope") { hostname } stats { gpus } }', '/api/v1/hosts/nope/gpus', 'HOST_NOT_FOUND'],
      [`{ telemetry(id: "${GPU0}", startTime: "yesterday") { count } stats { gpus } }`, `/api/v1/gpus/${GPU0}/telemetry?start_time=yesterday`, 'BAD_REQUEST'],
      [`{ telemetry(id: "${GPU0}", cursor: "garbage") { count } stats { gpus } }`, `/api/v1/gpus/${GPU0}/telemetry?cursor=garbage`, 'BAD_REQUEST'],
      ['{ summary(window: "30d") { gpus } stats { gpus } }', '/api/v1/summary?window=30d', 'BAD_REQUEST'],
    ];
    for (const [query, restPath, code] of cases) {
      const rest = await getJson<{ error: { code: string; message: string } }>(`${base}${restPath}`);
      assert.equal(rest.body.error.code, code, restPath);
      const { status, body } = await gql<Row>(base, query);
      assert.equal(status, 200, query);
      assert.equal(body.errors?.length, 1, query);
      assert.equal(body.errors![0].extensions?.code, code, query);
      assert.equal(body.errors![0].message, rest.body.error.message.replace('see /api/v1/hosts', 'see hosts'), query);
      assert.deepEqual(body.data?.stats, { gpus: 3 }, 'the other fields are answered');
    }
    const syntax = await gql(base, '{ gpus { uuid ');
    assert.equal(syntax.status, 400);
    assert.equal(syntax.body.errors?.[0].extensions?.code, 'BAD_REQUEST');
  });

  it('answers a query the same once it is compiled (mercurius JIT after a few runs), errors included', async () => {
    // A compiled query's errors carry no locations (graphql-jit keeps no nodes): compare the rest.
    const withoutLocations = (answer: GraphqlAnswer): GraphqlAnswer => ({ ...answer, body: { ...answer.body, errors: answer.body.errors?.map(({ message, path, extensions }) => ({ message, path, extensions })) } });
    for (const query of [
      `{ gpus { ${GPU_FIELDS} latest { ${RECORD_FIELDS} } } }`,
      `{ telemetry(id: "${GPU0}", limit: 2) { count nextCursor records { ${RECORD_FIELDS} } columns { timestamps metrics { name values } } } }`,
      `{ telemetry(id: "${GPU0}", metrics: ["power_draw"]) { columns { metrics { name } } } }`,
      '{ summary { gpus idle { count } asOf } stats { gpus } gpu(id: "GPU-nope") { uuid } }',
    ]) {
      const first = withoutLocations(await gql(base, query));
      for (let run = 0; run < 3; run++) assert.deepEqual(withoutLocations(await gql(base, query)), first, query);
    }
  });

  it('a subscription over graphql-ws receives only the records stored after it, of its GPUs and with its metrics', async () => {
    const client: Client = wsClient(base);
    try {
      const subscription = subscribe<{ telemetry: Row }>(client, `subscription ($gpus: [String!]) { telemetry(gpus: $gpus, metrics: ["power_draw", "DCGM_FI_DEV_GPU_TEMP"]) { ${RECORD_FIELDS} } }`, {
        gpus: [GPU0, GPU_B],
      });
      const probes = await untilFollowing(pipeline, dir, subscription);
      const times = ['2025-07-18T20:43:04.000Z', '2025-07-18T20:43:14.000Z'];
      await pipeline.ingest(writeCsv(dir, 'new.csv', times));
      const ofGpu0 = (): Row[] => subscription.events.map((event) => event.telemetry).filter((record) => record.uuid === GPU0);
      await waitFor('both new records of GPU0', 20_000, () => (ofGpu0().length >= times.length ? true : undefined));
      assert.deepEqual(
        ofGpu0(),
        times.map((timestamp, i) => ({
          timestamp,
          uuid: GPU0,
          gpuId: 0,
          hostname: HOST_A,
          migInstanceId: null,
          gpuUtilization: null,
          memoryUtilization: null,
          memoryUsedMb: null,
          memoryFreeMb: null,
          temperature: 50 + i,
          powerDraw: 300 + i,
          smClockMhz: null,
          memoryClockMhz: null,
          metrics: [
            { name: 'DCGM_FI_DEV_GPU_TEMP', value: 50 + i },
            { name: 'DCGM_FI_DEV_POWER_USAGE', value: 300 + i },
          ],
        })),
      );
      assert.ok(subscription.events.every((event) => event.telemetry.uuid === GPU0 || event.telemetry.uuid === GPU_B), 'GPU1 is filtered out');
      subscription.stop();
      assert.deepEqual(await within(subscription.ended, 10_000, 'the end of the subscription'), []);
      const stats = (await getJson<{ samples: number }>(`${base}/api/v1/stats`)).body;
      assert.equal(stats.samples, FIXTURE_SAMPLES + probes + times.length * 6, 'samples in = samples out');
    } finally {
      await client.dispose();
    }
  });

  it('a subscription to a GPU that does not exist is refused with GPU_NOT_FOUND, as REST refuses it', async () => {
    const client = wsClient(base);
    try {
      const errors = await within(subscribe(client, 'subscription { telemetry(gpus: ["GPU-nope"]) { uuid } }').ended, 10_000, 'the refusal');
      assert.equal(errors[0]?.extensions?.code, 'GPU_NOT_FOUND');
    } finally {
      await client.dispose();
    }
  });

  it('serves GraphiQL and every asset its page and start script reference from the gateway, none from another host', async () => {
    const page = await fetch(`${base}/graphiql`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    const html = await page.text();
    assert.doesNotMatch(html, /<script>|<script [^>]*>[^<]/, 'no inline script');
    const references = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]);
    assert.deepEqual(references.filter((url) => url.endsWith('.js')).length, 4);
    for (const url of references) {
      assert.match(url, /^\/graphiql\/assets\/[\w.-]+$/, `${url} is this gateway's`);
      const asset = await fetch(`${base}${url}`);
      assert.equal(asset.status, 200, url);
      const text = await asset.text();
      assert.ok(text.length > 0, url);
      if (url.endsWith('.css')) assert.deepEqual([...text.matchAll(/url\(\s*["']?([a-z]+:)/gi)].map((match) => match[1]).filter((scheme) => scheme !== 'data:'), [], `${url} loads nothing`);
      if (url.endsWith('graphiql-start.js')) assert.doesNotMatch(text, /https?:\/\//, 'the start script names no host');
    }
    assert.equal((await fetch(`${base}/graphiql/assets/graphiql.min.js.map`)).status, 200);
    const unknown = await getJson<{ error: { code: string } }>(`${base}/graphiql/assets/..%2Fpackage.json`);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'NOT_FOUND');
  });

  it('serves MIG instances as REST does: their ids, instance and profile, and migInstanceId in every record', async () => {
    const before = (await getJson<{ samples: number }>(`${base}/api/v1/stats`)).body.samples;
    const uuid = 'GPU-3c9e0000-0000-4000-8000-000000000001';
    const lines = [DCGM_CSV_COLUMNS.join(',')];
    for (const [instance, profile] of [['1', '1g.10gb'], ['2', '2g.20gb']]) {
      for (const time of ['2025-07-18T20:42:34.000Z', '2025-07-18T20:42:44.000Z']) {
        lines.push(csvLine(time, 'DCGM_FI_DEV_GPU_UTIL', 0, uuid, 'mig-host', Number(instance) * 10, `GPU_I_ID="${instance}",GPU_I_PROFILE="${profile}"`));
      }
    }
    const path = join(dir, 'mig.csv');
    writeFileSync(path, `${lines.join('\n')}\n`);
    await pipeline.ingest(path);

    const rest = await getJson<Page>(`${base}/api/v1/hosts/mig-host/gpus`);
    assert.equal(rest.body.count, 2);
    const { body } = await gql<{ gpus: Row[] }>(base, `{ gpus(hostname: "mig-host") { ${GPU_FIELDS} } }`);
    assert.deepEqual(body.data?.gpus, rest.body.data.map(restGpu));
    assert.deepEqual(body.data?.gpus.map((gpu) => [gpu.migInstanceId, gpu.migProfile]), [['1', '1g.10gb'], ['2', '2g.20gb']]);
    const id = rest.body.data[1].id as string;
    const restPage = await getJson<Page>(`${base}/api/v1/gpus/${encodeURIComponent(id)}/telemetry`);
    const page = await gql<{ telemetry: GqlPage }>(base, `query ($id: String!) { telemetry(id: $id) { records { migInstanceId ${RECORD_FIELDS} } } }`, { id });
    const records = page.body.data!.telemetry.records;
    assert.deepEqual(records.map((record) => record.migInstanceId), ['2', '2']);
    assert.deepEqual(
      records.map(({ migInstanceId: _instance, ...record }) => record),
      restPage.body.data.map(restRecord).map(({ migInstanceId: _instance, ...record }) => record),
    );
    assert.deepEqual(records.map((record) => record.gpuUtilization), [20, 20]);
    const stats = (await getJson<{ samples: number }>(`${base}/api/v1/stats`)).body;
    assert.equal(stats.samples, before + 4, 'samples in = samples out');
  });
});

describe('GraphQL API on etcd', () => {
  const etcd = useEtcdStore();
  let pipeline: InProcessPipeline;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gputel-graphql-etcd-'));
    pipeline = await startInProcessPipeline({ kv: etcd.store });
    await pipeline.ingest(FIXTURE);
  });
  after(async () => {
    await pipeline?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('telemetry agrees with REST and a subscription receives a record stored after it', async () => {
    const base = pipeline.baseUrl;
    const rest = await getJson<Page>(`${base}/api/v1/gpus/${GPU1}/telemetry`);
    const { body } = await gql<{ telemetry: GqlPage }>(base, `{ telemetry(id: "${GPU1}") { count nextCursor records { ${RECORD_FIELDS} } } }`);
    assert.deepEqual(body.data?.telemetry.records, rest.body.data.map(restRecord));

    const client = wsClient(base);
    try {
      const subscription = subscribe<{ telemetry: Row }>(client, `subscription { telemetry(hosts: ["${HOST_A}", "${HOST_B}"], gpus: ["${HOST_A}:1", "${GPU_B}"]) { uuid timestamp temperature } }`);
      const probes = await untilFollowing(pipeline, dir, subscription);
      await pipeline.ingest(writeCsv(dir, 'new.csv', ['2025-07-18T20:43:04.000Z']));
      const record = await waitFor('the new record of GPU1', 20_000, () => subscription.events.map((event) => event.telemetry).find((r) => r.uuid === GPU1));
      assert.deepEqual(record, { uuid: GPU1, timestamp: '2025-07-18T20:43:04.000Z', temperature: 50 });
      subscription.stop();
      const stats = (await getJson<{ samples: number }>(`${base}/api/v1/stats`)).body;
      assert.equal(stats.samples, FIXTURE_SAMPLES + probes + 6, 'samples in = samples out');
    } finally {
      await client.dispose();
    }
  });
});
