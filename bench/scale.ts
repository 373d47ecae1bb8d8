/**
 * Consumer-group scale benchmark, through a real etcd with real `gputel`
 * processes: end-to-end rows/s (first row streamed → last sample counted as
 * stored) for 1, 2 and 4 collectors with 1 and 2 streamers; then the time
 * for the group to own every partition again after kill -9 of a collector,
 * and for a joining collector to get its share. Prints figures and ratios
 * (2 collectors vs 1; rebalance vs the 2 × TTL + 2 s target). On a machine
 * with fewer cores than processes, rows/s cannot grow with collectors (they
 * share the same cores), so it also prints the collectors' CPU time per row:
 * equal for 1 and 2 collectors means coordination costs nothing. Not a test.
 *
 * Each run is repeated and the median taken: single runs on 2 cores vary by
 * ±5%. The default of 4 M rows (~13 s a run) is what a steady state needs:
 * with 1 M rows (~4 s) every collector process spends a large part of the
 * run warming up its JIT, which a second process pays again.
 *
 *   npm run bench:scale [-- --rows 4000000 --repeat 3 --collectors 1,2,4 --streamers 1,2 --no-rebalance --profile DIR --json FILE]
 *
 * `--no-rebalance` skips the kill -9 and join timings; `--json FILE` writes
 * the figures for `npm run bench` (bench/figures-file.ts).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { writeGeneratedFile } from '../src/cli/generate-command.js';
import { GENERATED_METRICS } from '../src/ingest/dcgm-generator.js';
import { KeySpace } from '../src/kv/key-space.js';
import { openKvStore } from '../src/kv/open-kv-store.js';
import { readQueueStatus, type QueueStatus } from '../src/queue/queue-status.js';
import { DEFAULT_LEASE_TTL_SECONDS } from '../src/queue/queue-consumer.js';
import { startEtcd, type EtcdProcess } from '../test/support/etcd-process.js';
import { jsonPathArgument, writeFigures } from './figures-file.js';
import { median } from './median.js';
import { storedSamples } from './store-progress.js';

const GPUTEL_BIN = fileURLToPath(new URL('../../bin/gputel.js', import.meta.url));
/** `--profile DIR`: every streamer and collector runs under `node --cpu-prof --cpu-prof-dir DIR` (a profile per process, written as it stops). */
const PROFILE_ARGS = process.argv.includes('--profile') ? ['--cpu-prof', '--cpu-prof-dir', process.argv[process.argv.indexOf('--profile') + 1]] : [];
const HOSTS = 16;
const GPUS_PER_HOST = 8;
const INTERVAL_MS = 10_000;

function argument(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

function listArgument(name: string, fallback: number[]): number[] {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1].split(',').map(Number) : fallback;
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Every partition owned, by exactly `members` (when given, none of them `without`). */
function settled(status: QueueStatus, members: number, without?: string): boolean {
  return (
    status.members.length === members &&
    status.partitions.every((p) => p.owner !== null && p.owner !== without) &&
    Math.max(...status.members.map((m) => m.partitions.length)) - Math.min(...status.members.map((m) => m.partitions.length)) <= 1
  );
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

interface RunFigures {
  rowsPerSecond: number;
  /** CPU time of all collector processes together, per row: what coordination would add to. */
  collectorCpuMicrosPerRow: number;
}

class Group {
  private readonly children: ChildProcess[] = [];
  constructor(private readonly etcd: EtcdProcess) {}

  get common(): string[] {
    return ['--etcd', this.etcd.endpoints.join(','), '--log-level', 'warn', '--host', '127.0.0.1', '--port', '0'];
  }

  spawn(args: string[]): ChildProcess {
    const child = spawn(process.execPath, [...PROFILE_ARGS, GPUTEL_BIN, ...args, ...this.common], { stdio: ['ignore', 'ignore', 'inherit'] });
    this.children.push(child);
    return child;
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        await once(child, 'exit');
      }),
    );
  }
}

