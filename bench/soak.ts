/**
 * The soak: a live fleet, a mixed load and faults, for minutes, on a real
 * local cluster (`gputel cluster up`: etcd, 1 streamer, 2 collectors,
 * 2 gateways behind nginx). Meanwhile it
 * - ingests a simulated fleet of --gpus GPUs at --interval (1,000 at 10 s);
 * - serves --rate requests/s of mixed REST and GraphQL (bench/soak-http-load.ts)
 *   and holds --ws-clients live-stream clients at about one record a second
 *   each (bench/soak-ws-clients.ts), all through the load balancer;
 * - kills collector-1 (SIGKILL) every --kill-every and starts it again with
 *   `gputel cluster restart` (collector-2 lives through the run, so that its
 *   memory can be judged over a long life); kills gateway-1 once, halfway
 *   between two collector kills, and starts it again.
 * It prints p50/p99 and errors per route, the live stream's records,
 * dropped and missed frames, memory over time per process (with its trend:
 * bench/soak-verdicts.ts), etcd's database size over time, and ends with
 * an exact sample count: the streamer is stopped, then the samples its
 * simulated ticks hold, the rows it committed, the partition counters,
 * /api/v1/stats and the samples read back GPU by GPU must all be equal.
 *
 *   npm run soak [-- --minutes 10 --gpus 1000 --rate 1000 --ws-clients 2000 --kill-every 2m --json FILE]
 *
 * Exit 0 when it passed (see `passed` below), 1 when not, 130 on Ctrl-C;
 * whatever way it ends, what it started is stopped. The 1-minute version in
 * CI is test/e2e/soak.test.ts.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { readClusterState, type ClusterProcess, type ClusterState } from '../src/cli/cluster/cluster-state.js';
import { parseDuration } from '../src/cli/duration.js';
import { isSameProcess, processStartTime } from '../src/cli/cluster/process-identity.js';
import { stopProcess } from '../src/cli/cluster/process-stopper.js';
import { GENERATED_METRICS } from '../src/ingest/dcgm-generator.js';
import { KeySpace } from '../src/kv/key-space.js';
import type { KvStore } from '../src/kv/kv-store.js';
import { openKvStore } from '../src/kv/open-kv-store.js';
import { decodeCheckpoint } from '../src/queue/source-checkpoint.js';
import { readQueueStatus } from '../src/queue/queue-status.js';
import { formatTable } from '../src/cli/output-format.js';
import { GPUTEL_BIN, runGputel } from '../test/support/gputel-process.js';
import { writeFigures } from './figures-file.js';
import { benchOptions, usageError } from './bench-options.js';
import { MIN_STEADY_SAMPLES, WARM_UP_MS, databaseTrend, floorTrend } from './soak-verdicts.js';
import { storedSamples } from './store-progress.js';

const GPUS_PER_HOST = 8;
const TOPIC = 'telemetry';
/** Live-stream GPUs per client: at a 10 s interval, one record a second. */
const WS_GPUS_EACH = 10;
/** POSTs that fail this close to the gateway kill were in flight on it (nginx does not repeat a POST); any other error is a defect. */
const GATEWAY_KILL_WINDOW_MS = 10_000;
/** How long a child process may take to answer one of the soak's messages. */
const CHILD_ANSWER_MS = 120_000;
/** Any one HTTP call the soak itself makes (samples, checks). */
const FETCH_TIMEOUT_MS = 10_000;
const COLLECTOR_KILLED = 'collector-1';
const GATEWAY_KILLED = 'gateway-1';

