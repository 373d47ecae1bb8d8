/**
 * gputel against Prometheus, measured in the same run (issue 10's table):
 * fills gputel through a real etcd with a generated fleet (the real
 * streamer and collector, bench/fill-store.ts), times gputel's queries
 * through a real gateway process, then backfills the same samples into
 * Debian's Prometheus (bench/prometheus-reference.ts) and times the
 * matching PromQL with the same client. Prints one table with the ratios
 * and issue 10's targets, and writes every figure as JSON.
 *
 *   npm run bench:prometheus [-- --gpus 64 --hours 24 --requests 100 --json bench-results/versus-prometheus.json]
 *
 * --gpus is 1-8 or a multiple of 8 (8 GPUs a host). Not a test: the
 * figures move with the machine's load, which the JSON records; read the
 * ratios. Installs Debian's prometheus package when it is missing (as root).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';
import { DcgmFleetSimulation, GENERATED_METRICS } from '../src/ingest/dcgm-generator.js';
import { KeySpace } from '../src/kv/key-space.js';
import { openKvStore } from '../src/kv/open-kv-store.js';
import { findFreePort, startEtcd } from '../test/support/etcd-process.js';
import { GPUTEL_BIN } from '../test/support/gputel-process.js';
import { chunkBytesPerSample } from './chunk-bytes.js';
import { FILL_SEED, fillStore } from './fill-store.js';
import type { Timing } from './http-timing.js';
import { measurePrometheusReference, stopProcess, type PrometheusFigures } from './prometheus-reference.js';
import { storedSamples } from './store-progress.js';
import { timeQueries } from './timed-queries.js';

const INTERVAL_MS = 10_000;
const START_MS = Date.parse('2026-03-02T00:00:00Z');
const GPUS_PER_HOST = 8;

function argument(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

function positive(name: string, fallback: number): number {
  const value = Number(argument(name, String(fallback)));
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a whole number of at least 1`);
  return value;
}

interface GputelFigures {
  samples: number;
  chunks: number;
  bytesPerSample: number;
  etcdDbBytes: number;
  answers: { utilizationAvg: number | null; temperatureMax: number | null; powerTotal: number | null; idleGpus: number };
  queries: { raw: Timing; downsampled: Timing; aggregates: Timing; idle: Timing };
  urls: Record<string, string>;
}

interface Row {
  figure: string;
  gputel: number;
  prometheus: number;
  /** gputel ÷ Prometheus. */
  ratio: number;
  target: string;
  /** undefined where issue 10 sets no target. */
  met?: boolean;
}

interface SummaryAnswer {
  utilization: { mean: number | null };
  temperature: { max: number | null };
  power_draw: { total: number | null };
  idle: { count: number };
}

/** Fills a fresh etcd through the real pipeline and times gputel's queries through a gateway process. */
async function measureGputel(shape: { hosts: number; gpusPerHost: number; hours: number }, requests: number, uuid: string): Promise<GputelFigures> {
  const etcd = await startEtcd();
  const kv = await openKvStore({ endpoints: etcd.endpoints });
  const keys = new KeySpace();
  let gateway: ChildProcess | undefined;
  try {
    await fillStore(kv, keys, { ...shape, intervalMs: INTERVAL_MS, startMs: START_MS });
    const samples = await storedSamples(kv, keys);
    const { perSample, chunks } = await chunkBytesPerSample(kv, keys, samples);
    const etcdDbBytes = (await kv.status()).dbSizeBytes;
    console.log(`gputel: ${samples.toLocaleString('en-US')} samples in ${chunks.toLocaleString('en-US')} chunks, ${perSample.toFixed(3)} bytes/sample (chunk keys + values); etcd db ${(etcdDbBytes / 1e6).toFixed(0)} MB`);
    const port = await findFreePort();
    gateway = spawn(process.execPath, [GPUTEL_BIN, 'gateway', '--etcd', etcd.endpoints.join(','), '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      // Far more than the default rate limit (6000/min) from one address.
      env: { ...process.env, GPUTEL_RATE_LIMIT: '0' },
    });
    const base = `http://127.0.0.1:${port}`;
    const api = `${base}/api/v1`;
    const telemetry = `${api}/gpus/${uuid}/telemetry?start_time=${START_MS}&end_time=${START_MS + shape.hours * 3_600_000 - 1}`;
    const urls = {
      raw: `${telemetry}&format=columns&limit=100000`,
      downsampled: `${telemetry}&max_points=500&format=columns`,
      aggregates: `${api}/summary?window=1h`,
      idle: `${api}/summary?window=1h&idle_threshold=5`,
    };
    const timings = await timeQueries({
      requests,
      readyUrl: `${base}/readyz`,
      queries: [
        { name: 'raw', url: urls.raw, pages: true },
        { name: 'downsampled', url: urls.downsampled, pages: true },
        { name: 'aggregates', url: urls.aggregates },
        { name: 'idle', url: urls.idle },
      ],
    });
    const summary = (await (await fetch(urls.idle)).json()) as SummaryAnswer;
    const answers = { utilizationAvg: summary.utilization.mean, temperatureMax: summary.temperature.max, powerTotal: summary.power_draw.total, idleGpus: summary.idle.count };
    console.log(`gputel: answers: avg util ${answers.utilizationAvg?.toFixed(2)}, max temp ${answers.temperatureMax}, total power ${answers.powerTotal?.toFixed(1)} W, ${answers.idleGpus} idle GPUs`);
    return {
      samples,
      chunks,
      bytesPerSample: perSample,
      etcdDbBytes,
      answers,
      queries: { raw: timings.raw, downsampled: timings.downsampled, aggregates: timings.aggregates, idle: timings.idle },
      urls,
    };
  } finally {
    // Bounded: a gateway stuck in its shutdown is killed after 30 s rather than hanging the bench.
    if (gateway) await stopProcess(gateway);
    await kv.close();
    await etcd.stop();
  }
}