async function throughput(collectors: number, files: string[], rows: number): Promise<RunFigures> {
  const etcd = await startEtcd();
  const group = new Group(etcd);
  const kv = await openKvStore({ endpoints: etcd.endpoints });
  const keys = new KeySpace();
  try {
    const collectorProcesses = Array.from({ length: collectors }, (_, i) => group.spawn(['collector', '--consumer-id', `c${i + 1}`]));
    await until(`${collectors} collectors own every partition`, 30_000, async () => (settled(await readQueueStatus(kv, keys, 'telemetry'), collectors) ? true : undefined));
    const collectorCpu = (): number => collectorProcesses.reduce((sum, child) => sum + cpuSeconds(child.pid), 0);
    const idleCpu = collectorCpu();
    const started = performance.now();
    const streamers = files.map((file) => group.spawn(['streamer', '--file', file]));
    const codes = await Promise.all(streamers.map(async (s) => ((await once(s, 'exit')) as [number])[0]));
    if (codes.some((code) => code !== 0)) throw new Error(`a streamer exited ${codes.join(', ')}`);
    await until(`${rows} samples stored`, 600_000, async () => ((await storedSamples(kv, keys)) >= rows ? true : undefined));
    const seconds = (performance.now() - started) / 1000;
    const cpuMicrosPerRow = ((collectorCpu() - idleCpu) / rows) * 1e6;
    const stored = await storedSamples(kv, keys);
    if (stored !== rows) throw new Error(`stored ${stored} samples of ${rows} rows`);
    const perSecond = rows / seconds;
    console.log(
      `${collectors} collector(s), ${files.length} streamer(s): ${Math.round(perSecond).toLocaleString('en-US').padStart(9)} rows/s end to end (${seconds.toFixed(1)} s); ` +
        `collectors' CPU ${cpuMicrosPerRow.toFixed(2)} µs/row`,
    );
    return { rowsPerSecond: perSecond, collectorCpuMicrosPerRow: cpuMicrosPerRow };
  } finally {
    await group.stop();
    await kv.close();
    await etcd.stop();
  }
}

async function rebalance(): Promise<{ takeoverMs: number; joinMs: number }> {
  const etcd = await startEtcd();
  const group = new Group(etcd);
  const kv = await openKvStore({ endpoints: etcd.endpoints });
  const keys = new KeySpace();
  try {
    const children = ['c1', 'c2', 'c3'].map((id) => group.spawn(['collector', '--consumer-id', id]));
    await until('3 collectors own every partition', 30_000, async () => (settled(await readQueueStatus(kv, keys, 'telemetry'), 3) ? true : undefined));
    const killedAt = performance.now();
    children[1].kill('SIGKILL');
    await until('the others own every partition again', 60_000, async () => (settled(await readQueueStatus(kv, keys, 'telemetry'), 2, 'c2') ? true : undefined));
    const takeoverMs = performance.now() - killedAt;
    const joinedAt = performance.now();
    group.spawn(['collector', '--consumer-id', 'c4']);
    await until('a joiner gets its share', 60_000, async () => (settled(await readQueueStatus(kv, keys, 'telemetry'), 3, 'c2') ? true : undefined));
    const joinMs = performance.now() - joinedAt; // includes starting a Node process
    return { takeoverMs, joinMs };
  } finally {
    await group.stop();
    await kv.close();
    await etcd.stop();
  }
}