const options = benchOptions('soak', 'npm run soak [-- OPTIONS]   (what it does: bench/soak.ts; figures: docs/performance.md, "Soak")', {
  minutes: { type: 'string', help: 'how long the load and the faults run (default 10)' },
  gpus: { type: 'string', help: `simulated GPUs, a multiple of ${GPUS_PER_HOST} (default 1000)` },
  rate: { type: 'string', help: 'requests/s of mixed REST and GraphQL through the load balancer (default 1000)' },
  'ws-clients': { type: 'string', help: 'live-stream clients, each on 10 GPUs (default 2000)' },
  'kill-every': { type: 'string', help: 'how often collector-1 is killed and started again, e.g. 2m (default 2m)' },
  'sample-every': { type: 'string', help: 'how often memory and etcd are sampled (default 10s)' },
  interval: { type: 'string', help: "the simulated fleet's sample interval (default 10s)" },
  dir: { type: 'string', help: "the cluster's folder (default: a new one under the system's temp folder)" },
  json: { type: 'string', help: 'also write every figure to this JSON file' },
});

function wholeNumber(name: 'gpus' | 'rate' | 'ws-clients', fallback: number, min: number): number {
  const value = Number(options[name] ?? fallback);
  if (!Number.isSafeInteger(value) || value < min) usageError('soak', `--${name} must be a whole number of at least ${min}`);
  return value;
}

function duration(name: 'kill-every' | 'sample-every' | 'interval', fallback: string): number {
  try {
    return parseDuration(options[name] ?? fallback, `--${name}`);
  } catch (error) {
    return usageError('soak', (error as Error).message);
  }
}

const minutes = Number(options.minutes ?? 10);
if (!(minutes > 0)) usageError('soak', '--minutes must be a number above 0');
const gpuCount = wholeNumber('gpus', 1_000, GPUS_PER_HOST);
if (gpuCount % GPUS_PER_HOST !== 0) usageError('soak', `--gpus must be a multiple of ${GPUS_PER_HOST} (GPUs per simulated host)`);
const rate = wholeNumber('rate', 1_000, 1);
const wsClients = wholeNumber('ws-clients', 2_000, 0);
const killEveryMs = duration('kill-every', '2m');
const sampleEveryMs = duration('sample-every', '10s');
const intervalMs = duration('interval', '10s');
const jsonPath = options.json;
const durationMs = Math.round(minutes * 60_000);

interface Sample {
  atMs: number;
  /** RSS in MB per process name (its current pid). */
  rssMb: Record<string, number>;
  /** V8 heap in use in MB per gputel role (its /metrics): RSS that grows while this stays flat is the heap's room, not a leak. */
  heapMb: Record<string, number>;
  etcdDbMb: number;
  etcdDbInUseMb: number;
  storedSamples: number;
}

interface HttpReport {
  routes: { route: string; answered: number; errors: number; notSent: number; p50Ms: number; p99Ms: number; maxMs: number; meanBytes: number }[];
  errorSamples: { atMs: number; route: string; method: 'GET' | 'POST'; what: string }[];
  errorTimes: { droppedPost: number[]; other: number[] };
  uncountedErrors: number;
  unfinished: number;
  loadSeconds: number;
}

interface WsReport {
  clients: number;
  openAtEnd: number;
  records: number;
  droppedFrames: number;
  missedRecords: number;
  outOfOrder: number;
  closes: number;
  reconnects: number;
  errorFrames: number;
  errorSamples: string[];
  ageP50Ms: number;
  ageP99Ms: number;
}

function rssMb(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

async function fetchText(url: string): Promise<string> {
  const answer = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  if (!answer.ok) throw new Error(`GET ${url}: HTTP ${answer.status}`);
  return answer.text();
}

/** The heap in use of a gputel role, from its own /metrics (prom-client's nodejs_heap_size_used_bytes). */
async function heapUsedMb(entry: { host: string; port: number }): Promise<number | undefined> {
  const value = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(await fetchText(`http://${entry.host}:${entry.port}/metrics`))?.[1];
  return value === undefined ? undefined : Number(value) / 1e6;
}

async function etcdDbSizes(endpoint: string): Promise<{ total: number; inUse: number }> {
  const text = await fetchText(`${endpoint}/metrics`);
  const metric = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 1e6;
  return { total: metric('etcd_mvcc_db_total_size_in_bytes'), inUse: metric('etcd_mvcc_db_total_size_in_use_in_bytes') };
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, signal?: AbortSignal): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}

