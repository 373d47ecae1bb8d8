/**
 * The collector's guarantees, with a real streamer and gateway beside it on
 * the in-memory embedded store: poison messages go to the dead-letter queue
 * without stopping a partition, replays count nothing twice, MIG instances and
 * old metric names are kept apart and mapped, a streamer resumes where it
 * committed.
 */
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MessageProcessor } from '../../src/collector/message-processor.js';
import { createLogger } from '../../src/common/logger.js';
import type { QueuedMessage } from '../../src/queue/queue-consumer.js';
import { encodeMessage } from '../../src/queue/message-codec.js';
import { decodeDeadLetter } from '../../src/queue/dead-letter-queue.js';
import { TelemetryBatchBuilder } from '../../src/queue/telemetry-batch.js';
import { assertApiMatches, getJson, waitForSamples } from '../support/api-checks.js';
import { readOracle } from '../support/csv-oracle.js';
import { startInProcessPipeline, type InProcessPipeline } from '../support/in-process-pipeline.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/dcgm-export-sample.csv', import.meta.url));
const HEADER = readFileSync(FIXTURE, 'utf8').split('\n')[0];

function row(fields: { ts: string; metric: string; gpu: number; uuid: string; host: string; value: string; labels: string }): string {
  const cells = [fields.ts, fields.metric, String(fields.gpu), `nvidia${fields.gpu}`, fields.uuid, 'NVIDIA A100-SXM4-80GB', fields.host, '', '', '', fields.value, fields.labels];
  return cells.map((c) => `"${c.replace(/"/g, '""')}"`).join(',');
}

