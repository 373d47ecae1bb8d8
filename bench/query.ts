/**
 * Query benchmark, through the HTTP API of a real `gputel gateway` process on
 * a real etcd: fills it with 64 GPUs × 24 h at 10 s (a `gputel generate`
 * file streamed by the real streamer and collector), then prints p50 and p99
 * over at least 100 requests of
 *   (a) one GPU's raw 24 h with format=columns, all pages (and as records);
 *   (b) the same downsampled to about 500 points (max_points=500);
 *   (c) the fleet summary over 1 h, when /api/v1/summary answers;
 *   (d) /api/v1/gpus;
 * beside the targets and Prometheus's figures (MEASUREMENTS.md), and
 * the bytes per sample of the stored chunks, once the collector's compaction
 * has merged every closed window. Not a test: the figures move
 * with the machine's load; read the ratios.
 *
 *   npm run bench:query [-- --requests 100 --hours 24 --etcd URL --profile DIR]
 *
 * --etcd URL uses an etcd of the caller's (filled by this bench on its first
 * run there) instead of starting and filling a fresh one; --profile DIR
 * runs the gateway under `node --cpu-prof --cpu-prof-dir DIR`; --bin FILE
 * runs another build's `bin/gputel.js` as the gateway (before/after
 * comparisons; queries it does not support are reported as failing).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { GENERATED_METRICS } from '../src/ingest/dcgm-generator.js';
import { KeySpace } from '../src/kv/key-space.js';
import type { KvStore } from '../src/kv/kv-store.js';
import { openKvStore } from '../src/kv/open-kv-store.js';
import { fillStore } from './fill-store.js';
import { storedSamples } from './store-progress.js';
import { findFreePort, startEtcd, type EtcdProcess } from '../test/support/etcd-process.js';
import { GPUTEL_BIN } from '../test/support/gputel-process.js';

const HOSTS = 8;
const GPUS_PER_HOST = 8;
const INTERVAL_MS = 10_000;
const START_MS = Date.parse('2026-03-02T00:00:00Z');

function argument(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

/** Bytes of chunk keys and values per stored sample, read back from the store. */
async function bytesPerSample(kv: KvStore, keys: KeySpace, samples: number): Promise<{ perSample: number; chunks: number }> {
  const prefix = keys.hostsPrefix('default');
  let bytes = 0;
  let chunks = 0;
  let start = prefix;
  for (;;) {
    const page = await kv.range({ start, end: `${prefix}~` }, { limit: 2_000 });
    for (const entry of page.kvs) {
      if (!entry.key.includes('/data/')) continue;
      bytes += entry.key.length + entry.value.length;
      chunks++;
    }
    if (!page.more) break;
    start = `${page.kvs[page.kvs.length - 1].key} `;
  }
  return { perSample: bytes / samples, chunks };
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/** Times `requests` runs of `run` after a warm-up; returns p50, p99 and the bytes of the last answer. */
async function measure(requests: number, run: () => Promise<number>): Promise<{ p50: number; p99: number; bytes: number }> {
  let bytes = 0;
  for (let i = 0; i < Math.min(10, requests); i++) bytes = await run();
  const times: number[] = [];
  for (let i = 0; i < requests; i++) {
    const started = performance.now();
    bytes = await run();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 0.5), p99: percentile(times, 0.99), bytes };
}

/** GETs every page of a telemetry query; returns the bytes read. */
async function allPages(url: string): Promise<number> {
  let bytes = 0;
  let cursor: string | null = null;
  do {
    const response = await fetch(cursor ? `${url}&cursor=${cursor}` : url);
    const text = await response.text();
    if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${text.slice(0, 300)}`);
    bytes += text.length;
    cursor = (JSON.parse(text.slice(text.lastIndexOf('"next_cursor":') + 14, -1)) as string | null) ?? null;
  } while (cursor);
  return bytes;
}

async function getBytes(url: string): Promise<number> {
  const response = await fetch(url);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${text.slice(0, 300)}`);
  return text.length;
}

async function line(label: string, measured: Promise<{ p50: number; p99: number; bytes: number }>, target: string, prometheus: string): Promise<void> {
  let figure: { p50: number; p99: number; bytes: number };
  try {
    figure = await measured;
  } catch (error) {
    console.log(`${label.padEnd(44)} fails: ${(error as Error).message.slice(0, 200)}`);
    return;
  }
  const ms = (v: number): string => `${v.toFixed(1)} ms`.padStart(9);
  console.log(`${label.padEnd(44)} p50 ${ms(figure.p50)}  p99 ${ms(figure.p99)}  ${(figure.bytes / 1e6).toFixed(2).padStart(6)} MB  target ${target.padEnd(9)} Prometheus ${prometheus}`);
}

