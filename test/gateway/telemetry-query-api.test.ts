/**
 * Downsampling, the columnar form and the latest endpoints, over real HTTP
 * against a gateway on the embedded store, fed a generated hour of 4 GPUs at
 * 10 s through the real streamer and collector.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeGeneratedFile } from '../../src/cli/generate-command.js';
import { p95 } from '../../src/store/downsampler.js';
import { getJson } from '../support/api-checks.js';
import { startInProcessPipeline, type InProcessPipeline } from '../support/in-process-pipeline.js';

const START_MS = Date.parse('2026-03-02T00:00:00Z');
const HOUR_MS = 3_600_000;
type ApiRecord = { timestamp: string; uuid: string; hostname: string; metrics: Record<string, number | null>; [field: string]: unknown };
type Page = { data: ApiRecord[]; count: number; next_cursor: string | null };
type ColumnsPage = { data: { timestamps: number[]; metrics: Record<string, (number | null)[]> }; count: number; next_cursor: string | null };
type ErrorBody = { error: { code: string; message: string } };

/** Every page of a telemetry query, following next_cursor. */
async function allPages<T extends { next_cursor: string | null }>(url: string): Promise<T[]> {
  const pages: T[] = [];
  let cursor: string | null = null;
  do {
    const answer: { status: number; body: T } = await getJson<T>(cursor ? `${url}&cursor=${cursor}` : url);
    assert.equal(answer.status, 200, `${url}: ${JSON.stringify(answer.body).slice(0, 300)}`);
    pages.push(answer.body);
    cursor = answer.body.next_cursor;
  } while (cursor && pages.length < 1_000);
  return pages;
}

/** Columns as records {timestamp ms, metrics}, for comparing with the record form. */
function columnsAsRecords(pages: ColumnsPage[]): { t: number; metrics: Record<string, number | null> }[] {
  return pages.flatMap((page) => page.data.timestamps.map((t, r) => ({ t, metrics: Object.fromEntries(Object.entries(page.data.metrics).map(([name, values]) => [name, values[r]])) })));
}

const AGGREGATE: Record<string, (values: number[]) => number> = {
  avg: (values) => values.reduce((a, b) => a + b, 0) / values.length,
  min: (values) => Math.min(...values),
  max: (values) => Math.max(...values),
  last: (values) => values[values.length - 1],
  p95: (values) => p95([...values]),
};