describe('collector', () => {
  let pipeline: InProcessPipeline;
  let dir: string;
  beforeEach(async () => {
    pipeline = await startInProcessPipeline();
    dir = mkdtempSync(join(tmpdir(), 'gputel-collector-'));
  });
  afterEach(async () => {
    await pipeline.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('moves a poison message to the dead-letter queue with the reason and keeps the partition moving', async () => {
    const { kv, keys } = pipeline;
    for (let partition = 0; partition < 4; partition++) {
      await kv.put(keys.message('telemetry', partition, `0000000000000-00000000-00000000000${partition}`), Buffer.from('not a message'));
    }
    await pipeline.ingest(FIXTURE);
    let dead = await kv.range({ prefix: keys.deadLetterPrefix('telemetry') });
    for (let i = 0; i < 100 && dead.count < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50)); // idle partitions look again within a second
      dead = await kv.range({ prefix: keys.deadLetterPrefix('telemetry') });
    }
    assert.equal(dead.count, 4);
    const record = decodeDeadLetter('id', dead.kvs[0].value);
    assert.match(record.reason, /queued message is malformed/);
    assert.equal(record.value.toString(), 'not a message');
    await assertApiMatches(pipeline.baseUrl, readOracle(FIXTURE));
  });

  /** Stops the pipeline's collector and queues one message on partition 0, claimed by a consumer of the test's own. */
  async function queueOneMessage(): Promise<{ message: QueuedMessage; ownerKey: string }> {
    const { kv, keys } = pipeline;
    await pipeline.collector.stop();
    const builder = new TelemetryBatchBuilder('default', 'test');
    const gpu = builder.gpuSlot('g', () => ({ hostname: 'h1', uuid: 'GPU-r', gpuId: 0, device: 'nvidia0', modelName: 'm', driverVersion: '', container: '', pod: '', namespace: '', migInstanceId: '', migProfile: '' }));
    builder.add(gpu, builder.metricSlot('DCGM_FI_DEV_GPU_UTIL'), 1_000, 5);
    const messageId = '0000000001000-test-000000000000';
    const key = keys.message('telemetry', 0, messageId);
    await kv.put(key, encodeMessage(builder.take()));
    const ownerKey = keys.owner('telemetry', 0);
    const claim = await kv.put(ownerKey, Buffer.from('test-consumer'));
    const stored = (await kv.get(key))!;
    return { message: { partition: 0, key, messageId, modRevision: stored.modRevision, value: stored.value, claimRevision: claim.revision }, ownerKey };
  }

  it('applies a replayed message once: the second delivery finds it gone and counts nothing', async () => {
    const { kv, keys } = pipeline;
    const { message } = await queueOneMessage();
    await new MessageProcessor(kv, keys, 'telemetry', createLogger('silent')).process(message);
    // A crashed collector's replay of the same delivery is refused, and counts nothing.
    await assert.rejects(new MessageProcessor(kv, keys, 'telemetry', createLogger('silent')).process(message), { code: 'CONFLICT', retryable: true });
    const stats = await kv.range({ prefix: keys.statsPrefix('default') });
    assert.deepEqual(JSON.parse(stats.kvs[0].value.toString()), { samples: 1, records: 1, messages: 1 });
    assert.equal(await kv.get(message.key), undefined);
  });

  it('writes nothing for a collector whose claim on the partition was taken over (fencing)', async () => {
    const { kv, keys } = pipeline;
    const { message, ownerKey } = await queueOneMessage();
    await kv.put(ownerKey, Buffer.from('successor')); // another consumer claimed the partition meanwhile
    await assert.rejects(new MessageProcessor(kv, keys, 'telemetry', createLogger('silent')).process(message), { code: 'CONFLICT' });
    assert.equal((await kv.range({ prefix: keys.clusterPrefix('default') }, { countOnly: true })).count, 0, 'nothing written');
    assert.notEqual(await kv.get(message.key), undefined, 'the message stays for the owner');
  });

  it('counts samples streamed twice (another file with the same rows, a batch cut) once', async () => {
    const copy = join(dir, 'same-rows-other-name.csv');
    copyFileSync(FIXTURE, copy);
    await pipeline.ingest(FIXTURE);
    await pipeline.ingest(copy, { newSamples: 0, batchSamples: 7 });
    assert.deepEqual((await getJson(`${pipeline.baseUrl}/api/v1/stats`)).body, { gpus: 3, hosts: 2, records: 9, samples: 84 });
    await assertApiMatches(pipeline.baseUrl, readOracle(FIXTURE));
  });

  it('skips a stored chunk that does not decode, with a log, instead of stalling the partition or failing queries', async () => {
    await pipeline.ingest(FIXTURE);
    const { kv, keys } = pipeline;
    const gpu0 = 'GPU-5fd4f087-86f3-7a43-b711-4771313afc50';
    const start = Date.parse('2025-07-18T20:42:34Z');
    await kv.put(keys.gpuChunk('default', 'mtv5-dgx1-hgpu-031', gpu0, start, start + 20_000, '0000000000001-corrupt-000000000000'), Buffer.from('garbage'));
    const copy = join(dir, 'again.csv');
    copyFileSync(FIXTURE, copy);
    await pipeline.ingest(copy, { newSamples: 0 });
    assert.deepEqual((await getJson(`${pipeline.baseUrl}/api/v1/stats`)).body, { gpus: 3, hosts: 2, records: 9, samples: 84 });
    const page = await getJson<{ count: number }>(`${pipeline.baseUrl}/api/v1/gpus/${gpu0}/telemetry`);
    assert.equal(page.status, 200);
    assert.equal(page.body.count, 3);
  });

  it('keeps the MIG instances of one GPU apart and maps old metric names', async () => {
    const file = join(dir, 'mig.csv');
    const uuid = 'GPU-11111111-2222-3333-4444-555555555555';
    const lines = [HEADER];
    for (const [instance, value] of [['1', '10'], ['2', '90']]) {
      lines.push(row({ ts: '2026-03-02T09:15:00Z', metric: 'DCGM_FI_DEV_GPU_UTIL', gpu: 0, uuid, host: 'mig-node', value, labels: `GPU_I_ID="${instance}",GPU_I_PROFILE="3g.40gb",Hostname="mig-node",UUID="${uuid}"` }));
    }
    lines.push(row({ ts: '2026-03-02T09:15:00Z', metric: 'dcgm_gpu_temp', gpu: 1, uuid: 'GPU-old', host: 'old-node', value: '44', labels: 'Hostname="old-node"' }));
    writeFileSync(file, lines.join('\n') + '\n');
    await pipeline.ingest(file);
    const gpus = (await getJson<{ data: Record<string, unknown>[] }>(`${pipeline.baseUrl}/api/v1/gpus`)).body.data;
    const mig = gpus.filter((g) => g.uuid === uuid);
    assert.deepEqual(mig.map((g) => [g.mig_instance_id, g.mig_profile]), [['1', '3g.40gb'], ['2', '3g.40gb']]);
    const values = [];
    for (const instance of mig) {
      const page = await getJson<{ data: { gpu_utilization: number }[] }>(`${pipeline.baseUrl}/api/v1/gpus/${encodeURIComponent(String(instance.id))}/telemetry`);
      values.push(page.body.data[0].gpu_utilization);
    }
    assert.deepEqual(values, [10, 90]);
    const old = await getJson<{ data: { temperature: number; metrics: Record<string, number> }[] }>(`${pipeline.baseUrl}/api/v1/gpus/GPU-old/telemetry`);
    assert.equal(old.body.data[0].temperature, 44);
    assert.deepEqual(old.body.data[0].metrics, { DCGM_FI_DEV_GPU_TEMP: 44 });
  });

  it('rejects a row whose labels_raw cannot be read, and stores the rest', async () => {
    const file = join(dir, 'labels.csv');
    const good = row({ ts: '2026-03-02T09:15:00Z', metric: 'DCGM_FI_DEV_GPU_UTIL', gpu: 0, uuid: 'GPU-good', host: 'node-a', value: '7', labels: 'Hostname="node-a"' });
    const bad = row({ ts: '2026-03-02T09:15:00Z', metric: 'DCGM_FI_DEV_GPU_UTIL', gpu: 1, uuid: 'GPU-bad', host: 'node-a', value: '8', labels: 'Hostname="node-a' });
    writeFileSync(file, [HEADER, good, bad].join('\n') + '\n');
    const summary = await pipeline.ingest(file);
    assert.equal(summary.goodRows, 1);
    assert.equal(summary.rowsRejected, 1);
    assert.equal(summary.rejections[0].lineNumber, 3);
    assert.match(summary.rejections[0].reason, /label/i);
  });

  it('keeps one UUID reported under two hostnames as two series, losing neither', async () => {
    const file = join(dir, 'two-hosts.csv');
    const lines = [HEADER];
    for (const [host, value] of [['exporter-pod-a', '10'], ['exporter-pod-b', '20']]) {
      for (const ts of ['2026-03-02T09:15:00Z', '2026-03-02T09:15:10Z']) {
        lines.push(row({ ts, metric: 'DCGM_FI_DEV_GPU_UTIL', gpu: 0, uuid: 'GPU-same', host, value, labels: `Hostname="${host}"` }));
      }
    }
    writeFileSync(file, lines.join('\n') + '\n');
    await pipeline.ingest(file);
    // Each series is asked by the id the listing gives it (hostname:gpu_id, as the UUID names both).
    await assertApiMatches(pipeline.baseUrl, readOracle(file).map((r) => ({ ...r, uuid: `${r.uuid}@${r.hostname}` })), { uuidOf: (gpu) => `${gpu.uuid}@${gpu.hostname}` });
    const gpus = (await getJson<{ data: { id: string }[] }>(`${pipeline.baseUrl}/api/v1/gpus`)).body.data;
    assert.deepEqual(gpus.map((g) => g.id), ['exporter-pod-a:0', 'exporter-pod-b:0']);
    // The bare UUID is ambiguous: 409, naming the ids to use.
    const ambiguous = await getJson<{ error: { code: string; ids: string[] } }>(`${pipeline.baseUrl}/api/v1/gpus/GPU-same/telemetry`);
    assert.equal(ambiguous.status, 409);
    assert.deepEqual(ambiguous.body.error, { ...ambiguous.body.error, code: 'AMBIGUOUS_GPU', ids: ['exporter-pod-a:0', 'exporter-pod-b:0'] });
    // A cursor names its series: paging by the bare UUID goes on in it.
    const first = await getJson<{ data: { hostname: string }[]; next_cursor: string }>(`${pipeline.baseUrl}/api/v1/gpus/exporter-pod-b:0/telemetry?limit=1`);
    const second = await getJson<{ data: { hostname: string }[] }>(`${pipeline.baseUrl}/api/v1/gpus/GPU-same/telemetry?limit=1&cursor=${first.body.next_cursor}`);
    assert.deepEqual([first.body.data[0].hostname, second.body.data[0].hostname], ['exporter-pod-b', 'exporter-pod-b']);
  });

  it('refuses at the edge, by line, rows whose names or times no key can hold, and stores the rest', async () => {
    const file = join(dir, 'edges.csv');
    const ok = { metric: 'DCGM_FI_DEV_GPU_UTIL', gpu: 0, uuid: 'GPU-ok', host: 'node-ok', value: '1', labels: '' };
    writeFileSync(
      file,
      [
        HEADER,
        row({ ...ok, ts: '2026-03-02T09:15:00Z' }),
        row({ ...ok, ts: '1960-01-01T00:00:00Z' }),
        row({ ...ok, ts: '2300-01-01T00:00:00Z' }),
        row({ ...ok, ts: '2026-03-02T09:15:00Z', host: '..' }),
        row({ ...ok, ts: '2026-03-02T09:15:00Z', uuid: 'G'.repeat(300) }),
        row({ ...ok, ts: '2026-03-02T09:15:00Z', metric: 'DCGM_FI_' + 'X'.repeat(600) }),
        row({ ...ok, ts: '2026-03-02T09:15:10Z', host: 'a/b' }),
      ].join('\n') + '\n',
    );
    const summary = await pipeline.ingest(file, { newSamples: 2 });
    assert.deepEqual(summary.rejections.map((r) => r.lineNumber), [3, 4, 5, 6, 7]);
    assert.equal(summary.goodRows, 2);
    const hosts = (await getJson<{ data: { hostname: string }[] }>(`${pipeline.baseUrl}/api/v1/hosts`)).body.data.map((h) => h.hostname);
    assert.deepEqual(hosts, ['a/b', 'node-ok']);
  });

  it('splits a chunk whose records would be too big for one request, and serves every value', async () => {
    // Every metric of a GPU at its own millisecond: 16 times the records, each padded with 15 absent values.
    const file = join(dir, 'ragged.csv');
    const lines = [HEADER];
    const metrics = ['DCGM_FI_DEV_GPU_UTIL', 'DCGM_FI_DEV_GPU_TEMP', 'DCGM_FI_DEV_POWER_USAGE', 'DCGM_FI_DEV_SM_CLOCK', 'DCGM_FI_DEV_MEM_CLOCK', 'DCGM_FI_DEV_FB_USED', 'DCGM_FI_DEV_FB_FREE', 'DCGM_FI_DEV_MEM_COPY_UTIL'];
    const start = Date.parse('2026-03-02T00:00:00Z');
    for (let t = 0; t < 2_500; t++) {
      metrics.forEach((metric, m) => {
        lines.push(row({ ts: new Date(start + t * 1000 + m).toISOString(), metric, gpu: 0, uuid: 'GPU-ragged', host: 'node-r', value: String(t + m / 10), labels: '' }));
      });
    }
    writeFileSync(file, lines.join('\n') + '\n');
    await pipeline.ingest(file);
    await assertApiMatches(pipeline.baseUrl, readOracle(file));
  });

  it('resumes a file where the last commit ended: rows appended later are the only ones streamed', async () => {
    const file = join(dir, 'growing.csv');
    const [header, ...rows] = readFileSync(FIXTURE, 'utf8').trimEnd().split('\n');
    writeFileSync(file, [header, ...rows.slice(0, 50)].join('\n') + '\n');
    const first = await pipeline.ingest(file);
    assert.equal(first.goodRows, 50);
    appendFileSync(file, rows.slice(50).join('\n') + '\n');
    const second = await pipeline.ingest(file);
    assert.equal(second.goodRows, 34);
    assert.ok(second.resumedFromByte > 0);
    const copy = join(dir, 'copy.csv');
    copyFileSync(file, copy);
    await waitForSamples(pipeline.baseUrl, 84);
    await assertApiMatches(pipeline.baseUrl, readOracle(copy));
  });
});