/** The next message of `type` from a child; rejects when it exits first or does not answer in CHILD_ANSWER_MS. */
function answerOf<T>(child: ChildProcess, type: string, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      reject(new Error(`${what} exited (${child.signalCode ?? `code ${child.exitCode}`}) before it answered ${type}`));
      return;
    }
    const onMessage = (message: { type?: string }): void => {
      if (message?.type !== type) return;
      done();
      resolve(message as T);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      done();
      reject(new Error(`${what} exited (${signal ?? `code ${code}`}) before it answered ${type}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${what} did not answer ${type} within ${CHILD_ANSWER_MS / 1000} s`));
    }, CHILD_ANSWER_MS);
    const done = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** The project's plain-text table (src/cli/output-format.ts), for console.log. */
const table = (header: string[], rows: (string | number)[][]): string => formatTable(header, rows).trimEnd();

const ms = (value: number): string => (Number.isNaN(value) ? '—' : `${value.toFixed(1)} ms`);
const count = (value: number): string => value.toLocaleString('en-US');
const figure = (value: number | undefined, digits: number): string => (value === undefined || Number.isNaN(value) ? '—' : value.toFixed(digits));
const clock = (atMs: number, startedMs: number): string => {
  const s = Math.round((atMs - startedMs) / 1000);
  return `${s < 0 ? '-' : ''}${Math.floor(Math.abs(s) / 60)}:${String(Math.abs(s) % 60).padStart(2, '0')}`;
};

/** What the soak started, to stop whatever way it ends. */
class Started {
  readonly children = new Set<ChildProcess>();
  readonly dir: string;
  kv: KvStore | undefined;

  constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Runs the gputel CLI to its end (test/support's runGputel); throws with its stderr when it fails. The run is stopped
   * with the rest. Its log level is the caller's (runGputel's default, warn, would reach every role `up` starts).
   */
  async gputel(args: string[], env: Record<string, string> = {}): Promise<string> {
    const run = runGputel(args, { GPUTEL_LOG_LEVEL: process.env.GPUTEL_LOG_LEVEL ?? 'info', ...env });
    this.children.add(run.child);
    const code = await run.exited;
    this.children.delete(run.child);
    if (code !== 0) throw new Error(`gputel ${args.join(' ')} exited ${code}: ${run.stderr().trim()}`);
    return run.stdout();
  }

  fork(module: string, args: string[]): ChildProcess {
    const child = fork(fileURLToPath(new URL(module, import.meta.url)), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    // A send to a child that died emits 'error' (channel closed): answerOf() reports its exit; unheard, it would crash the soak.
    child.on('error', () => undefined);
    return child;
  }

  /** Stops the children (a restart in progress included), closes the store, and takes the cluster down (again while its lock is held). */
  async stop(): Promise<void> {
    for (const child of this.children) child.kill('SIGKILL');
    await this.kv?.close().catch(() => undefined);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.gputel(['cluster', 'down', '--dir', this.dir, '--grace', '5s']);
        return;
      } catch (error) {
        const message = (error as Error).message;
        // No cluster (up failed and cleaned up after itself): nothing to take down.
        if (/no cluster to stop/.test(message)) return;
        if (attempt === 5) {
          console.error(`soak: could not take the cluster down: ${message}\nstop it with: node ${GPUTEL_BIN} cluster down --dir ${this.dir}`);
          return;
        }
        await sleep(2_000);
      }
    }
  }
}

