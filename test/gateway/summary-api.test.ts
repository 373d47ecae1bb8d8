/**
 * Fleet and host summaries over a known data set streamed through the real
 * streamer and collector, on both store drivers: exact counts, means, max,
 * hottest and idle list; stale vs active around --stale-after; a replayed
 * message adds nothing to the rollups; bad parameters name themselves.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MessageProcessor } from '../../src/collector/message-processor.js';
import { GputelError } from '../../src/common/gputel-error.js';
import { createLogger } from '../../src/common/logger.js';
import { Gateway } from '../../src/gateway/gateway.js';
import type { KvStore, TxnRequest } from '../../src/kv/kv-store.js';
import { encodeMessage } from '../../src/queue/message-codec.js';
import { TelemetryBatchBuilder } from '../../src/queue/telemetry-batch.js';
import { sumRollupWindow } from '../../src/store/utilization-rollup.js';
import { CSV_HEADER } from '../support/csv-lines.js';
import { getJson } from '../support/api-checks.js';
import { useEtcdStore } from '../support/etcd-store.js';
import { startInProcessPipeline, type InProcessPipeline } from '../support/in-process-pipeline.js';
import { withOverrides } from '../support/kv-overrides.js';

const END = Date.parse('2026-03-02T10:00:00Z');
const STEP_MS = 30_000;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** One GPU of the data set: a sample of each metric every 30 s from `fromMs` to `toMs`. */
interface Series {
  host: string;
  gpu: number;
  uuid: string;
  toMs: number;
  /** Utilisation at sample i (time `fromMs + i × STEP_MS`); absent: the GPU reports none. */
  utilization?: (timeMs: number, i: number) => number;
  power: number;
  temperature: number;
}

const FROM = END - 2 * HOUR;
const SERIES: Series[] = [
  // Busy for an hour, then idle: idle over 1h, not over 2h.
  { host: 'host-a', gpu: 0, uuid: 'GPU-a0', toMs: END, utilization: (t) => (t < END - HOUR ? 90 : 2), power: 100, temperature: 40 },
  { host: 'host-a', gpu: 1, uuid: 'GPU-a1', toMs: END, utilization: () => 50, power: 200, temperature: 45 },
  { host: 'host-b', gpu: 0, uuid: 'GPU-b0', toMs: END, utilization: (_t, i) => (i % 2 === 0 ? 3 : 4), power: 300, temperature: 70 },
  // Silent for the last 10 minutes: stale under the default 5m.
  { host: 'host-c', gpu: 0, uuid: 'GPU-c0', toMs: END - 10 * MINUTE, utilization: () => 1, power: 50, temperature: 30 },
  // Exactly 5 minutes behind: still active; reports no utilisation at all.
  { host: 'host-c', gpu: 1, uuid: 'GPU-c1', toMs: END - 5 * MINUTE, power: 60, temperature: 70 },
];

function samplesOf(series: Series): { timeMs: number; utilization?: number }[] {
  const samples = [];
  for (let i = 0, t = FROM; t <= series.toMs; i++, t += STEP_MS) samples.push({ timeMs: t, utilization: series.utilization?.(t, i) });
  return samples;
}

function csvOf(series: Series[]): { text: string; rows: number } {
  let text = CSV_HEADER + '\n';
  let rows = 0;
  for (const s of series) {
    for (const { timeMs, utilization } of samplesOf(s)) {
      const values: [string, number | undefined][] = [['DCGM_FI_DEV_GPU_UTIL', utilization], ['DCGM_FI_DEV_POWER_USAGE', s.power], ['DCGM_FI_DEV_GPU_TEMP', s.temperature]];
      for (const [metric, value] of values) {
        if (value === undefined) continue;
        text += `"${new Date(timeMs).toISOString()}","${metric}","${s.gpu}","nvidia${s.gpu}","${s.uuid}","NVIDIA H100","${s.host}","","","","${value}",""\n`;
        rows++;
      }
    }
  }
  return { text, rows };
}