describe('telemetry queries: downsampling, columns, latest', () => {
  let pipeline: InProcessPipeline;
  let api: string;
  let dir: string;
  let gpu: { uuid: string; hostname: string; gpu_id: number };
  let telemetry: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gputel-query-api-'));
    const file = join(dir, 'dcgm.csv');
    await writeGeneratedFile(file, { hosts: 2, gpusPerHost: 2, durationMs: HOUR_MS, intervalMs: 10_000, seed: 7, startMs: START_MS });
    pipeline = await startInProcessPipeline();
    api = `${pipeline.baseUrl}/api/v1`;
    await pipeline.ingest(file);
    gpu = (await getJson<{ data: { uuid: string; hostname: string; gpu_id: number }[] }>(`${api}/gpus`)).body.data[0];
    telemetry = `${api}/gpus/${gpu.uuid}/telemetry?start_time=${START_MS}&end_time=${START_MS + HOUR_MS - 1}`;
  });
  after(async () => {
    await pipeline?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the columnar form equal to the record form, value for value, across pages', async () => {
    const records = (await allPages<Page>(`${telemetry}&limit=100`)).flatMap((page) => page.data);
    const columnPages = await allPages<ColumnsPage>(`${telemetry}&limit=100&format=columns`);
    assert.equal(records.length, 360);
    assert.equal(columnPages.length, 4);
    for (const page of columnPages) assert.equal(page.count, page.data.timestamps.length);
    assert.deepEqual(columnsAsRecords(columnPages), records.map((r) => ({ t: Date.parse(r.timestamp), metrics: r.metrics })));
    // One page of 100,000 records is allowed in the columnar form.
    const [whole] = await allPages<ColumnsPage>(`${telemetry}&limit=100000&format=columns`);
    assert.equal(whole.count, 360);
    assert.equal(whole.next_cursor, null);
  });

  it('answers requests in flight at once, some cut short by their client, each with its own bytes (lent buffers are not shared)', async () => {
    const gpus = (await getJson<{ data: { id: string }[] }>(`${api}/gpus`)).body.data;
    const urlOf = (id: string, format: string): string => `${api}/gpus/${encodeURIComponent(id)}/telemetry?start_time=${START_MS}&end_time=${START_MS + HOUR_MS - 1}&limit=100000&format=${format}`;
    const expected = new Map<string, string>();
    for (const { id } of gpus) for (const format of ['columns', 'records']) expected.set(urlOf(id, format), await (await fetch(urlOf(id, format))).text());
    for (let round = 0; round < 3; round++) {
      const urls = [...expected.keys()];
      // Cut short in the middle of the body: after its first piece arrived.
      const cut = urls.map(async (url) => {
        const aborting = new AbortController();
        await fetch(url, { signal: aborting.signal })
          .then(async (response) => {
            await response.body?.getReader().read();
            aborting.abort();
          })
          .catch(() => undefined);
      });
      const answers = await Promise.all([...urls, ...urls].map(async (url) => [url, await (await fetch(url)).text()] as const));
      await Promise.all(cut);
      for (const [url, text] of answers) assert.equal(text, expected.get(url), url);
    }
  });

  it('aggregates each metric over its samples in buckets aligned to the step, for every aggregation', async () => {
    const raw = (await allPages<Page>(`${telemetry}&limit=10000`)).flatMap((page) => page.data);
    const stepMs = 7 * 60_000; // not a divisor of the hour: the first and last buckets are cut by the range
    for (const agg of Object.keys(AGGREGATE)) {
      const buckets = new Map<number, Map<string, number[]>>();
      for (const record of raw) {
        const start = Math.floor(Date.parse(record.timestamp) / stepMs) * stepMs;
        if (!buckets.has(start)) buckets.set(start, new Map());
        for (const [name, value] of Object.entries(record.metrics)) {
          if (value === null) continue;
          const values = buckets.get(start)!.get(name) ?? [];
          values.push(value);
          buckets.get(start)!.set(name, values);
        }
      }
      const served = (await allPages<Page>(`${telemetry}&step=7m&agg=${agg}`)).flatMap((page) => page.data);
      assert.deepEqual(served.map((r) => Date.parse(r.timestamp)), [...buckets.keys()], `${agg}: one record per bucket with samples, at its start`);
      for (const record of served) {
        for (const [name, values] of buckets.get(Date.parse(record.timestamp))!) assert.equal(record.metrics[name], AGGREGATE[agg](values), `${agg} ${record.timestamp} ${name}`);
      }
      assert.equal(served[0].gpu_utilization, served[0].metrics.DCGM_FI_DEV_GPU_UTIL, 'named fields come from the same aggregates');
      const columns = columnsAsRecords(await allPages<ColumnsPage>(`${telemetry}&step=7m&agg=${agg}&format=columns`));
      assert.deepEqual(columns, served.map((r) => ({ t: Date.parse(r.timestamp), metrics: r.metrics })), `${agg}: columns equal records`);
    }
  });

  it('pages downsampled buckets with limit and next_cursor, losing and repeating none', async () => {
    const whole = (await allPages<Page>(`${telemetry}&step=5m&agg=max`)).flatMap((page) => page.data);
    assert.equal(whole.length, 12);
    const pages = await allPages<Page>(`${telemetry}&step=5m&agg=max&limit=5`);
    assert.deepEqual(pages.map((page) => page.count), [5, 5, 2]);
    assert.deepEqual(pages.flatMap((page) => page.data), whole);
  });

  it('refuses a cursor in a page of another kind: raw after downsampled, another step, downsampled after raw', async () => {
    const { body: bucketed } = await getJson<Page>(`${telemetry}&step=5m&limit=2`);
    const { body: raw } = await getJson<Page>(`${telemetry}&limit=2`);
    assert.ok(bucketed.next_cursor && raw.next_cursor);
    for (const [query, from, to] of [
      [`limit=2&cursor=${bucketed.next_cursor}`, 'buckets of 300000 ms', 'raw records'],
      [`step=1m&limit=2&cursor=${bucketed.next_cursor}`, 'buckets of 300000 ms', 'buckets of 60000 ms'],
      [`step=5m&limit=2&cursor=${raw.next_cursor}`, 'raw records', 'buckets of 300000 ms'],
    ] as const) {
      const { status, body } = await getJson<ErrorBody>(`${telemetry}&${query}`);
      assert.equal(status, 400, query);
      assert.equal(body.error.message, `cursor is from ${from}, and this request asks for ${to}: ask with the step of the page it came from, or without cursor to start again`);
    }
    assert.equal((await getJson<Page>(`${telemetry}&step=5m&limit=2&cursor=${bucketed.next_cursor}`)).status, 200, 'the same step goes on');
  });

  it('says an empty GPU id is empty', async () => {
    const { status, body } = await getJson<ErrorBody>(`${api}/gpus/`);
    assert.equal(status, 400);
    assert.equal(body.error.message, 'id is empty: give one');
  });

  it('leaves out buckets without samples: a step finer than the interval gives the raw times', async () => {
    const raw = (await allPages<Page>(`${telemetry}&limit=10000`)).flatMap((page) => page.data);
    const fine = (await allPages<Page>(`${telemetry}&step=1s&agg=last&limit=10000`)).flatMap((page) => page.data);
    assert.deepEqual(fine, raw);
  });

  it('picks a nice step for max_points, giving at most that many buckets, aligned', async () => {
    const [page] = await allPages<ColumnsPage>(`${telemetry}&max_points=7&format=columns`);
    // An hour in at most 7 buckets: 10 min is the smallest nice step (6 buckets).
    assert.equal(page.count, 6);
    for (const t of page.data.timestamps) assert.equal(t % 600_000, 0);
    // Paged with limit, every page keeps the step max_points picked.
    const paged = await allPages<ColumnsPage>(`${telemetry}&max_points=7&format=columns&limit=4`);
    assert.deepEqual(paged.flatMap((p) => p.data.timestamps), page.data.timestamps);
  });

  it('serves the newest record of a GPU and of each GPU of a host, in the telemetry record shape', async () => {
    const newest = (await allPages<Page>(`${telemetry}&limit=10000`)).flatMap((page) => page.data).at(-1)!;
    const { status, body } = await getJson<{ data: ApiRecord }>(`${api}/gpus/${gpu.uuid}/latest`);
    assert.equal(status, 200);
    assert.deepEqual(body.data, newest);
    const byName = await getJson<{ data: ApiRecord }>(`${api}/gpus/${gpu.hostname}:${gpu.gpu_id}/latest`);
    assert.deepEqual(byName.body.data, newest);
    const host = await getJson<{ data: ApiRecord[]; count: number }>(`${api}/hosts/${gpu.hostname}/latest`);
    assert.equal(host.status, 200);
    assert.equal(host.body.count, 2);
    assert.deepEqual(host.body.data.map((r) => r.gpu_id), [0, 1]);
    assert.deepEqual(host.body.data[0], newest);
  });

  it('answers 404 in the error shape for the latest of an unknown GPU or host', async () => {
    const unknownGpu = await getJson<ErrorBody>(`${api}/gpus/GPU-nope/latest`);
    assert.equal(unknownGpu.status, 404);
    assert.equal(unknownGpu.body.error.code, 'GPU_NOT_FOUND');
    const unknownHost = await getJson<ErrorBody>(`${api}/hosts/nope/latest`);
    assert.equal(unknownHost.status, 404);
    assert.equal(unknownHost.body.error.code, 'HOST_NOT_FOUND');
  });

  it('answers 400 BAD_REQUEST naming the bad parameter', async () => {
    for (const [query, pattern] of [
      ['step=5x', /step "5x"/],
      ['step=0s', /step "0s"/],
      ['step=1.5m', /step "1.5m"/],
      ['step=400d', /step "400d"/],
      ['step=5m&max_points=100', /step and max_points/],
      ['agg=max', /agg "max" needs step or max_points/],
      ['step=5m&agg=median', /agg/],
      ['max_points=0', /max_points/],
      ['max_points=many', /max_points/],
      ['format=csv', /format/],
      ['limit=10001', /limit must be <= 10000/],
      ['limit=100001&format=columns', /limit/],
      ['cursor=bogus&format=columns', /cursor/],
    ] as const) {
      const { status, body } = await getJson<ErrorBody>(`${telemetry}&${query}`);
      assert.equal(status, 400, query);
      assert.equal(body.error.code, 'BAD_REQUEST', query);
      assert.match(body.error.message, pattern, query);
    }
  });
});