async function main(signal: AbortSignal): Promise<number> {
  const dirFlag = options.dir ?? '';
  const root = dirFlag === '' ? mkdtempSync(path.join(tmpdir(), 'gputel-soak-')) : path.resolve(dirFlag);
  const dir = path.join(root, 'cluster');
  const hosts = gpuCount / GPUS_PER_HOST;
  console.log(`soak: ${minutes} min; ${gpuCount} GPUs (${hosts} hosts × ${GPUS_PER_HOST}) at ${intervalMs / 1000} s; ${rate} req/s mixed REST and GraphQL; ${wsClients} live-stream clients × ${WS_GPUS_EACH} GPUs; ${COLLECTOR_KILLED} killed every ${killEveryMs / 1000} s, ${GATEWAY_KILLED} once; cluster in ${dir}`);
  // Rate limits off: the whole load comes from one address (nginx passes it on), and the soak measures the gateways, not the limiter.
  const env = { GPUTEL_RATE_LIMIT: '0' };
  const started = new Started(dir);
  try {
    await started.gputel(
      ['cluster', 'up', '--dir', dir, '--port', '0', '--streamers', '1', '--collectors', '2', '--gateways', '2', '--simulate-hosts', String(hosts), '--simulate-gpus-per-host', String(GPUS_PER_HOST), '--simulate-backfill', '0', '--interval', `${intervalMs}ms`, '--output', 'json'],
      env,
    );
    return await soak(started, env, signal);
  } finally {
    await started.stop();
    if (dirFlag === '') rmSync(root, { recursive: true, force: true });
  }
}

