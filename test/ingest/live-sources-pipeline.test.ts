/**
 * The live sources through the real pipeline (queue, collector, store,
 * gateway on the embedded store), with a tiny adapter standing in for the
 * streamer: rows → BatchAccumulator → QueueProducer.commit at every position.
 * Samples are counted in (rows delivered) and out (/api/v1/stats).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../src/common/logger.js';
import { NvidiaSmiSource } from '../../src/ingest/nvidia-smi-source.js';
import { ScrapeSource } from '../../src/ingest/scrape-source.js';
import { SimulatorSource } from '../../src/ingest/simulator-source.js';
import type { Source } from '../../src/ingest/source.js';
import { QueueProducer } from '../../src/queue/queue-producer.js';
import { BatchAccumulator } from '../../src/streamer/batch-accumulator.js';
import { getJson, waitForSamples } from '../support/api-checks.js';
import { startInProcessPipeline, type InProcessPipeline } from '../support/in-process-pipeline.js';

const FAKE_SMI = fileURLToPath(new URL('../../../test/fixtures/fake-nvidia-smi.mjs', import.meta.url));
const logger = createLogger('silent');

const EXPORTER = [
  '# TYPE DCGM_FI_DEV_GPU_TEMP gauge',
  'DCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-scrape-0",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="scraped-node",DCGM_FI_DRIVER_VERSION="535.129.03",container="trainer",namespace="ml-team",pod="job-1"} 41',
  'DCGM_FI_DEV_GPU_TEMP{gpu="1",UUID="GPU-scrape-1",device="nvidia1",modelName="NVIDIA A100-SXM4-80GB",Hostname="scraped-node",DCGM_FI_DRIVER_VERSION="535.129.03",GPU_I_ID="1",GPU_I_PROFILE="3g.40gb"} 50',
  'DCGM_FI_DEV_GPU_TEMP{gpu="1",UUID="GPU-scrape-1",device="nvidia1",modelName="NVIDIA A100-SXM4-80GB",Hostname="scraped-node",DCGM_FI_DRIVER_VERSION="535.129.03",GPU_I_ID="2",GPU_I_PROFILE="3g.40gb"} 51',
  'DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-scrape-0",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="scraped-node"} 9223372036854775794',
  '',
].join('\n');

/** Streams `positions` positions of a source through the producer; resolves with the rows delivered. */
async function stream(pipeline: InProcessPipeline, source: Source, positions: number): Promise<number> {
  const producer = new QueueProducer(pipeline.kv, pipeline.keys, { topic: 'telemetry', partitions: 4, highWatermark: 1_000, sourceId: source.id, location: source.location, logger });
  await producer.resume();
  const accumulator = new BatchAccumulator('default', source.id, 4);
  const controller = new AbortController();
  let rows = 0;
  let seen = 0;
  for await (const _ of source.read(null, { row: (r) => (accumulator.add(r), rows++), reject: (r) => assert.fail(r.reason) }, controller.signal)) {
    await producer.commit(accumulator.take(), { byteOffset: rows, nextLineNumber: rows + 1, rowsRead: rows, rowsRejected: 0 });
    if (++seen === positions) controller.abort();
  }
  return rows;
}

test('scrape, nvidia-smi and simulator rows are stored exactly: samples in = samples out, GPUs, MIG instances and driver versions listed', async () => {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    response.end(EXPORTER);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dir = mkdtempSync(join(tmpdir(), 'gputel-live-pipeline-'));
  Object.assign(process.env, { FAKE_SMI_STATE: join(dir, 'state.json'), FAKE_SMI_GPUS: '2', FAKE_SMI_START_MS: String(Date.now() - 60_000) });
  const pipeline = await startInProcessPipeline();
  try {
    const scrape = new ScrapeSource({ urls: [`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`], intervalMs: 1_000 });
    const smi = new NvidiaSmiSource({ intervalMs: 50, path: FAKE_SMI, hostname: 'smi-box' });
    const simulator = new SimulatorSource({ hosts: 2, gpusPerHost: 2, intervalMs: 10_000, backfillMs: 50_000 });
    const [scraped, smiRows, simulated] = await Promise.all([stream(pipeline, scrape, 3), stream(pipeline, smi, 4), stream(pipeline, simulator, 5)]);
    assert.equal(scraped, 3 * 3, 'three series a scrape, the blank one skipped');
    assert.ok(smiRows >= 4 * 8, `${smiRows} nvidia-smi rows`);
    assert.equal(simulated, 5 * 2 * 2 * 16);
    const total = scraped + smiRows + simulated;

    await waitForSamples(pipeline.baseUrl, total);
    const stats = (await getJson<Record<string, number>>(`${pipeline.baseUrl}/api/v1/stats`)).body;
    assert.equal(stats.samples, total, 'every row stored once');

    const gpus = (await getJson<{ data: Array<Record<string, unknown>> }>(`${pipeline.baseUrl}/api/v1/gpus`)).body.data;
    const scrapedGpus = gpus.filter((g) => g.hostname === 'scraped-node').map((g) => [g.uuid, g.mig_instance_id ?? null, g.driver_version]);
    assert.deepEqual(scrapedGpus.sort(), [
      ['GPU-scrape-0', null, '535.129.03'],
      ['GPU-scrape-1', '1', '535.129.03'],
      ['GPU-scrape-1', '2', '535.129.03'],
    ]);
    const smiGpus = gpus.filter((g) => g.hostname === 'smi-box');
    assert.deepEqual(smiGpus.map((g) => [g.gpu_id, g.model, g.driver_version]).sort(), [[0, 'NVIDIA H200', '550.54.15'], [1, 'NVIDIA H200', '550.54.15']]);
    assert.equal(gpus.filter((g) => String(g.hostname).startsWith('gpu-node-')).length, 4);
  } finally {
    await pipeline.stop();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
});
