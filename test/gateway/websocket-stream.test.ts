/**
 * The live stream at /ws over real WebSocket clients (`ws`) against real
 * gateways on a real loopback port, fed through the real streamer and
 * collector: subscribe, filter, unsubscribe, bad frames, a slow client that
 * never reads beside a fast one, and two gateways on one etcd. Every test
 * counts samples in and out.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { writeGeneratedFile } from '../../src/cli/generate-command.js';
import { createLogger } from '../../src/common/logger.js';
import { metricsRegistry } from '../../src/common/metrics.js';
import { EtcdKvStore } from '../../src/kv/etcd-kv-store.js';
import { Gateway, type GatewayOptions } from '../../src/gateway/gateway.js';
import { fetchAllTelemetry, getJson } from '../support/api-checks.js';
import { startEtcd, type EtcdProcess } from '../support/etcd-process.js';
import { runGputel, type GputelProcess } from '../support/gputel-process.js';
import { startInProcessPipeline, type InProcessPipeline } from '../support/in-process-pipeline.js';
import { waitFor } from '../support/wait-for.js';

const HOUR_MS = 3_600_000;
const START_MS = Date.parse('2026-03-02T00:00:00Z');
const logger = createLogger('silent');

type Frame = { type: string; id?: string; count?: number; data?: ApiRecord; error?: { code: string; message: string } };
type ApiRecord = { timestamp: string; uuid: string; hostname: string; gpu_id: number; metrics: Record<string, number | null>; [field: string]: unknown };

/** A `ws` client that keeps every frame it reads. */
class TestClient {
  readonly frames: Frame[] = [];
  closeCode: number | undefined;
  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => this.frames.push(JSON.parse(String(data)) as Frame));
    socket.on('close', (code) => {
      this.closeCode = code;
    });
  }

  static async connect(baseUrl: string): Promise<TestClient> {
    const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/ws`);
    const client = new TestClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return client;
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Sends a frame and waits for the first frame after it of `type` (or an error) naming `id`. */
  async request(frame: Record<string, unknown>, timeoutMs = 10_000): Promise<Frame> {
    const from = this.frames.length;
    this.send(frame);
    return waitFor(`an answer to ${JSON.stringify(frame)}`, timeoutMs, () => this.frames.slice(from).find((f) => f.type !== 'record' && f.type !== 'dropped' && f.id === frame.id));
  }

  async subscribe(id: string, filter: Record<string, unknown> = {}): Promise<void> {
    const answer = await this.request({ type: 'subscribe', id, ...filter });
    assert.deepEqual(answer, { type: 'subscribed', id });
  }

  records(id?: string): ApiRecord[] {
    return this.frames.filter((f) => f.type === 'record' && (id === undefined || f.id === id)).map((f) => f.data!);
  }

  close(): void {
    this.socket.terminate();
  }
}

/**
 * Streamed records merged by GPU and timestamp, in order of first arrival. A
 * record whose samples a batch boundary split between two messages arrives
 * as two frames, each with its own metrics; merged, they are the stored
 * record. Fails if any sample arrived twice.
 */
function merged(records: ApiRecord[]): ApiRecord[] {
  const byKey = new Map<string, ApiRecord>();
  for (const record of records) {
    const key = `${record.uuid} ${record.hostname} ${record.timestamp}`;
    const seen = byKey.get(key);
    if (!seen) {
      byKey.set(key, structuredClone(record));
      continue;
    }
    for (const [name, value] of Object.entries(record.metrics)) {
      if (value === null) continue;
      assert.equal(seen.metrics[name] ?? null, null, `${name} of ${key} arrived twice`);
      seen.metrics[name] = value;
    }
    for (const [field, value] of Object.entries(record)) if (field !== 'metrics' && value !== null) seen[field] = value;
  }
  // Metrics in name order, as REST lists them.
  for (const record of byKey.values()) record.metrics = Object.fromEntries(Object.entries(record.metrics).sort(([a], [b]) => (a < b ? -1 : 1)));
  return [...byKey.values()];
}

/** Samples in a set of streamed records: every metric value present. */
function samplesOf(records: ApiRecord[]): number {
  return records.reduce((sum, r) => sum + Object.values(r.metrics).filter((v) => v !== null).length, 0);
}

async function metricValue(name: string): Promise<number> {
  const metric = await metricsRegistry.getSingleMetric(name)?.get();
  return metric?.values.reduce((sum, v) => sum + v.value, 0) ?? 0;
}

async function startGateway(pipeline: InProcessPipeline, options: Partial<GatewayOptions> = {}): Promise<{ gateway: Gateway; baseUrl: string }> {
  const gateway = new Gateway(pipeline.kv, pipeline.keys, { cluster: 'default', host: '127.0.0.1', port: 0, logger, ...options });
  await gateway.start();
  return { gateway, baseUrl: `http://127.0.0.1:${gateway.port}` };
}