async function soak(started: Started, env: Record<string, string>, signal: AbortSignal): Promise<number> {
  const dir = started.dir;
  let state: ClusterState = readClusterState(dir);
  const kv = await openKvStore({ endpoints: state.etcd });
  started.kv = kv;
  const keys = new KeySpace();
  const gpus = await until(
    `all ${gpuCount} GPUs registered`,
    120_000,
    async () => {
      const listed = JSON.parse(await fetchText(`${state.url}/api/v1/gpus`)) as { data: { uuid: string; hostname: string }[] };
      return listed.data.length === gpuCount ? listed.data.map(({ uuid, hostname }) => ({ uuid, hostname })) : undefined;
    },
    signal,
  );
  const startedMs = Date.now();
  const events: { atMs: number; what: string }[] = [];
  const event = (what: string): void => {
    events.push({ atMs: Date.now(), what });
    console.log(`${clock(Date.now(), startedMs)}  ${what}`);
  };

  const load = started.fork('./soak-http-load.js', [state.url]);
  load.send({ type: 'start', gpus, rate });
  await answerOf(load, 'started', 'the HTTP load');
  let ws: ChildProcess | undefined;
  if (wsClients > 0) {
    ws = started.fork('./soak-ws-clients.js', [`${state.url.replace(/^http/, 'ws')}/ws`, String(wsClients), String(WS_GPUS_EACH)]);
    ws.send({ type: 'start', gpus: gpus.map((gpu) => gpu.uuid), intervalMs });
    const connected = await answerOf<{ connected: number }>(ws, 'started', 'the live-stream clients');
    event(`${connected.connected} live-stream clients connected`);
  }
  event(`load started: ${rate} req/s`);

  // The fault plan: the collector at every --kill-every; the gateway once, halfway between two of those.
  const plan: { atMs: number; name: string }[] = [];
  for (let at = killEveryMs; at < durationMs; at += killEveryMs) plan.push({ atMs: at, name: COLLECTOR_KILLED });
  const gatewayKillAtMs = Math.floor(durationMs / killEveryMs / 2) * killEveryMs + killEveryMs / 2;
  if (gatewayKillAtMs < durationMs) plan.push({ atMs: gatewayKillAtMs, name: GATEWAY_KILLED });
  plan.sort((a, b) => a.atMs - b.atMs);
  let gatewayKilledAtMs: number | undefined;
  /** Restarts, by name, when each life began (for the memory verdicts). */
  const lifeStartMs = new Map<string, number>();

  const samples: Sample[] = [];
  const takeSample = async (): Promise<void> => {
    const rss: Record<string, number> = {};
    for (const entry of state.processes) {
      const mb = rssMb(entry.pid);
      if (mb !== undefined) rss[entry.name] = mb;
    }
    for (const [name, child] of [['http load (client)', load], ['ws clients (client)', ws]] as const) {
      const mb = child?.pid === undefined ? undefined : rssMb(child.pid);
      if (mb !== undefined) rss[name] = mb;
    }
    const heap: Record<string, number> = {};
    await Promise.all(
      state.processes
        .filter((entry) => ['collector', 'gateway', 'streamer'].includes(entry.role))
        .map(async (entry) => {
          const mb = await heapUsedMb(entry).catch(() => undefined);
          if (mb !== undefined) heap[entry.name] = mb;
        }),
    );
    const db = await etcdDbSizes(state.etcd[0]).catch(() => ({ total: NaN, inUse: NaN }));
    const stored = await storedSamples(kv, keys).catch(() => NaN);
    samples.push({ atMs: Date.now(), rssMb: rss, heapMb: heap, etcdDbMb: db.total, etcdDbInUseMb: db.inUse, storedSamples: stored });
    const roles = Object.entries(rss).filter(([name]) => !name.endsWith('(client)')).map(([name, mb]) => `${name} ${Math.round(mb)}`).join(', ');
    console.log(`${clock(Date.now(), startedMs)}  stored ${count(stored)} samples · etcd db ${db.total.toFixed(1)} MB (in use ${db.inUse.toFixed(1)}) · RSS MB: ${roles}`);
  };

  const kill = (entry: ClusterProcess): void => {
    // Only the process the state names (pid and start time): a role that died by itself is a finding, and its pid may be another's now.
    if (!isSameProcess(entry.pid, entry.startTime, entry.command[0])) throw new Error(`${entry.name} (pid ${entry.pid}) was not running when it was to be killed: it died by itself (see ${entry.logFile})`);
    process.kill(entry.pid, 'SIGKILL');
  };
  let faultError: Error | undefined;
  const faults = (async (): Promise<void> => {
    for (const step of plan) {
      await sleep(Math.max(0, startedMs + step.atMs - Date.now()), undefined, { signal });
      const entry = state.processes.find((p) => p.name === step.name)!;
      kill(entry);
      if (step.name === GATEWAY_KILLED) gatewayKilledAtMs = Date.now();
      event(`killed ${step.name} (pid ${entry.pid}, SIGKILL)`);
      await until(`${step.name} gone`, 10_000, async () => (processStartTime(entry.pid) === undefined ? true : undefined), signal);
      const restartedAt = Date.now();
      await started.gputel(['cluster', 'restart', step.name, '--dir', dir], env);
      state = readClusterState(dir);
      lifeStartMs.set(step.name, Date.now());
      event(`restarted ${step.name} (pid ${state.processes.find((p) => p.name === step.name)!.pid}), healthy in ${((Date.now() - restartedAt) / 1000).toFixed(1)} s`);
    }
  })().catch((error: Error) => {
    faultError = error;
  });
  while (Date.now() - startedMs < durationMs && faultError === undefined) {
    await takeSample();
    await sleep(Math.max(0, Math.min(sampleEveryMs, startedMs + durationMs - Date.now())), undefined, { signal });
  }
  await faults;
  if (faultError !== undefined) throw faultError;
  await takeSample();

  load.send({ type: 'stop' });
  const http = await answerOf<HttpReport>(load, 'report', 'the HTTP load');
  let live: WsReport | undefined;
  if (ws !== undefined) {
    ws.send({ type: 'stop' });
    live = await answerOf<WsReport>(ws, 'report', 'the live-stream clients');
  }
  event('load stopped');

  // The exact count: stop the streamer (its last ticks committed), then wait for the collectors to store them all.
  const streamer = state.processes.find((p) => p.role === 'streamer')!;
  event(`streamer: ${await stopProcess(streamer, 10_000)} (SIGTERM: its last ticks committed)`);
  const checkpoints = await kv.range({ prefix: keys.checkpointsPrefix(TOPIC) });
  const checkpoint = checkpoints.kvs.map((entry) => decodeCheckpoint(entry.value, entry.key)).find((c) => c.sourceId.startsWith('simulator-'))!;
  const position = checkpoint.position as { originMs: number; nextMs: number };
  const ticks = (position.nextMs - position.originMs) / intervalMs;
  const expected = ticks * gpuCount * GENERATED_METRICS.length;
  await until(
    'the queue drained and every committed sample stored',
    180_000,
    async () => {
      const queue = await readQueueStatus(kv, keys, TOPIC);
      return queue.partitions.every((p) => p.depth === 0) && (await storedSamples(kv, keys)) >= checkpoint.rowsRead ? true : undefined;
    },
    signal,
  ).catch((error: Error) => {
    // Ctrl-C ends the run here too; a drain that took too long is reported, and the counts below say what is missing.
    if (signal.aborted) throw error;
    event(error.message);
  });
  const stored = await storedSamples(kv, keys);
  const apiStats = JSON.parse(await fetchText(`${state.url}/api/v1/stats`)) as { samples?: number; data?: { samples: number } };
  const apiSamples = apiStats.data?.samples ?? apiStats.samples ?? NaN;
  // Independent of every counter: the samples themselves, read back GPU by GPU through the API (the chunks decoded).
  const readBack = await readBackSamples(state.url, gpus, position.originMs, position.nextMs, signal);
  const exact = checkpoint.rowsRejected === 0 && [checkpoint.rowsRead, stored, apiSamples, readBack].every((n) => n === expected);

  // What happened, for people.
  const endMs = Date.now();
  console.log(`\n## Requests (${rate} req/s scheduled, through the load balancer)\n`);
  console.log(table(['route', 'answered', 'p50', 'p99', 'max', 'errors', 'not sent', 'bytes'], http.routes.map((r) => [r.route, r.answered, ms(r.p50Ms), ms(r.p99Ms), ms(r.maxMs), r.errors, r.notSent, r.meanBytes])));
  const answered = http.routes.reduce((s, r) => s + r.answered, 0);
  const notSent = http.routes.reduce((s, r) => s + r.notSent, 0);
  const nearKill = (at: number): boolean => gatewayKilledAtMs !== undefined && at >= gatewayKilledAtMs - 1_000 && at <= gatewayKilledAtMs + GATEWAY_KILL_WINDOW_MS;
  const excused = http.errorTimes.droppedPost.filter(nearKill).length;
  const errors = http.errorTimes.droppedPost.length + http.errorTimes.other.length + http.uncountedErrors;
  const otherErrors = errors - excused + http.unfinished;
  console.log(`\n${count(answered)} answered in ${http.loadSeconds.toFixed(0)} s (${Math.round(answered / http.loadSeconds)} req/s); ${count(notSent)} not sent (${MAX_IN_FLIGHT_NOTE}); ${errors} errors: ${excused} POSTs in flight on the killed gateway, ${otherErrors} others${http.unfinished > 0 ? ` (${http.unfinished} never finished)` : ''}`);
  for (const sample of http.errorSamples.slice(0, 10)) console.log(`  ${clock(sample.atMs, startedMs)} ${sample.route}: ${sample.what.replace(/\s+/g, ' ').slice(0, 160)}`);
  if (live !== undefined) {
    console.log(`\n## Live stream (${live.clients} clients × ${WS_GPUS_EACH} GPUs)\n`);
    console.log(`${count(live.records)} records (${Math.round(live.records / http.loadSeconds)}/s), age on arrival (from the sample's own time: the streamer's flush interval, 1 s by default, included) p50 ${ms(live.ageP50Ms)} p99 ${ms(live.ageP99Ms)}; dropped frames ${live.droppedFrames}, missed records ${live.missedRecords}, out of order ${live.outOfOrder}, error frames ${live.errorFrames}; closes ${live.closes} (reconnected ${live.reconnects}), open at the end ${live.openAtEnd} of ${live.clients}`);
    for (const sample of live.errorSamples.slice(0, 5)) console.log(`  ${sample}`);
  }

  console.log('\n## Memory over time (MB, per process)\n');
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.rssMb)))];
  const memory = names.map((name) => {
    const since = lifeStartMs.get(name) ?? startedMs;
    const rssSeries = samples.filter((s) => s.rssMb[name] !== undefined).map((s) => ({ atMs: s.atMs, mb: s.rssMb[name] }));
    const heapSeries = samples.filter((s) => s.heapMb[name] !== undefined).map((s) => ({ atMs: s.atMs, mb: s.heapMb[name] }));
    // Its trend is over its latest life (a restarted process starts anew).
    const rssTrend = floorTrend(rssSeries.filter((p) => p.atMs >= since), since);
    const heapTrend = heapSeries.length === 0 ? undefined : floorTrend(heapSeries.filter((p) => p.atMs >= since), since);
    // What is judged: a gputel role's V8 heap in use (its RSS also holds the heap's free room, which V8 grows under
    // load and keeps: RSS rising while the heap's floor stays is that, not a leak); etcd's RSS follows its database
    // (memory-mapped), judged below; any other process's RSS.
    const judged = heapTrend ?? (name.startsWith('etcd') ? undefined : rssTrend);
    const verdict = judged === undefined ? 'see its database below' : `${judged.verdict}${heapTrend === undefined ? '' : ' (heap)'}`;
    return {
      name,
      restarts: events.filter((e) => e.what.startsWith(`restarted ${name} `)).length,
      // One value per sample (null where the process was not there, e.g. between a kill and its restart): aligned with `at`.
      rss: { ...rssTrend, series: samples.map((s) => (s.rssMb[name] === undefined ? null : Math.round(s.rssMb[name]))) },
      heap: heapTrend === undefined ? undefined : { ...heapTrend, series: samples.map((s) => (s.heapMb[name] === undefined ? null : Math.round(s.heapMb[name]))) },
      verdict,
    };
  });
  const timeline = samples.map((s) => clock(s.atMs, startedMs));
  console.log(
    table(
      ['process', 'restarts', 'RSS mean', 'RSS max', 'RSS floor rise', 'heap mean', 'heap floor rise', 'trend'],
      memory.map((m) => [m.name, m.restarts, figure(m.rss.meanMb, 0), figure(m.rss.maxMb, 0), figure(m.rss.floorRiseMb, 0), figure(m.heap?.meanMb, 0), figure(m.heap?.floorRiseMb, 0), m.verdict]),
    ),
  );
  const unjudged = memory.filter((m) => m.verdict.startsWith('too short')).map((m) => m.name);
  const lifeNeeded = Math.ceil((WARM_UP_MS + MIN_STEADY_SAMPLES * sampleEveryMs) / 60_000);
  if (unjudged.length > 0) console.log(`not judged: ${unjudged.join(', ')} (a trend needs a life of about ${lifeNeeded} min: a ${WARM_UP_MS / 1000} s warm-up, then ${MIN_STEADY_SAMPLES} samples)`);
  const column = Math.max(5, ...timeline.map((t) => t.length));
  const row = (label: string, values: readonly (string | number | null)[]): string => `${label.padEnd(22)}${values.map((v) => String(v ?? '—').padStart(column + 1)).join('')}`;
  console.log(`\n${row('RSS (MB) at', timeline)}`);
  for (const m of memory) console.log(row(m.name, m.rss.series));
  console.log(`\n${row('V8 heap in use (MB) at', timeline)}`);
  for (const m of memory) if (m.heap !== undefined) console.log(row(m.name, m.heap.series));

  console.log('\n## etcd database over time (MB)\n');
  console.log(row('at', timeline));
  console.log(row('total', samples.map((s) => s.etcdDbMb.toFixed(1))));
  console.log(row('in use', samples.map((s) => s.etcdDbInUseMb.toFixed(1))));
  const last = samples[samples.length - 1];
  const bytesPerSample = (last.etcdDbInUseMb * 1e6) / Math.max(1, last.storedSamples);
  console.log(`at the end: ${last.etcdDbMb.toFixed(1)} MB (${last.etcdDbInUseMb.toFixed(1)} in use) for ${count(last.storedSamples)} samples: ${bytesPerSample.toFixed(1)} bytes in use per stored sample, all keys included`);
  const etcdVerdict = databaseTrend(samples.map((s) => ({ atMs: s.atMs - startedMs, mb: s.etcdDbMb })));
  console.log(`trend: ${etcdVerdict}`);

  console.log('\n## Exact count\n');
  console.log(`${ticks} ticks × ${gpuCount} GPUs × ${GENERATED_METRICS.length} metrics = ${count(expected)} samples simulated`);
  console.log(`the streamer committed ${count(checkpoint.rowsRead)} (rejected ${checkpoint.rowsRejected}); the partition counters say ${count(stored)}; /api/v1/stats ${count(apiSamples)}; read back GPU by GPU ${count(readBack)}: ${exact ? 'EXACT' : 'NOT EXACT'}`);
  console.log(`\n${events.length} events over ${((endMs - startedMs) / 60_000).toFixed(1)} min`);

  const liveProblems = live === undefined ? 0 : live.missedRecords + live.outOfOrder + live.errorFrames + (live.clients - live.openAtEnd);
  // The soak's own load processes are reported, not judged: their memory is not gputel's.
  const passed = exact && otherErrors === 0 && liveProblems === 0 && memory.every((m) => m.name.endsWith('(client)') || !m.verdict.startsWith('GROWS')) && !etcdVerdict.startsWith('GROWS');
  console.log(passed ? 'soak passed' : 'soak FAILED: see above');
  writeFigures(jsonPath, {
    minutes,
    gpus: gpuCount,
    rate,
    wsClients,
    killEveryMs,
    events: events.map((e) => ({ at: clock(e.atMs, startedMs), what: e.what })),
    http: { ...http, errorTimes: undefined, answered, notSent, errors, excused, otherErrors, errorSamples: http.errorSamples.map((e) => ({ ...e, at: clock(e.atMs, startedMs) })) },
    live,
    memory,
    etcd: { verdict: etcdVerdict, at: timeline, totalMb: samples.map((s) => s.etcdDbMb), inUseMb: samples.map((s) => s.etcdDbInUseMb), storedSamples: samples.map((s) => s.storedSamples), bytesInUsePerSample: bytesPerSample },
    count: { ticks, expected, committed: checkpoint.rowsRead, rejected: checkpoint.rowsRejected, stored, api: apiSamples, readBack, exact },
    passed,
  });
  return passed ? 0 : 1;
}

