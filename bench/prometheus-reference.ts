/**
 * The Prometheus side of the versus-Prometheus benchmark (issue 10): the
 * same generated fleet backfilled into Debian's Prometheus with promtool,
 * its blocks' bytes per sample, and the PromQL that matches gputel's
 * queries, timed through Prometheus's HTTP API by the same client as
 * gputel's (bench/timed-queries.ts).
 *
 * Installs Debian's `prometheus` package when `prometheus` or `promtool` is
 * missing and this process is root (otherwise it fails saying how). The
 * Prometheus it starts listens on 127.0.0.1 on a free port, scrapes
 * nothing, and is stopped by its pid before this module returns, also on
 * failure; its temp folder is removed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeGeneratedFile } from '../src/cli/generate-command.js';
import { GENERATED_METRICS } from '../src/ingest/dcgm-generator.js';
import { findFreePort } from '../test/support/etcd-process.js';
import type { Timing } from './http-timing.js';
import { timeQueries } from './timed-queries.js';

export interface PrometheusReferenceOptions {
  hosts: number;
  gpusPerHost: number;
  hours: number;
  intervalMs: number;
  startMs: number;
  seed: number;
  /** Timed requests per query (after the client's warm-up). */
  requests: number;
  /** The GPU whose series (a) and (b) read. */
  uuid: string;
  /** Longest wait for Prometheus's own compaction after it starts (it first runs a minute after start). */
  compactionWaitMs?: number;
}

export interface PrometheusBlocks {
  blocks: number;
  /** Bytes of chunks/* and index over every block: what MEASUREMENTS.md's 1.42 bytes/sample counts. */
  bytes: number;
}

export interface PrometheusFigures {
  version: string;
  samples: number;
  /** Wall time of `promtool tsdb create-blocks-from openmetrics` and its samples/s. */
  backfillSeconds: number;
  backfillSamplesPerSecond: number;
  /** Straight after promtool (2 h blocks, each already compacted by promtool). */
  afterBackfill: PrometheusBlocks;
  /** After Prometheus's own compaction merged the 2 h blocks (or the wait ran out: see compacted). */
  afterCompaction: PrometheusBlocks;
  /** True when Prometheus ran at least one compaction pass before afterCompaction was measured. */
  compacted: boolean;
  bytesPerSample: number;
  /** Points in answer (a): series × samples. */
  rawPoints: number;
  /** Answers, for comparison with gputel's: avg utilisation, max temperature, total power, idle GPUs. */
  answers: { utilizationAvg: number; temperatureMax: number; powerTotal: number; idleGpus: number };
  queries: { raw: Timing; downsampled: Timing; aggregates: Timing; aggregateAvg: Timing; aggregateMax: Timing; aggregateSum: Timing; idle: Timing };
  /** The PromQL behind each timing. */
  promql: Record<string, string>;
}

function onPath(binary: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status === 0;
}

/** Makes `prometheus` and `promtool` available: installs Debian's package as root, else throws saying how. */
export function ensurePrometheusInstalled(log: (line: string) => void): void {
  if (onPath('prometheus') && onPath('promtool')) return;
  if (process.getuid?.() !== 0) {
    throw new Error('prometheus and promtool are not on PATH: install them (Debian/Ubuntu: sudo apt-get install -y prometheus) and run the benchmark again');
  }
  log('prometheus/promtool missing: apt-get install -y --no-install-recommends prometheus');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = (): number | null => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'prometheus'], { stdio: 'inherit', env }).status;
  // A fresh image may have no package lists yet: update once and try again.
  if (install() !== 0 && (spawnSync('apt-get', ['update'], { stdio: 'inherit', env }).status !== 0 || install() !== 0)) {
    throw new Error('apt-get install -y prometheus failed (see above): install Debian\'s prometheus package by hand and run the benchmark again');
  }
  if (!onPath('prometheus') || !onPath('promtool')) throw new Error('prometheus was installed but prometheus/promtool are still not on PATH');
}

/** Block folders (ULID names with a meta.json) and their chunks + index bytes. */
export function measureBlocks(dataDir: string): PrometheusBlocks {
  let blocks = 0;
  let bytes = 0;
  for (const name of readdirSync(dataDir)) {
    const block = join(dataDir, name);
    if (!/^[0-9A-Z]{26}$/.test(name) || !existsSync(join(block, 'meta.json'))) continue;
    blocks++;
    bytes += statSync(join(block, 'index')).size;
    for (const chunk of readdirSync(join(block, 'chunks'))) bytes += statSync(join(block, 'chunks', chunk)).size;
  }
  return { blocks, bytes };
}