function tableRows(gputel: GputelFigures, prometheus: PrometheusFigures, hours: number): Row[] {
  const row = (figure: string, g: number, p: number, target: string, met?: (g: number, p: number) => boolean): Row => ({
    figure,
    gputel: g,
    prometheus: p,
    ratio: g / p,
    target,
    met: met?.(g, p),
  });
  const gq = gputel.queries;
  const pq = prometheus.queries;
  return [
    row('bytes/sample at rest', gputel.bytesPerSample, prometheus.bytesPerSample, '≤ 0.6 or < ½ Prometheus', (g, p) => g <= 0.6 || g < p / 2),
    row(`one GPU raw ${hours} h, p50 ms`, gq.raw.p50, pq.raw.p50, '—'),
    row(`one GPU raw ${hours} h, p99 ms`, gq.raw.p99, pq.raw.p99, '≤ ½ Prometheus', (g, p) => g <= p / 2),
    row('downsampled ~500 points, p50 ms', gq.downsampled.p50, pq.downsampled.p50, '—'),
    row('downsampled ~500 points, p99 ms', gq.downsampled.p99, pq.downsampled.p99, '—'),
    row('fleet aggregates, p50 ms', gq.aggregates.p50, pq.aggregates.p50, '≤ Prometheus', (g, p) => g <= p),
    row('fleet aggregates, p99 ms', gq.aggregates.p99, pq.aggregates.p99, '≤ Prometheus', (g, p) => g <= p),
    row('idle GPUs over 1 h, p50 ms', gq.idle.p50, pq.idle.p50, '—'),
    row('idle GPUs over 1 h, p99 ms', gq.idle.p99, pq.idle.p99, '—'),
  ];
}

function printTable(rows: Row[]): void {
  const number = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(v >= 1 ? 2 : 3));
  console.log(`\n${'figure'.padEnd(34)} ${'gputel'.padStart(9)} ${'Prometheus'.padStart(10)} ${'ratio'.padStart(7)}  target`);
  for (const r of rows) {
    const verdict = r.met === undefined ? '' : r.met ? '  met' : '  NOT met';
    console.log(`${r.figure.padEnd(34)} ${number(r.gputel).padStart(9)} ${number(r.prometheus).padStart(10)} ${r.ratio.toFixed(2).padStart(7)}  ${r.target}${verdict}`);
  }
}

async function main(): Promise<void> {
  const gpus = positive('gpus', 64);
  const hours = positive('hours', 24);
  const requests = positive('requests', 100);
  const jsonPath = argument('json', 'bench-results/versus-prometheus.json');
  if (gpus > GPUS_PER_HOST && gpus % GPUS_PER_HOST !== 0) throw new Error(`--gpus must be 1-${GPUS_PER_HOST} or a multiple of ${GPUS_PER_HOST}`);
  const shape = { hosts: Math.max(1, gpus / GPUS_PER_HOST), gpusPerHost: Math.min(gpus, GPUS_PER_HOST), hours };
  const uuid = new DcgmFleetSimulation({ ...shape, intervalMs: INTERVAL_MS, seed: FILL_SEED }).gpus[0].uuid;
  const samples = gpus * GENERATED_METRICS.length * Math.ceil((hours * 3_600_000) / INTERVAL_MS);
  const loadAtStart = loadavg();
  console.log(`versus Prometheus: ${gpus} GPUs × ${GENERATED_METRICS.length} metrics × ${hours} h at 10 s = ${samples.toLocaleString('en-US')} samples; ${requests} timed requests per query after the warm-up; load ${loadAtStart.map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} CPUs`);
  const gputel = await measureGputel(shape, requests, uuid);
  const prometheus = await measurePrometheusReference({ ...shape, intervalMs: INTERVAL_MS, startMs: START_MS, seed: FILL_SEED, requests, uuid }, (line) => console.log(line));
  const rows = tableRows(gputel, prometheus, hours);
  printTable(rows);
  console.log(`(gputel's summary answers the aggregates and the idle GPUs in one request; Prometheus's aggregate figure is the slowest of avg/max/sum, one request each. ${prometheus.version}.)`);
  const loadAtEnd = loadavg();
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(
    jsonPath,
    `${JSON.stringify(
      {
        measuredAt: new Date().toISOString(),
        machine: { cpus: cpus().length, loadAverageAtStart: loadAtStart, loadAverageAtEnd: loadAtEnd },
        shape: { gpus, metrics: GENERATED_METRICS.length, hours, intervalMs: INTERVAL_MS, samples, requests, uuid },
        table: rows,
        gputel,
        prometheus,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`figures written to ${jsonPath}`);
}

await main();
