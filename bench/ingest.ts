/**
 * End-to-end ingest benchmark: a generated DCGM CSV of over a million rows,
 * from the first byte read to the last sample counted as stored, in
 *   1. embedded mode: streamer + collector in one process on the embedded store;
 *   2. etcd mode: `gputel streamer` and `gputel collector` processes on a real etcd.
 * Prints rows/s and the ratio to the 50,000 rows/s target. Not a test.
 *
 *   npm run bench:ingest [-- --rows 1000000] [-- --encrypt]
 *
 * `--encrypt` runs both modes with a fresh --encryption-key-file
 * (docs/encryption.md), to measure what sealing costs.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { writeGeneratedFile } from '../src/cli/generate-command.js';
import { Collector } from '../src/collector/collector.js';
import { createLogger } from '../src/common/logger.js';
import { GENERATED_METRICS } from '../src/ingest/dcgm-generator.js';
import { generateEncryptionKeyLine } from '../src/kv/encryption-key-file.js';
import { KeySpace } from '../src/kv/key-space.js';
import type { KvStore } from '../src/kv/kv-store.js';
import { openKvStore } from '../src/kv/open-kv-store.js';
import { CsvFileSource } from '../src/ingest/csv-file-source.js';
import { Streamer } from '../src/streamer/streamer.js';
import { startEtcd } from '../test/support/etcd-process.js';
import { storedSamples } from './store-progress.js';

const TARGET_ROWS_PER_SECOND = 50_000;
const GPUTEL_BIN = fileURLToPath(new URL('../../bin/gputel.js', import.meta.url));
const HOSTS = 8;
const GPUS_PER_HOST = 8;
const INTERVAL_MS = 10_000;

function argument(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

/** With --encrypt: the key file every store of the run is opened with. */
let encryptionKeyFile: string | undefined;

function encryption(): { root: string; keyFile: string } | undefined {
  return encryptionKeyFile === undefined ? undefined : { root: new KeySpace().root, keyFile: encryptionKeyFile };
}

async function waitForSamples(kv: KvStore, keys: KeySpace, samples: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await storedSamples(kv, keys)) < samples) {
    if (Date.now() > deadline) throw new Error(`only ${await storedSamples(kv, keys)} of ${samples} samples stored after ${timeoutMs} ms`);
    await sleep(50);
  }
}

function rate(rows: number, seconds: number): string {
  return `${Math.round(rows / seconds).toLocaleString('en-US')} rows/s`;
}

async function embeddedMode(file: string, rows: number, dir: string): Promise<number> {
  const logger = createLogger('warn');
  const kv = await openKvStore({ dataDir: join(dir, 'embedded'), encryption: encryption() });
  const keys = new KeySpace();
  const collector = new Collector(kv, keys, { topic: 'telemetry', partitions: 16, logger });
  await collector.start();
  const started = performance.now();
  const source = new CsvFileSource({ path: file, logger });
  const summary = await new Streamer(kv, keys, { source, cluster: 'default', topic: 'telemetry', partitions: 16, batchSamples: 20_000, highWatermark: 1_000, logger }).run();
  if (summary.failure !== undefined) throw new Error(`streaming failed: ${summary.failure}`);
  const streamedSeconds = (performance.now() - started) / 1000;
  await waitForSamples(kv, keys, rows, 600_000);
  const seconds = (performance.now() - started) / 1000;
  await collector.stop();
  await kv.close();
  if (summary.goodRows !== rows) throw new Error(`streamer committed ${summary.goodRows} of ${rows} rows`);
  console.log(`embedded  one process, embedded store       : ${rate(rows, seconds)} end to end (${seconds.toFixed(1)} s; streamer done after ${streamedSeconds.toFixed(1)} s)`);
  return rows / seconds;
}

async function etcdMode(file: string, rows: number): Promise<number> {
  const etcd = await startEtcd();
  const common = ['--etcd', etcd.endpoints.join(','), '--log-level', 'warn', '--host', '127.0.0.1', '--port', '0', ...(encryptionKeyFile ? ['--encryption-key-file', encryptionKeyFile] : [])];
  const collector = spawn(process.execPath, [GPUTEL_BIN, 'collector', ...common], { stdio: ['ignore', 'ignore', 'inherit'] });
  const kv = await openKvStore({ endpoints: etcd.endpoints, encryption: encryption() });
  const keys = new KeySpace();
  try {
    await sleep(1_000); // the collector claims its partitions
    const started = performance.now();
    const streamer = spawn(process.execPath, [GPUTEL_BIN, 'streamer', ...common, '--file', file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let summary = '';
    streamer.stdout.on('data', (d: Buffer) => (summary += d.toString()));
    const [code] = (await once(streamer, 'exit')) as [number];
    const streamedSeconds = (performance.now() - started) / 1000;
    if (code !== 0) throw new Error(`streamer exited ${code}`);
    await waitForSamples(kv, keys, rows, 600_000);
    const seconds = (performance.now() - started) / 1000;
    console.log(`etcd      streamer + collector processes    : ${rate(rows, seconds)} end to end (${seconds.toFixed(1)} s; streamer done after ${streamedSeconds.toFixed(1)} s)`);
    console.log(`          streamer said: ${summary.trim()}`);
    return rows / seconds;
  } finally {
    collector.kill('SIGTERM');
    await once(collector, 'exit');
    await kv.close();
    await etcd.stop();
  }
}

async function main(): Promise<void> {
  const wantedRows = argument('rows', 1_000_000);
  const rowsPerTick = HOSTS * GPUS_PER_HOST * GENERATED_METRICS.length;
  const ticks = Math.ceil(wantedRows / rowsPerTick);
  const dir = mkdtempSync(join(tmpdir(), 'gputel-bench-ingest-'));
  try {
    const file = join(dir, 'dcgm.csv');
    if (process.argv.includes('--encrypt')) {
      encryptionKeyFile = join(dir, 'bench.keys');
      writeFileSync(encryptionKeyFile, `${generateEncryptionKeyLine('bench')}\n`, { mode: 0o600 });
      console.log('values sealed with AES-256-GCM (--encryption-key-file)');
    }
    const generatedAt = performance.now();
    const rows = await writeGeneratedFile(file, { hosts: HOSTS, gpusPerHost: GPUS_PER_HOST, durationMs: ticks * INTERVAL_MS, intervalMs: INTERVAL_MS, seed: 42, startMs: Date.parse('2026-03-02T00:00:00Z') });
    const megabytes = statSync(file).size / 1e6;
    console.log(`ingest benchmark: ${rows.toLocaleString('en-US')} rows (${megabytes.toFixed(0)} MB, ${HOSTS} hosts × ${GPUS_PER_HOST} GPUs × ${ticks} timestamps × ${GENERATED_METRICS.length} metrics), generated in ${((performance.now() - generatedAt) / 1000).toFixed(1)} s`);
    const embedded = await embeddedMode(file, rows, dir);
    const etcd = await etcdMode(file, rows);
    console.log(`target ${TARGET_ROWS_PER_SECOND.toLocaleString('en-US')} rows/s through real etcd: etcd mode reaches ${(etcd / TARGET_ROWS_PER_SECOND).toFixed(2)}× the target; embedded/etcd = ${(embedded / etcd).toFixed(2)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
