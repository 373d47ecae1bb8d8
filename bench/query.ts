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
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { GENERATED_METRICS } from '../src/ingest/dcgm-generator.js';
import { KeySpace } from '../src/kv/key-space.js';
import { openKvStore } from '../src/kv/open-kv-store.js';
import { chunkBytesPerSample as bytesPerSample } from './chunk-bytes.js';
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
    // The timed requests come from a small process of their own: this one holds the store's client and what
    // bytesPerSample read, and its own garbage collections would land in the figures (p99 21-23 ms against
    // 11-12 ms from a small client, same gateway, same run).
    const client = spawn(process.execPath, [new URL('./query-client.js', import.meta.url).pathname, `http://127.0.0.1:${gatewayPort}`, String(hours), String(requests), String(START_MS)], { stdio: ['ignore', 'inherit', 'inherit'] });
    const [code] = (await once(client, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`the query client exited with ${code}`);
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
