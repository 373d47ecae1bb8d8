/**
 * Throughput of the live sources' hot paths, on one core. Not a test.
 *   1. The Prometheus text parser on a dcgm-exporter page of 64 GPUs × 40
 *      fields (first parse, then repeated parses that reuse the label cache).
 *   2. A scrape source turning that page into rows through a local HTTP server.
 *   3. The simulator's back-fill (rows/s of a 4 × 8 fleet).
 *   4. The nvidia-smi line parser.
 *
 *   npm run build && node dist/bench/live-sources.js
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NvidiaSmiLineParser } from '../src/ingest/nvidia-smi-line-parser.js';
import { PrometheusTextParser } from '../src/ingest/prometheus-text-parser.js';
import { ScrapeSource } from '../src/ingest/scrape-source.js';
import { SimulatorSource } from '../src/ingest/simulator-source.js';

const GPUS = 64;
const FIELDS = 40;

function exporterPage(): string {
  let text = '';
  for (let f = 0; f < FIELDS; f++) {
    const name = `DCGM_FI_DEV_FIELD_${f}`;
    text += `# HELP ${name} Field ${f}.\n# TYPE ${name} gauge\n`;
    for (let g = 0; g < GPUS; g++) {
      text += `${name}{gpu="${g % 8}",UUID="GPU-${String(g).padStart(8, '0')}-1111-2222-3333-444455556666",device="nvidia${g % 8}",modelName="NVIDIA H100 80GB HBM3",Hostname="gpu-node-${Math.floor(g / 8)}",DCGM_FI_DRIVER_VERSION="535.129.03",container="trainer",namespace="ml-team",pod="job-${g}-worker-0"} ${(g * 7.25 + f).toFixed(3)}\n`;
    }
  }
  return text;
}

function rate(count: number, ms: number): string {
  return `${Math.round((count / ms) * 1000).toLocaleString('en-US')}/s`;
}

const page = exporterPage();
const lines = GPUS * FIELDS;
{
  const noop = { sample: () => undefined, error: () => undefined };
  let started = performance.now();
  new PrometheusTextParser().parse(page, noop);
  const coldMs = performance.now() - started;
  const parser = new PrometheusTextParser();
  parser.parse(page, noop);
  const rounds = 50;
  started = performance.now();
  for (let i = 0; i < rounds; i++) parser.parse(page, noop);
  const warmMs = performance.now() - started;
  console.log(`prometheus parser, ${lines} samples (${(page.length / 1024).toFixed(0)} KiB): first parse ${coldMs.toFixed(1)} ms (${rate(lines, coldMs)} samples), cached labels ${(warmMs / rounds).toFixed(1)} ms (${rate(lines * rounds, warmMs)} samples)`);
}
{
  const server = createServer((_q, response) => response.end(page));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const source = new ScrapeSource({ urls: [`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`], intervalMs: 20 });
  const controller = new AbortController();
  let rows = 0;
  let rounds = 0;
  let busyMs = 0;
  let roundStart = 0;
  for await (const _ of source.read(null, { row: () => (rows++, roundStart === 0 ? (roundStart = performance.now()) : 0), reject: () => undefined }, controller.signal)) {
    busyMs += performance.now() - roundStart;
    roundStart = 0;
    if (++rounds === 30) controller.abort();
  }
  server.close();
  console.log(`scrape source: ${rows / rounds} rows a scrape; parse + rows ${(busyMs / rounds).toFixed(1)} ms a scrape (${rate(rows, busyMs)} rows)`);
}
{
  const source = new SimulatorSource({ backfillMs: 24 * 3_600_000 });
  const controller = new AbortController();
  let rows = 0;
  let ticks = 0;
  const started = performance.now();
  for await (const _ of source.read(null, { row: () => rows++, reject: () => undefined }, controller.signal)) if (++ticks === 2_000) controller.abort();
  const ms = performance.now() - started;
  console.log(`simulator back-fill, 4 × 8 GPUs: ${rows} rows in ${ms.toFixed(0)} ms (${rate(rows, ms)} rows)`);
  const restartStarted = performance.now();
  const nextMs = Math.floor(Date.now() / 10_000) * 10_000;
  const position = { originMs: nextMs - 6 * 86_400_000, nextMs, seed: 1, hosts: 4, gpusPerHost: 8, intervalMs: 10_000 };
  const restart = new AbortController();
  for await (const _ of new SimulatorSource().read(position, { row: () => undefined, reject: () => undefined }, restart.signal)) restart.abort();
  console.log(`simulator restart after 6 days of history (fast-forward): ${(performance.now() - restartStarted).toFixed(0)} ms`);
}
{
  const parser = new NvidiaSmiLineParser({ hostname: 'h', timeZone: 'utc' });
  const line = (i: number): string => `2026/03/02 09:15:${String(i % 60).padStart(2, '0')}.123, ${i % 8}, GPU-0a1b2c3d-1111-2222-3333-44445555666${i % 8}, NVIDIA H200, 550.54.15, 143771, 512, 142640, 37, 4, 33, 118.42, 1980, 3201`;
  const count = 200_000;
  const texts = Array.from({ length: 480 }, (_, i) => line(i));
  let rows = 0;
  const sink = { row: () => rows++, reject: () => undefined };
  const started = performance.now();
  for (let i = 0; i < count; i++) parser.parse(texts[i % texts.length], i + 1, sink);
  const ms = performance.now() - started;
  console.log(`nvidia-smi line parser: ${rate(count, ms)} lines (${rate(rows, ms)} rows)`);
}