const MAX_IN_FLIGHT_NOTE = 'the load keeps at most 512 requests waiting: the rest found the cluster saturated';

/** Every sample stored in [fromMs, toMs), counted from each GPU's telemetry (columns, all pages), 8 GPUs at a time. */
async function readBackSamples(base: string, gpus: readonly { uuid: string }[], fromMs: number, toMs: number, signal: AbortSignal): Promise<number> {
  let total = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < gpus.length) {
      signal.throwIfAborted();
      const gpu = gpus[next++];
      let cursor: string | null = null;
      do {
        const page = JSON.parse(
          await fetchText(`${base}/api/v1/gpus/${gpu.uuid}/telemetry?start_time=${fromMs}&end_time=${toMs - 1}&format=columns&limit=100000${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`),
        ) as { data: { metrics: Record<string, (number | null)[]> }; next_cursor: string | null };
        for (const values of Object.values(page.data.metrics)) for (const value of values) if (value !== null) total++;
        cursor = page.next_cursor;
      } while (cursor !== null);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return total;
}

// Ctrl-C or SIGTERM: the run stops where it is, and what it started is stopped (a second one leaves at once).
const interrupted = new AbortController();
for (const name of ['SIGINT', 'SIGTERM'] as const) {
  process.on(name, () => {
    if (interrupted.signal.aborted) process.exit(130);
    console.error(`soak: ${name}: stopping what was started (again to leave at once)`);
    interrupted.abort();
  });
}
// A closed output (`npm run soak | head`, or `2>&1 | head` for stderr too) stops the run the same way: without it, the
// first write after it would end this process at once and leave the whole cluster running.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (interrupted.signal.aborted) return;
    interrupted.abort();
    // Said where it can still be read (a write to a closed stderr only comes back here, as an error event).
    if (stream === process.stdout) console.error(`soak: output closed (${error.code ?? error.message}): stopping what was started`);
  });
}
try {
  process.exitCode = await main(interrupted.signal);
} catch (error) {
  console.error(`soak FAILED: ${(error as Error).message}`);
  process.exitCode = interrupted.signal.aborted ? 130 : 1;
}