/** Mean utilisation of a series from `fromMs` on, as the test computes it from its own data. */
function meanFrom(series: Series, fromMs: number): number {
  const values = samplesOf(series).filter((s) => s.timeMs >= fromMs).map((s) => s.utilization!);
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

const byUuid = (uuid: string): Series => SERIES.find((s) => s.uuid === uuid)!;
const newestUtilization = (uuid: string): number => samplesOf(byUuid(uuid)).at(-1)!.utilization!;
const idleEntry = (uuid: string, fromMs: number) => {
  const s = byUuid(uuid);
  return { id: uuid, uuid, hostname: s.host, gpu_id: s.gpu, mig_instance_id: null, mean_utilization: meanFrom(s, fromMs) };
};

type Summary = {
  gpus: number;
  by_status: { active: number; stale: number };
  utilization: { mean: number | null; max: number | null };
  power_draw: { total: number | null };
  temperature: { max: number | null; hottest: { id: string; uuid: string; hostname: string; gpu_id: number; mig_instance_id: string | null; value: number } | null };
  idle: { threshold: number; window: string; count: number; gpus: { id: string; uuid: string; hostname: string; gpu_id: number; mig_instance_id: string | null; mean_utilization: number }[] };
  as_of: string | null;
};
type ErrorBody = { error: { code: string; message: string } };

/** Every summary test, on the store `openStore` gives. */
function summarySuite(openStore: () => Promise<KvStore | undefined>): void {
  let pipeline: InProcessPipeline;
  let api: string;
  let dir: string;
  let rows: number;
  before(async () => {
    pipeline = await startInProcessPipeline({ kv: await openStore() });
    api = `${pipeline.baseUrl}/api/v1`;
    dir = mkdtempSync(join(tmpdir(), 'gputel-summary-'));
    const csv = csvOf(SERIES);
    rows = csv.rows;
    writeFileSync(join(dir, 'fleet.csv'), csv.text);
    await pipeline.ingest(join(dir, 'fleet.csv'));
  });
  after(async () => {
    await pipeline.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores every sample of the data set once', async () => {
    assert.deepEqual((await getJson(`${api}/stats`)).body, { gpus: 5, hosts: 3, records: 5 * 241 - 20 - 10, samples: rows });
  });

  it('summarises the fleet: counts, newest utilisation, power and temperature, idle GPUs over the last hour', async () => {
    const { status, body } = await getJson<Summary>(`${api}/summary?window=1h&idle_threshold=5`);
    assert.equal(status, 200);
    const newest = ['GPU-a0', 'GPU-a1', 'GPU-b0', 'GPU-c0'].map(newestUtilization);
    assert.deepEqual(body, {
      gpus: 5,
      by_status: { active: 4, stale: 1 },
      utilization: { mean: newest.reduce((a, b) => a + b, 0) / 4, max: 50 },
      power_draw: { total: 710 },
      // GPU-b0 and GPU-c1 are both at 70: the first by hostname, then gpu_id.
      temperature: { max: 70, hottest: { id: 'GPU-b0', uuid: 'GPU-b0', hostname: 'host-b', gpu_id: 0, mig_instance_id: null, value: 70 } },
      idle: {
        threshold: 5,
        window: '1h',
        count: 3,
        gpus: [idleEntry('GPU-a0', END - HOUR), idleEntry('GPU-b0', END - HOUR), idleEntry('GPU-c0', END - HOUR)],
      },
      as_of: new Date(END).toISOString(),
    });
    assert.equal(body.idle.gpus[0].mean_utilization, 2);
  });

  it('uses 1h and 5 as the default window and threshold', async () => {
    const { body } = await getJson<Summary>(`${api}/summary`);
    assert.equal(body.idle.window, '1h');
    assert.equal(body.idle.threshold, 5);
    assert.deepEqual(body.idle.gpus.map((g) => g.uuid), ['GPU-a0', 'GPU-b0', 'GPU-c0']);
  });

  it('averages over the window asked for, and compares below the threshold strictly', async () => {
    const twoHours = (await getJson<Summary>(`${api}/summary?window=2h`)).body;
    assert.deepEqual(twoHours.idle.gpus, [idleEntry('GPU-b0', FROM), idleEntry('GPU-c0', FROM)], 'GPU-a0 was busy in the first hour');
    const strict = (await getJson<Summary>(`${api}/summary?idle_threshold=1`)).body;
    assert.equal(strict.idle.count, 0, 'a mean of exactly 1 is not below 1');
    const decimal = (await getJson<Summary>(`${api}/summary?idle_threshold=3.6`)).body;
    assert.deepEqual(decimal.idle.gpus.map((g) => g.uuid), ['GPU-a0', 'GPU-b0', 'GPU-c0']);
  });

  it('summarises one host', async () => {
    const { status, body } = await getJson<Summary>(`${api}/hosts/host-c/summary?window=30m`);
    assert.equal(status, 200);
    assert.deepEqual(body, {
      gpus: 2,
      by_status: { active: 1, stale: 1 },
      utilization: { mean: 1, max: 1 },
      power_draw: { total: 110 },
      temperature: { max: 70, hottest: { id: 'GPU-c1', uuid: 'GPU-c1', hostname: 'host-c', gpu_id: 1, mig_instance_id: null, value: 70 } },
      idle: { threshold: 5, window: '30m', count: 1, gpus: [idleEntry('GPU-c0', END - 30 * MINUTE)] },
      as_of: new Date(END).toISOString(),
    });
    const missing = await getJson<ErrorBody>(`${api}/hosts/host-z/summary`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'HOST_NOT_FOUND');
  });

  it('does not call a GPU idle when it has no utilisation sample in the window', async () => {
    // GPU-c0 went silent 10 minutes before as_of; GPU-c1 never reports utilisation.
    const { body } = await getJson<Summary>(`${api}/hosts/host-c/summary?window=5m`);
    assert.deepEqual(body.idle, { threshold: 5, window: '5m', count: 0, gpus: [] });
  });

  it('calls a GPU stale once its newest sample is more than --stale-after behind the cluster, in the GPU list too', async () => {
    const gpus = (await getJson<{ data: { uuid: string; status: string }[] }>(`${api}/gpus`)).body.data;
    assert.deepEqual(gpus.map((g) => `${g.uuid}:${g.status}`), ['GPU-a0:active', 'GPU-a1:active', 'GPU-b0:active', 'GPU-c0:stale', 'GPU-c1:active']);
    const lenient = new Gateway(pipeline.kv, pipeline.keys, { cluster: 'default', host: '127.0.0.1', port: 0, staleAfterMs: 10 * MINUTE, logger: createLogger('silent') });
    await lenient.start();
    try {
      const summary = (await getJson<Summary>(`http://127.0.0.1:${lenient.port}/api/v1/summary`)).body;
      assert.deepEqual(summary.by_status, { active: 5, stale: 0 }, 'exactly 10 minutes behind is not more than 10m');
      const listed = (await getJson<{ data: { status: string }[] }>(`http://127.0.0.1:${lenient.port}/api/v1/gpus`)).body.data;
      assert.deepEqual(listed.map((g) => g.status), ['active', 'active', 'active', 'active', 'active']);
    } finally {
      await lenient.stop();
    }
  });

  it('takes a window in weeks as step and times do: 1w is 7d', async () => {
    const week = await getJson<Summary>(`${api}/summary?window=1w`);
    const days = await getJson<Summary>(`${api}/summary?window=7d`);
    assert.equal(week.status, 200);
    // The answer echoes the window as asked.
    assert.deepEqual(week.body, { ...days.body, idle: { ...days.body.idle, window: '1w' } });
  });

  it('answers 400 naming the parameter for a bad window or threshold', async () => {
    const cases: [string, RegExp][] = [
      ['window=soon', /window "soon" is not a duration/],
      ['window=30s', /window "30s" is shorter than 1m/],
      ['window=8d', /window "8d" is longer than 7d/],
      ['window=2w', /window "2w" is longer than 7d/],
      ['idle_threshold=abc', /idle_threshold/],
      ['idle_threshold=101', /idle_threshold/],
      ['idle_threshold=-1', /idle_threshold/],
      ['windw=1h', /unknown parameter "windw"/],
    ];
    for (const [query, message] of cases) {
      for (const path of ['summary', 'hosts/host-a/summary']) {
        const { status, body } = await getJson<ErrorBody>(`${api}/${path}?${query}`);
        assert.equal(status, 400, `${path}?${query}`);
        assert.equal(body.error.code, 'BAD_REQUEST');
        assert.match(body.error.message, message);
      }
    }
  });

  /** A one-host message of utilisation samples on partition 0 of a topic of its own, claimed by the test. */
  async function queueMessage(kv: KvStore, messageId: string, values: [number, number][]) {
    const { keys } = pipeline;
    const builder = new TelemetryBatchBuilder('replay', 'test');
    const gpu = builder.gpuSlot('g', () => ({ hostname: 'h1', uuid: 'GPU-r', gpuId: 0, device: 'nvidia0', modelName: 'm', driverVersion: '', container: '', pod: '', namespace: '', migInstanceId: '', migProfile: '' }));
    for (const [timeMs, value] of values) builder.add(gpu, builder.metricSlot('DCGM_FI_DEV_GPU_UTIL'), timeMs, value);
    const key = keys.message('replay-topic', 0, messageId);
    await kv.put(key, encodeMessage(builder.take()));
    const claim = await kv.put(keys.owner('replay-topic', 0), Buffer.from('test-consumer'));
    const stored = (await kv.get(key))!;
    return { partition: 0, key, messageId, modRevision: stored.modRevision, value: stored.value, claimRevision: claim.revision };
  }

  /** The summary at `url` once `seen` holds of it (the gateway follows the store by watch), or after 200 tries 10 ms apart. */
  async function summaryOnceSeen(url: string, seen: (summary: Summary) => boolean): Promise<Summary> {
    let summary = (await getJson<Summary>(url)).body;
    for (let i = 0; i < 200 && !seen(summary); i++) {
      await sleep(10);
      summary = (await getJson<Summary>(url)).body;
    }
    return summary;
  }

  async function rollupSums(): Promise<{ count: number; sum: number }> {
    const stored = await pipeline.kv.get(pipeline.keys.rollup('replay', 'h1'));
    const [sums] = stored ? sumRollupWindow(stored.value, 'test', 0, Number.MAX_SAFE_INTEGER) : [];
    return { count: sums?.count ?? 0, sum: sums?.sum ?? 0 };
  }

  /** The store, with the final transaction of a message (the one deleting it) failing before or after it applied. */
  function failingCommit(kv: KvStore, when: 'before' | 'after'): KvStore {
    return withOverrides(kv, {
      txn: async (request: TxnRequest) => {
        const isCommit = (request.success ?? []).some((op) => op.type === 'delete');
        if (isCommit && when === 'before') throw new GputelError('KV_UNAVAILABLE', 'injected: the commit did not reach the store', { retryable: true });
        const result = await kv.txn(request);
        if (isCommit) throw new GputelError('KV_UNAVAILABLE', 'injected: the commit applied but its answer was lost', { retryable: true });
        return result;
      },
    });
  }

  it('adds a replayed message to the rollups once, whether its first commit failed or applied', async () => {
    const { kv, keys } = pipeline;
    const processor = () => new MessageProcessor(kv, keys, 'replay-topic', createLogger('silent'));
    const first = await queueMessage(kv, '0000000001000-00000000-000000000001', [[END, 10], [END + 10_000, 20]]);
    await assert.rejects(new MessageProcessor(failingCommit(kv, 'before'), keys, 'replay-topic', createLogger('silent')).process(first), { code: 'KV_UNAVAILABLE' });
    assert.deepEqual(await rollupSums(), { count: 0, sum: 0 }, 'a commit that failed added nothing');
    await processor().process(first);
    assert.deepEqual(await rollupSums(), { count: 2, sum: 30 });

    const second = await queueMessage(kv, '0000000002000-00000000-000000000002', [[END + 20_000, 5]]);
    await assert.rejects(new MessageProcessor(failingCommit(kv, 'after'), keys, 'replay-topic', createLogger('silent')).process(second), { code: 'KV_UNAVAILABLE' });
    await assert.rejects(processor().process(second), { code: 'CONFLICT' }, 'the replay finds the message gone');
    assert.deepEqual(await rollupSums(), { count: 3, sum: 35 });

    // The same samples again in another message (a file streamed twice): not new, not added.
    const again = await queueMessage(kv, '0000000003000-00000000-000000000003', [[END, 10], [END + 20_000, 5]]);
    await processor().process(again);
    assert.deepEqual(await rollupSums(), { count: 3, sum: 35 });
    const stats = await kv.get(keys.partitionStats('replay', 'replay-topic', 0));
    assert.deepEqual(JSON.parse(stats!.value.toString()), { samples: 3, records: 3, messages: 3 }, 'samples in: 5; stored once: 3');
  });

  it('follows the rollups by watch: a summary after a new message reflects it', async () => {
    const { kv, keys } = pipeline;
    const gateway = new Gateway(kv, keys, { cluster: 'replay', host: '127.0.0.1', port: 0, logger: createLogger('silent') });
    await gateway.start();
    try {
      const url = `http://127.0.0.1:${gateway.port}/api/v1/summary?window=1m&idle_threshold=100`;
      const meanOf = (summary: Summary) => summary.idle.gpus.map((g) => [g.uuid, g.mean_utilization]);
      // What the replay test left: 10, 20 and 5 at END … END + 20 s.
      assert.deepEqual(meanOf((await getJson<Summary>(url)).body), [['GPU-r', 35 / 3]]);
      const message = await queueMessage(kv, '0000000003500-00000000-000000000035', [[END + 30_000, 50]]);
      await new MessageProcessor(kv, keys, 'replay-topic', createLogger('silent')).process(message);
      const after = await summaryOnceSeen(url, (summary) => summary.as_of === new Date(END + 30_000).toISOString() && summary.idle.gpus[0]?.mean_utilization !== 35 / 3);
      assert.deepEqual(meanOf(after), [['GPU-r', 85 / 4]]);
    } finally {
      await gateway.stop();
    }
  });

  it('skips a rollup that does not decode when summarising, and the collector overwrites it', async () => {
    const { kv, keys } = pipeline;
    const key = keys.rollup('default', 'host-b');
    const good = (await kv.get(key))!.value;
    const idleUuids = (summary: Summary) => summary.idle.gpus.map((g) => g.uuid).join();
    await kv.put(key, Buffer.from('garbage'));
    try {
      // The gateway sees the new value once its watch delivers it.
      const body = await summaryOnceSeen(`${api}/summary`, (summary) => idleUuids(summary) !== 'GPU-a0,GPU-b0,GPU-c0');
      assert.deepEqual(body.idle.gpus.map((g) => g.uuid), ['GPU-a0', 'GPU-c0'], "host-b's GPU is not known to be idle");
    } finally {
      await kv.put(key, good);
    }
    assert.equal(idleUuids(await summaryOnceSeen(`${api}/summary`, (summary) => idleUuids(summary) === 'GPU-a0,GPU-b0,GPU-c0')), 'GPU-a0,GPU-b0,GPU-c0');
    await kv.put(keys.rollup('replay', 'h1'), Buffer.from('garbage'));
    const message = await queueMessage(kv, '0000000004000-00000000-000000000004', [[END + 60_000, 7]]);
    await new MessageProcessor(kv, keys, 'replay-topic', createLogger('silent')).process(message);
    assert.deepEqual(await rollupSums(), { count: 1, sum: 7 }, 'rewritten from this message');
  });
}

describe('summaries on the embedded store', () => {
  summarySuite(async () => undefined); // the pipeline's own in-memory store
});

describe('summaries on etcd', () => {
  const etcd = useEtcdStore();
  summarySuite(async () => etcd.store);
});