/** Prints p50 and p99 of the four queries against a gateway at `base`. */
async function queries(base: string, hours: number, requests: number): Promise<void> {
  const api = `${base}/api/v1`;
  for (let i = 0; i < 200 && (await fetch(`${base}/readyz`).then((r) => r.status, () => 0)) !== 200; i++) await sleep(100);
  const gpus = (await (await fetch(`${api}/gpus`)).json()) as { data: { uuid: string }[] };
  const telemetry = `${api}/gpus/${gpus.data[0].uuid}/telemetry?start_time=${START_MS}&end_time=${START_MS + hours * 3_600_000 - 1}`;
  console.log(`query benchmark: ${gpus.data.length} GPUs × ${hours} h at 10 s; ${requests} requests each after 10 warm-up ones; the gateway is a separate process`);
  await line('(a) one GPU raw, format=columns, all pages', measure(requests, () => allPages(`${telemetry}&format=columns&limit=100000`)), '≤ 20 ms', 'p50 10 ms, p99 21 ms');
  await line('(b) downsampled, max_points=500, columns', measure(requests, () => allPages(`${telemetry}&max_points=500&format=columns`)), '≤ 10 ms', 'p50 2.8 ms, p99 9.4 ms');
  const summary = await fetch(`${api}/summary?window=1h`).then((r) => r.status, () => 0);
  if (summary === 200) await line('(c) fleet summary over 1 h', measure(requests, () => getBytes(`${api}/summary?window=1h`)), '≤ 5 ms', 'p50 0.6–1.6 ms');
  else console.log(`(c) fleet summary over 1 h: skipped, /api/v1/summary answers ${summary} on this branch`);
  await line('(d) /api/v1/gpus', measure(requests, () => getBytes(`${api}/gpus`)), '—', '');
  // The record forms last: (a)'s 6.8 MB of JSON a request leaves the gateway garbage that would land in the next line's tail.
  await line('(a) as records (limit=10000), all pages', measure(Math.min(requests, 30), () => allPages(`${telemetry}&limit=10000`)), '—', '');
  await line('(b) as records', measure(requests, () => allPages(`${telemetry}&max_points=500`)), '—', '');
}

async function main(): Promise<void> {
  const requests = Number(argument('requests') ?? 100);
  const hours = Number(argument('hours') ?? 24);
  const profileDir = argument('profile');
  const external = argument('etcd');
  let etcd: EtcdProcess | undefined;
  if (!external) etcd = await startEtcd();
  const endpoints = external ? external.split(',') : etcd!.endpoints;
  const kv = await openKvStore({ endpoints });
  const keys = new KeySpace();
  const gatewayPort = await findFreePort();
  const nodeArgs = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  let gateway: ReturnType<typeof spawn> | undefined;
  try {
    const expected = HOSTS * GPUS_PER_HOST * GENERATED_METRICS.length * (hours * 3_600_000 / INTERVAL_MS);
    if ((await storedSamples(kv, keys)) < expected) await fillStore(kv, keys, { hosts: HOSTS, gpusPerHost: GPUS_PER_HOST, hours, intervalMs: INTERVAL_MS, startMs: START_MS });
    const samples = await storedSamples(kv, keys);
    const { perSample, chunks } = await bytesPerSample(kv, keys, samples);
    const status = await kv.status();
    console.log(`store: ${samples.toLocaleString('en-US')} samples in ${chunks.toLocaleString('en-US')} chunks; ${perSample.toFixed(3)} bytes/sample (chunk keys + values; Prometheus 1.42, target ≤ 0.6); etcd db ${(status.dbSizeBytes / 1e6).toFixed(0)} MB`);
    gateway = spawn(process.execPath, [...nodeArgs, argument('bin') ?? GPUTEL_BIN, 'gateway', '--etcd', endpoints.join(','), '--host', '127.0.0.1', '--port', String(gatewayPort), '--log-level', 'warn'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      // A benchmark sends far more than the default rate limit (6000/min) from one address; through the
      // environment so that an older --bin, which has no such setting, still starts.
      env: { ...process.env, GPUTEL_RATE_LIMIT: '0' },
    });
    await queries(`http://127.0.0.1:${gatewayPort}`, hours, requests);
    gateway.kill('SIGTERM');
    await once(gateway, 'exit');
    gateway = undefined;
  } finally {
    if (gateway) {
      gateway.kill('SIGTERM');
      await once(gateway, 'exit');
    }
    await kv.close();
    await etcd?.stop();
  }
}

await main();