/** The value of a counter or gauge in Prometheus's own /metrics (0 when absent). */
async function selfMetric(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

interface PromResult {
  status: string;
  error?: string;
  data: { resultType: string; result: { metric: Record<string, string>; value?: [number, string]; values?: [number, string][] }[] };
}

async function promQuery(url: string): Promise<PromResult['data']> {
  const answer = (await (await fetch(url)).json()) as PromResult;
  if (answer.status !== 'success') throw new Error(`Prometheus answered ${answer.status} to ${url}: ${answer.error ?? ''}`);
  return answer.data;
}

/** Stops a child this bench started: SIGTERM, then SIGKILL after 30 s; resolves once it has exited. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Backfills the fleet into a fresh Prometheus, waits for its compaction,
 * times the matching PromQL and returns every figure. Prometheus is stopped
 * (by pid) and its folder removed before this resolves or rejects.
 */
export async function measurePrometheusReference(options: PrometheusReferenceOptions, log: (line: string) => void): Promise<PrometheusFigures> {
  ensurePrometheusInstalled(log);
  const version = spawnSync('prometheus', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0].trim();
  const dir = mkdtempSync(join(tmpdir(), 'gputel-bench-prometheus-'));
  let prometheus: ChildProcess | undefined;
  try {
    const file = join(dir, 'fleet.om');
    const dataDir = join(dir, 'data');
    let started = performance.now();
    const samples = await writeGeneratedFile(
      file,
      { hosts: options.hosts, gpusPerHost: options.gpusPerHost, durationMs: options.hours * 3_600_000, intervalMs: options.intervalMs, seed: options.seed, startMs: options.startMs },
      'openmetrics',
    );
    log(`prometheus: wrote ${samples.toLocaleString('en-US')} samples as OpenMetrics (${(statSync(file).size / 1e6).toFixed(0)} MB) in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    started = performance.now();
    const backfill = spawn('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', file, dataDir], { stdio: ['ignore', 'ignore', 'pipe'] });
    let backfillErrors = '';
    backfill.stderr.setEncoding('utf8').on('data', (text: string) => (backfillErrors = (backfillErrors + text).slice(-2_000)));
    const [backfillCode] = (await once(backfill, 'close')) as [number | null];
    if (backfillCode !== 0) throw new Error(`promtool tsdb create-blocks-from openmetrics exited with ${backfillCode}: ${backfillErrors}`);
    const backfillSeconds = (performance.now() - started) / 1000;
    rmSync(file);
    const afterBackfill = measureBlocks(dataDir);
    log(`prometheus: promtool backfilled in ${backfillSeconds.toFixed(1)} s (${Math.round(samples / backfillSeconds).toLocaleString('en-US')} samples/s): ${afterBackfill.blocks} blocks, ${(afterBackfill.bytes / samples).toFixed(3)} bytes/sample`);

    const config = join(dir, 'prometheus.yml');
    writeFileSync(config, 'global: {}\nscrape_configs: []\n');
    const port = await findFreePort();
    const base = `http://127.0.0.1:${port}`;
    prometheus = spawn('prometheus', ['--config.file', config, '--storage.tsdb.path', dataDir, '--web.listen-address', `127.0.0.1:${port}`, '--log.level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const child = prometheus;
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`prometheus exited with ${String(code)} before the benchmark ended`);
    });
    exited.catch(() => undefined); // read only by the races below
    const ready = async (): Promise<void> => {
      // Bounded: 600 tries of 100 ms.
      for (let i = 0; i < 600; i++) {
        if ((await fetch(`${base}/-/ready`).then((r) => r.status, () => 0)) === 200) return;
        await sleep(100);
      }
      throw new Error(`prometheus did not answer ${base}/-/ready within 60 s`);
    };
    await Promise.race([ready(), exited]);

    // Prometheus compacts a minute after it starts, then every minute; one pass merges every level it plans.
    started = performance.now();
    const waitMs = options.compactionWaitMs ?? 180_000;
    let compacted = false;
    let last = '';
    let stableFor = 0;
    while (performance.now() - started < waitMs) {
      await Promise.race([sleep(1_000), exited]);
      const triggered = await selfMetric(base, 'prometheus_tsdb_compactions_triggered_total');
      const listing = readdirSync(dataDir).sort().join(',');
      stableFor = listing === last && !listing.includes('.tmp') ? stableFor + 1 : 0;
      last = listing;
      if (triggered >= 1 && stableFor >= 5) {
        compacted = true;
        break;
      }
    }
    const afterCompaction = measureBlocks(dataDir);
    const compactions = await selfMetric(base, 'prometheus_tsdb_compactions_total');
    log(`prometheus: ${compacted ? 'after its compaction' : 'compaction wait ran out'} (${compactions} compactions in ${((performance.now() - started) / 1000).toFixed(0)} s): ${afterCompaction.blocks} blocks, ${(afterCompaction.bytes / samples).toFixed(3)} bytes/sample`);

    const endSeconds = (options.startMs + options.hours * 3_600_000 - options.intervalMs) / 1000;
    const startSeconds = options.startMs / 1000;
    const rangeSeconds = options.hours * 3_600;
    const step = Math.ceil(rangeSeconds / 500);
    const promql = {
      raw: `{UUID="${options.uuid}"}[${rangeSeconds}s]`,
      downsampled: `{UUID="${options.uuid}"}`,
      aggregateAvg: 'avg(DCGM_FI_DEV_GPU_UTIL)',
      aggregateMax: 'max(DCGM_FI_DEV_GPU_TEMP)',
      aggregateSum: 'sum(DCGM_FI_DEV_POWER_USAGE)',
      idle: 'avg_over_time(DCGM_FI_DEV_GPU_UTIL[1h]) < 5',
    };
    const instant = (query: string): string => `${base}/api/v1/query?query=${encodeURIComponent(query)}&time=${endSeconds}`;
    const urls = {
      raw: instant(promql.raw),
      downsampled: `${base}/api/v1/query_range?query=${encodeURIComponent(promql.downsampled)}&start=${startSeconds}&end=${endSeconds}&step=${step}`,
      aggregateAvg: instant(promql.aggregateAvg),
      aggregateMax: instant(promql.aggregateMax),
      aggregateSum: instant(promql.aggregateSum),
      idle: instant(promql.idle),
    };

    // The answers first: a query that finds nothing would time well and mean nothing.
    const raw = await promQuery(urls.raw);
    const ticks = Math.ceil((options.hours * 3_600_000) / options.intervalMs);
    const rawPoints = raw.result.reduce((sum, series) => sum + (series.values?.length ?? 0), 0);
    if (raw.result.length !== GENERATED_METRICS.length || rawPoints !== GENERATED_METRICS.length * ticks) {
      throw new Error(`Prometheus's raw answer holds ${raw.result.length} series and ${rawPoints} points, not ${GENERATED_METRICS.length} and ${GENERATED_METRICS.length * ticks}`);
    }
    const downsampled = await promQuery(urls.downsampled);
    if (downsampled.result.length !== GENERATED_METRICS.length) throw new Error(`Prometheus's downsampled answer holds ${downsampled.result.length} series`);
    const scalar = async (url: string): Promise<number> => Number((await promQuery(url)).result[0]?.value?.[1] ?? NaN);
    const answers = {
      utilizationAvg: await scalar(urls.aggregateAvg),
      temperatureMax: await scalar(urls.aggregateMax),
      powerTotal: await scalar(urls.aggregateSum),
      idleGpus: (await promQuery(urls.idle)).result.length,
    };
    log(`prometheus: answers: avg util ${answers.utilizationAvg.toFixed(2)}, max temp ${answers.temperatureMax}, total power ${answers.powerTotal.toFixed(1)} W, ${answers.idleGpus} idle GPUs; raw ${rawPoints.toLocaleString('en-US')} points`);

    const timings = await Promise.race([
      timeQueries({
        requests: options.requests,
        queries: (Object.keys(urls) as (keyof typeof urls)[]).map((name) => ({ name, url: urls[name] })),
      }),
      exited,
    ]);
    const aggregates = ['aggregateAvg', 'aggregateMax', 'aggregateSum'].map((name) => timings[name]);
    return {
      version,
      samples,
      backfillSeconds,
      backfillSamplesPerSecond: samples / backfillSeconds,
      afterBackfill,
      afterCompaction,
      compacted,
      bytesPerSample: afterCompaction.bytes / samples,
      rawPoints,
      answers,
      queries: {
        raw: timings.raw,
        downsampled: timings.downsampled,
        // Three requests in PromQL, one in gputel's summary (which also answers the idle GPUs): the slowest of the three stands for them; each is kept below.
        aggregates: { p50: Math.max(...aggregates.map((t) => t.p50)), p99: Math.max(...aggregates.map((t) => t.p99)), bytes: aggregates.reduce((sum, t) => sum + t.bytes, 0) },
        aggregateAvg: timings.aggregateAvg,
        aggregateMax: timings.aggregateMax,
        aggregateSum: timings.aggregateSum,
        idle: timings.idle,
      },
      promql: { ...promql, downsampled: `${promql.downsampled} (query_range, step ${step}s)` },
    };
  } finally {
    if (prometheus) await stopProcess(prometheus);
    rmSync(dir, { recursive: true, force: true });
  }
}