describe('the live stream at /ws', () => {
  let dir: string;
  let pipeline: InProcessPipeline;
  let hour = 0;
  /** Writes and ingests the next hour of 2 hosts × 2 GPUs at `intervalMs`; answers the samples streamed. */
  const ingestNextHour = async (intervalMs: number): Promise<number> => {
    const file = join(dir, `hour-${hour}.csv`);
    await writeGeneratedFile(file, { hosts: 2, gpusPerHost: 2, durationMs: HOUR_MS, intervalMs, seed: 11, startMs: START_MS + hour * HOUR_MS });
    hour++;
    const summary = await pipeline.ingest(file);
    return summary.goodRows;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gputel-ws-'));
    pipeline = await startInProcessPipeline();
    await ingestNextHour(60_000); // the GPUs exist before anyone subscribes by id
  });
  after(async () => {
    await pipeline?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('streams every new record once, in the REST record shape, filtered per subscription, until unsubscribed', async () => {
    const gpus = (await getJson<{ data: { uuid: string; hostname: string; gpu_id: number }[] }>(`${pipeline.baseUrl}/api/v1/gpus`)).body.data;
    assert.equal(gpus.length, 4);
    const [first, second] = gpus;
    const all = await TestClient.connect(pipeline.baseUrl);
    const filtered = await TestClient.connect(pipeline.baseUrl);
    try {
      await all.subscribe('all');
      await filtered.subscribe('one-gpu', { gpus: [first.uuid], metrics: ['gpu_utilization', 'DCGM_FI_DEV_GPU_TEMP'] });
      await filtered.subscribe('one-host', { hosts: [second.hostname === first.hostname ? gpus[2].hostname : second.hostname] });
      await filtered.subscribe('by-host-id', { gpus: [`${second.hostname}:${second.gpu_id}`] });

      const samplesIn = await ingestNextHour(60_000);
      await waitFor('every sample on the all subscription', 30_000, () => (samplesOf(all.records()) >= samplesIn ? true : undefined));
      const streamed = all.records();
      assert.equal(samplesOf(streamed), samplesIn, 'samples in = samples out');

      // Each sample once, per GPU in time order, the records equal to what REST serves.
      const rest = await fetchAllTelemetry(pipeline.baseUrl, first.uuid);
      const ofFirst = merged(streamed.filter((r) => r.uuid === first.uuid));
      assert.equal(ofFirst.length, 60);
      assert.deepEqual(ofFirst.map((r) => r.timestamp), [...ofFirst.map((r) => r.timestamp)].sort());
      assert.deepEqual(ofFirst, rest.filter((r) => Date.parse(r.timestamp) >= Date.parse(ofFirst[0].timestamp)));

      // Filters: by UUID with two metrics, by host, by hostname:gpu_id.
      // Every filtered subscription, the host's too: its records may come after the others' (another host's chunks).
      await waitFor('the filtered subscriptions', 10_000, () =>
        merged(filtered.records('one-gpu')).length >= 60 && merged(filtered.records('by-host-id')).length >= 60 && merged(filtered.records('one-host')).length >= 120 ? true : undefined,
      );
      const oneGpu = filtered.records('one-gpu');
      assert.equal(merged(oneGpu).length, 60);
      assert.ok(oneGpu.every((r) => r.uuid === first.uuid));
      assert.ok(oneGpu.every((r) => Object.keys(r.metrics).sort().join() === 'DCGM_FI_DEV_GPU_TEMP,DCGM_FI_DEV_GPU_UTIL'), JSON.stringify(oneGpu[0]));
      // As REST's metrics=: only the selected named fields, so null keeps meaning "no sample".
      assert.ok(oneGpu.every((r) => typeof r.gpu_utilization === 'number' && typeof r.temperature === 'number' && !('power_draw' in r)), JSON.stringify(oneGpu[0]));
      const oneHost = filtered.records('one-host');
      assert.equal(merged(oneHost).length, 120);
      assert.equal(new Set(oneHost.map((r) => r.hostname)).size, 1);
      assert.ok(filtered.records('by-host-id').every((r) => r.hostname === second.hostname && r.gpu_id === second.gpu_id));

      // After unsubscribing, nothing more on that id; the others go on.
      assert.deepEqual(await filtered.request({ type: 'unsubscribe', id: 'one-gpu' }), { type: 'unsubscribed', id: 'one-gpu' });
      const before = filtered.records('one-gpu').length;
      const allBefore = samplesOf(all.records());
      const moreSamples = await ingestNextHour(60_000);
      await waitFor('the next hour on the all subscription', 30_000, () => (samplesOf(all.records()) >= allBefore + moreSamples ? true : undefined));
      await waitFor('the next hour on the host subscription', 10_000, () => (merged(filtered.records('one-host')).length >= 240 ? true : undefined));
      assert.equal(samplesOf(all.records()), allBefore + moreSamples, 'samples in = samples out, second hour');
      assert.equal(filtered.records('one-gpu').length, before);
    } finally {
      all.close();
      filtered.close();
    }
  });

  it('streams a record split between two messages (a batch boundary inside it) as two frames, every sample once', async () => {
    const client = await TestClient.connect(pipeline.baseUrl);
    try {
      await client.subscribe('all');
      const file = join(dir, `hour-${hour}.csv`);
      await writeGeneratedFile(file, { hosts: 2, gpusPerHost: 2, durationMs: 600_000, intervalMs: 60_000, seed: 11, startMs: START_MS + hour * HOUR_MS });
      hour++;
      // 7 samples per message: most records' samples straddle two messages.
      const samplesIn = (await pipeline.ingest(file, { batchSamples: 7 })).goodRows;
      await waitFor('every sample', 30_000, () => (samplesOf(client.records()) >= samplesIn ? true : undefined));
      assert.equal(samplesOf(client.records()), samplesIn, 'samples in = samples out');
      const records = merged(client.records());
      assert.equal(records.length, 40);
      assert.ok(client.records().length > records.length, 'some records arrived in parts');
      const first = records[0];
      const rest = await fetchAllTelemetry(pipeline.baseUrl, first.uuid);
      const streamedOfFirst = records.filter((r) => r.uuid === first.uuid && r.hostname === first.hostname);
      assert.deepEqual(streamedOfFirst, rest.filter((r) => Date.parse(r.timestamp) >= Date.parse(first.timestamp)));
    } finally {
      client.close();
    }
  });

  it('answers bad frames with an error frame and keeps the connection open', async () => {
    const { gateway, baseUrl } = await startGateway(pipeline, { liveStream: { maxSubscriptions: 2 } });
    const client = await TestClient.connect(baseUrl);
    const errorAfter = async (frame: unknown): Promise<Frame> => {
      const from = client.frames.length;
      client.send(frame);
      return waitFor(`an error for ${JSON.stringify(frame)}`, 5_000, () => client.frames.slice(from).find((f) => f.type === 'error'));
    };
    try {
      const cases: [unknown, string, RegExp, string | undefined][] = [
        ['{"type":', 'BAD_REQUEST', /not JSON/, undefined],
        ['[1]', 'BAD_REQUEST', /JSON object/, undefined],
        [{ type: 'subscribe' }, 'BAD_REQUEST', /needs an "id"/, undefined],
        [{ type: 'subscribe', id: 'x'.repeat(129) }, 'BAD_REQUEST', /needs an "id"/, undefined],
        [{ type: 'publish', id: 'a' }, 'BAD_REQUEST', /unknown frame type "publish"/, 'a'],
        [{ type: 'subscribe', id: 'a', gpu: ['x'] }, 'BAD_REQUEST', /unknown field "gpu"/, 'a'],
        [{ type: 'subscribe', id: 'a', hosts: 'node-0' }, 'BAD_REQUEST', /"hosts" must be an array/, 'a'],
        [{ type: 'subscribe', id: 'a', gpus: ['GPU-nope'] }, 'GPU_NOT_FOUND', /GPU-nope/, 'a'],
        [{ type: 'subscribe', id: 'a', metrics: ['gpu_utilisation'] }, 'BAD_REQUEST', /unknown metric "gpu_utilisation".*gpu_utilization/, 'a'],
        [{ type: 'unsubscribe', id: 'never' }, 'NOT_FOUND', /no subscription "never"/, 'never'],
      ];
      for (const [frame, code, message, id] of cases) {
        const answer = await errorAfter(frame);
        assert.equal(answer.error?.code, code, JSON.stringify(frame));
        assert.match(answer.error?.message ?? '', message);
        assert.equal(answer.id, id, `id of the error for ${JSON.stringify(frame)}`);
      }
      // A plain GET, without the upgrade, answers in the API's error shape.
      const plain = await fetch(`${baseUrl}/ws`);
      assert.equal(plain.status, 426);
      assert.equal(((await plain.json()) as Frame).error?.code, 'BAD_REQUEST');
      client.socket.send(Buffer.from('binary'), { binary: true });
      await waitFor('an error for a binary frame', 5_000, () => client.frames.find((f) => f.error?.message.includes('binary')));

      await client.subscribe('a');
      assert.equal((await errorAfter({ type: 'subscribe', id: 'a' })).error?.code, 'CONFLICT');
      await client.subscribe('b');
      const tooMany = await errorAfter({ type: 'subscribe', id: 'c' });
      assert.match(tooMany.error?.message ?? '', /too many subscriptions on this connection \(at most 2\)/);
      assert.equal(client.socket.readyState, WebSocket.OPEN, 'still open after every bad frame');
      assert.equal(await metricValue('gputel_gateway_ws_subscriptions'), 2);
      assert.equal(await metricValue('gputel_gateway_ws_clients'), 1);
    } finally {
      client.close();
      await gateway.stop();
    }
    assert.equal(await metricValue('gputel_gateway_ws_subscriptions'), 0, 'closing released every subscription');
  });

  it('a client that never reads does not delay a fast one; it gets a dropped notice, or is closed when it stays stuck', async () => {
    // Small buffers, so that the kernel's socket buffers fill and the gateway's bound is reached with little data.
    const limits = { highWaterBytes: 16 * 1024, maxQueuedFrames: 200, maxQueuedBytes: 128 * 1024, maxSubscriptions: 20 };
    const patient = await startGateway(pipeline, { liveStream: { ...limits, stuckCloseMs: 120_000 } });
    const strict = await startGateway(pipeline, { liveStream: { ...limits, stuckCloseMs: 1_000 } });
    const fast = await TestClient.connect(patient.baseUrl);
    const slow = await TestClient.connect(patient.baseUrl);
    const stuck = await TestClient.connect(strict.baseUrl);
    const droppedBefore = await metricValue('gputel_gateway_ws_dropped_frames_total');
    const slowClosesBefore = await metricValue('gputel_gateway_ws_slow_closes_total');
    try {
      await fast.subscribe('all');
      // Twenty copies of every record for each slow client: far more than the kernel buffers hold.
      for (let s = 0; s < 20; s++) await slow.subscribe(`copy-${s}`);
      for (let s = 0; s < 20; s++) await stuck.subscribe(`copy-${s}`);
      const slowSocket = (slow.socket as unknown as { _socket: Socket })._socket;
      const stuckSocket = (stuck.socket as unknown as { _socket: Socket })._socket;
      slowSocket.pause();
      stuckSocket.pause();

      const samplesIn = await ingestNextHour(2_000); // 1,800 records per GPU
      await waitFor('every sample on the fast client', 60_000, () => (samplesOf(fast.records()) >= samplesIn ? true : undefined));
      assert.equal(samplesOf(fast.records()), samplesIn, 'the fast client got every sample, while the slow ones read nothing');
      assert.equal(slow.closeCode, undefined);

      // The stuck client is closed once its buffer stays full past stuckCloseMs:
      // with 1008 when it reads the close frame within the grace period, else
      // its connection is dropped (1006). The server's count says which client it was.
      await waitFor('the stuck client to be closed by the server', 20_000, async () => ((await metricValue('gputel_gateway_ws_slow_closes_total')) > slowClosesBefore ? true : undefined));
      stuckSocket.resume();
      await waitFor('the stuck client to see its connection end', 20_000, () => stuck.closeCode);
      assert.ok(stuck.closeCode === 1008 || stuck.closeCode === 1006, String(stuck.closeCode));
      assert.equal(await metricValue('gputel_gateway_ws_slow_closes_total'), slowClosesBefore + 1, 'only the stuck client was closed');

      // The slow one reads again: what waited arrives, then a notice of what was dropped.
      slowSocket.resume();
      const notice = await waitFor('a dropped notice', 20_000, () => slow.frames.find((f) => f.type === 'dropped'));
      assert.ok((notice.count ?? 0) > 0, JSON.stringify(notice));
      assert.ok((await metricValue('gputel_gateway_ws_dropped_frames_total')) > droppedBefore);
      assert.equal(slow.socket.readyState, WebSocket.OPEN);
      // Records delivered plus records dropped account for every copy of every record (20 per record).
      const recordsIn = fast.records().length;
      await waitFor('the slow client to have every record or its drop notice', 20_000, () => {
        const dropped = slow.frames.filter((f) => f.type === 'dropped').reduce((sum, f) => sum + (f.count ?? 0), 0);
        return slow.records().length + dropped >= recordsIn * 20 ? true : undefined;
      });
      const dropped = slow.frames.filter((f) => f.type === 'dropped').reduce((sum, f) => sum + (f.count ?? 0), 0);
      assert.equal(slow.records().length + dropped, recordsIn * 20);
    } finally {
      fast.close();
      slow.close();
      stuck.close();
      await patient.gateway.stop();
      await strict.gateway.stop();
    }
  });

  it('closes a client that keeps sending frames and reads none of the answers, once its queue of answers is full', async () => {
    const { gateway, baseUrl } = await startGateway(pipeline, { liveStream: { highWaterBytes: 16 * 1024, maxQueuedFrames: 200, maxQueuedBytes: 64 * 1024 } });
    const client = await TestClient.connect(baseUrl);
    const slowClosesBefore = await metricValue('gputel_gateway_ws_slow_closes_total');
    try {
      (client.socket as unknown as { _socket: Socket })._socket.pause();
      // Each answer is an error frame of ~170 bytes: 100,000 of them outgrow the kernel's socket buffers and the queue.
      for (let i = 0; i < 100 && client.socket.readyState === WebSocket.OPEN; i++) {
        for (let j = 0; j < 1_000; j++) client.send('[1]');
        await new Promise((resolve) => setImmediate(resolve));
      }
      await waitFor('the client to be closed by the server', 30_000, async () => ((await metricValue('gputel_gateway_ws_slow_closes_total')) > slowClosesBefore ? true : undefined));
      await waitFor('its connection gone from the gateway', 10_000, async () => ((await metricValue('gputel_gateway_ws_clients')) === 0 ? true : undefined));
    } finally {
      client.close();
      await gateway.stop();
    }
  });

  it('pings every client: one that answers stays connected, one that stopped reading is disconnected', async () => {
    const { gateway, baseUrl } = await startGateway(pipeline, { liveStream: { pingIntervalMs: 200 } });
    const answering = await TestClient.connect(baseUrl);
    const silent = await TestClient.connect(baseUrl);
    let pings = 0;
    answering.socket.on('ping', () => pings++);
    try {
      await answering.subscribe('s');
      await silent.subscribe('s');
      (silent.socket as unknown as { _socket: Socket })._socket.pause(); // reads nothing, so answers no ping
      await waitFor('the silent client to be disconnected', 10_000, async () => ((await metricValue('gputel_gateway_ws_clients')) === 1 ? true : undefined));
      await waitFor('a few pings to the answering client', 10_000, () => (pings >= 4 ? true : undefined));
      assert.equal(answering.socket.readyState, WebSocket.OPEN);
      assert.equal(await metricValue('gputel_gateway_ws_subscriptions'), 1);
      // Samples in and out: the answering client still gets every new record.
      const samplesIn = await ingestNextHour(300_000);
      await waitFor('every sample on the answering client', 30_000, () => (samplesOf(answering.records()) >= samplesIn ? true : undefined));
      assert.equal(samplesOf(answering.records()), samplesIn);
    } finally {
      answering.close();
      silent.close();
      await gateway.stop();
    }
  });
});

describe('a gateway that stops', () => {
  it('closes its WebSocket clients with 1001 and a reason, the live stream and GraphQL alike', async () => {
    const pipeline = await startInProcessPipeline();
    const { gateway, baseUrl } = await startGateway(pipeline);
    try {
      const live = await TestClient.connect(baseUrl);
      const graphql = new WebSocket(`${baseUrl.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
      await new Promise((resolve, reject) => graphql.once('open', resolve).once('error', reject));
      const closes = [live.socket, graphql].map((socket) => new Promise<[number, string]>((resolve) => socket.once('close', (code, reason) => resolve([code, String(reason)]))));
      await gateway.stop();
      for (const [code, reason] of await Promise.all(closes)) assert.deepEqual([code, reason], [1001, 'the gateway is stopping']);
    } finally {
      await gateway.stop();
      await pipeline.stop();
    }
  });
});

describe('two gateways on one etcd', () => {
  let etcd: EtcdProcess;
  let kv: EtcdKvStore;
  let pipeline: InProcessPipeline;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gputel-ws-etcd-'));
    etcd = await startEtcd();
    kv = await EtcdKvStore.connect({ endpoints: etcd.endpoints });
    pipeline = await startInProcessPipeline({ kv });
  });
  after(async () => {
    await pipeline?.stop();
    await kv?.close();
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a record stored once reaches the WebSocket clients of both', async () => {
    const second = await startGateway(pipeline);
    const onFirst = await TestClient.connect(pipeline.baseUrl);
    const onSecond = await TestClient.connect(second.baseUrl);
    try {
      await onFirst.subscribe('s');
      await onSecond.subscribe('s', { metrics: ['power_draw'] });
      const file = join(dir, 'ten-minutes.csv');
      await writeGeneratedFile(file, { hosts: 1, gpusPerHost: 2, durationMs: 600_000, intervalMs: 10_000, seed: 3, startMs: START_MS });
      const samplesIn = (await pipeline.ingest(file)).goodRows;
      await waitFor('every sample on the first gateway', 30_000, () => (samplesOf(onFirst.records()) >= samplesIn ? true : undefined));
      await waitFor('every record on the second gateway', 30_000, () => (onSecond.records().length >= 120 ? true : undefined));
      assert.equal(samplesOf(onFirst.records()), samplesIn, 'samples in = samples out');
      assert.equal(onFirst.records().length, 120);
      assert.deepEqual(
        onSecond.records().map((r) => `${r.uuid} ${r.timestamp} ${r.power_draw}`),
        onFirst.records().map((r) => `${r.uuid} ${r.timestamp} ${r.power_draw}`),
        'the same records, in the same order, through either gateway',
      );
    } finally {
      onFirst.close();
      onSecond.close();
      await second.gateway.stop();
    }
  });
});

describe('the gputel binary', () => {
  let dir: string;
  let gputel: GputelProcess | undefined;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gputel-ws-bin-'));
  });
  after(async () => {
    await gputel?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('`gputel start` streams a live simulated fleet at /ws, every sample as stored', async () => {
    gputel = runGputel(['start', '--port', '0', '--host', '127.0.0.1', '--data-dir', dir, '--simulate', '--simulate-hosts', '1', '--simulate-gpus-per-host', '2', '--interval', '1s', '--simulate-backfill', '1s']);
    const [, port] = await gputel.waitForOutput(/API on http:\/\/localhost:(\d+)/);
    const baseUrl = `http://127.0.0.1:${port}`;
    const client = await TestClient.connect(baseUrl);
    try {
      await client.subscribe('live');
      // Four ticks.
      const streamed = await waitFor('three ticks of records', 30_000, () => {
        const records = merged(client.records());
        return new Set(records.map((r) => r.timestamp)).size >= 4 ? records : undefined;
      });
      // Samples in = samples out: every tick wholly after the subscription (not the first, which may have begun before it,
      // nor the newest, which may still be arriving) holds what REST serves.
      const ticks = [...new Set(streamed.map((r) => r.timestamp))].sort().slice(1, 3);
      for (const uuid of new Set(streamed.map((r) => r.uuid))) {
        const rest = (await fetchAllTelemetry(baseUrl, uuid)).filter((r) => ticks.includes(r.timestamp)) as ApiRecord[];
        const mine = streamed.filter((r) => r.uuid === uuid && ticks.includes(r.timestamp));
        assert.equal(samplesOf(mine), samplesOf(rest), `samples of ${uuid}`);
        assert.deepEqual(mine, rest);
      }
    } finally {
      client.close();
    }
  });
});