async function main(): Promise<void> {
  const wantedRows = argument('rows', 4_000_000);
  const repeat = argument('repeat', 3);
  const jsonPath = jsonPathArgument();
  const rowsPerTick = HOSTS * GPUS_PER_HOST * GENERATED_METRICS.length;
  const ticks = Math.ceil(wantedRows / rowsPerTick / 2) * 2;
  const dir = mkdtempSync(join(tmpdir(), 'gputel-bench-scale-'));
  try {
    const generate = (file: string, hosts: number, seed: number): Promise<number> =>
      writeGeneratedFile(file, { hosts, gpusPerHost: GPUS_PER_HOST, durationMs: ticks * INTERVAL_MS, intervalMs: INTERVAL_MS, seed, startMs: Date.parse('2026-03-02T00:00:00Z') });
    const whole = join(dir, 'whole.csv');
    const halves = [join(dir, 'half-a.csv'), join(dir, 'half-b.csv')];
    const rows = await generate(whole, HOSTS, 42);
    const halfRows = (await generate(halves[0], HOSTS / 2, 43)) + (await generate(halves[1], HOSTS / 2, 44));
    // The generator names hosts gpu-node-NN whatever the seed: the second half is other hosts.
    execFileSync('sed', ['-i', 's/gpu-node-/gpu-rack-/g', halves[1]]);
    if (halfRows !== rows) throw new Error(`the halves hold ${halfRows} rows, the whole ${rows}`);
    console.log(`scale benchmark: ${rows.toLocaleString('en-US')} rows per run (${HOSTS} hosts × ${GPUS_PER_HOST} GPUs × ${ticks} timestamps × ${GENERATED_METRICS.length} metrics; with 2 streamers each streams half), 16 partitions, one etcd`);

    const collectorCounts = listArgument('collectors', [1, 2, 4]);
    const streamerCounts = listArgument('streamers', [1, 2]);
    const results = new Map<string, RunFigures>();
    for (const streamers of streamerCounts) {
      for (const collectors of collectorCounts) {
        const runs: RunFigures[] = [];
        for (let i = 0; i < repeat; i++) runs.push(await throughput(collectors, streamers === 1 ? [whole] : halves, rows));
        results.set(`${collectors}/${streamers}`, {
          rowsPerSecond: median(runs.map((run) => run.rowsPerSecond)),
          collectorCpuMicrosPerRow: median(runs.map((run) => run.collectorCpuMicrosPerRow)),
        });
      }
    }
    for (const streamers of streamerCounts) {
      const one = results.get(`1/${streamers}`);
      if (!one) continue;
      const ratios = collectorCounts
        .filter((n) => n !== 1)
        .map((n) => {
          const run = results.get(`${n}/${streamers}`)!;
          return `${n} / 1: rows/s ${(run.rowsPerSecond / one.rowsPerSecond).toFixed(2)}, collector CPU per row ${(run.collectorCpuMicrosPerRow / one.collectorCpuMicrosPerRow).toFixed(2)}`;
        });
      console.log(`${streamers} streamer(s), medians of ${repeat} runs, collectors ${ratios.join('; ')} (targets: rows/s of 2 ≥ 1; CPU per row 1.00 = coordination costs nothing)`);
    }

    const throughputs = [...results].map(([key, run]) => {
      const [collectors, streamers] = key.split('/').map(Number);
      return { collectors, streamers, ...run };
    });
    const figures = { rows, repeat, partitions: 16, throughputs, rebalance: undefined as { takeoverMs: number; joinMs: number } | undefined };
    if (process.argv.includes('--no-rebalance')) {
      writeFigures(jsonPath, figures);
      return;
    }
    const { takeoverMs, joinMs } = await rebalance();
    figures.rebalance = { takeoverMs, joinMs };
    writeFigures(jsonPath, figures);
    const targetMs = 2 * DEFAULT_LEASE_TTL_SECONDS * 1000 + 2_000;
    console.log(`rebalance after kill -9 of 1 of 3 collectors: ${(takeoverMs / 1000).toFixed(2)} s until every partition is owned again (lease TTL ${DEFAULT_LEASE_TTL_SECONDS} s); ${(takeoverMs / targetMs).toFixed(2)} × the 2 × TTL + 2 s = ${targetMs / 1000} s target`);
    console.log(`a joining collector has its share ${(joinMs / 1000).toFixed(2)} s after its process was started (Node start-up included)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
