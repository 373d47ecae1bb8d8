/**
 * The soak: a live fleet, a mixed load and faults, for minutes, on a real
 * local cluster (`gputel cluster up`: etcd, 1 streamer, 2 collectors,
 * 2 gateways behind nginx). Meanwhile it
 * - ingests a simulated fleet of --gpus GPUs at --interval (1,000 at 10 s);
 * - serves --rate requests/s of mixed REST and GraphQL (bench/soak-http-load.ts)
 *   and holds --ws-clients live-stream clients at about one record a second
 *   each (bench/soak-ws-clients.ts), all through the load balancer;
 * - kills a collector (SIGKILL) every --kill-every, alternately, and starts
 *   it again with `gputel cluster restart`; kills one gateway once, halfway
 *   between two collector kills, and starts it again.
 * It prints p50/p99 and errors per route, the live stream's records,
 * dropped and missed frames, RSS over time per process (with its trend),
 * etcd's database size over time, and ends with an exact sample count: the
 * streamer is stopped, and the samples its simulated ticks hold, the
 * samples it committed and the samples stored must all be equal.
 *
 *   npm run soak [-- --minutes 10 --gpus 1000 --rate 1000 --ws-clients 2000 --kill-every 2m --json FILE]
 *
 * Exit 0 when the count is exact, the load saw no error outside the
 * seconds around the gateway kill, and no record was missed; 1 otherwise.
 * The 1-minute version in CI is test/e2e/soak.test.ts.
 */
import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { readClusterState, type ClusterState } from '../src/cli/cluster/cluster-state.js';
import { parseDuration } from '../src/cli/duration.js';
import { processStartTime } from '../src/cli/cluster/process-identity.js';
import { stopProcess } from '../src/cli/cluster/process-stopper.js';
import { GENERATED_METRICS } from '../src/ingest/dcgm-generator.js';
import { KeySpace } from '../src/kv/key-space.js';
import { openKvStore } from '../src/kv/open-kv-store.js';
import { decodeCheckpoint } from '../src/queue/source-checkpoint.js';
import { readQueueStatus } from '../src/queue/queue-status.js';
import { jsonPathArgument, writeFigures } from './figures-file.js';
import { storedSamples } from './store-progress.js';

const GPUTEL_BIN = fileURLToPath(new URL('../../bin/gputel.js', import.meta.url));
const GPUS_PER_HOST = 8;
const TOPIC = 'telemetry';
/** Live-stream GPUs per client: at a 10 s interval, one record a second. */
const WS_GPUS_EACH = 10;
/** Errors this close to the gateway kill are the kill's (requests in flight on it); any other is a defect. */
const GATEWAY_KILL_WINDOW_MS = 10_000;

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

function wholeNumber(name: string, fallback: number, min: number): number {
  const value = Number(flag(name, String(fallback)));
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`--${name} must be a whole number of at least ${min}`);
  return value;
}

const minutes = Number(flag('minutes', '10'));
if (!(minutes > 0)) throw new Error('--minutes must be a number above 0');
const gpuCount = wholeNumber('gpus', 1_000, GPUS_PER_HOST);
if (gpuCount % GPUS_PER_HOST !== 0) throw new Error(`--gpus must be a multiple of ${GPUS_PER_HOST} (GPUs per simulated host)`);
const rate = wholeNumber('rate', 1_000, 1);
const wsClients = wholeNumber('ws-clients', 2_000, 0);
const killEveryMs = parseDuration(flag('kill-every', '2m'), '--kill-every');
const sampleEveryMs = parseDuration(flag('sample-every', '10s'), '--sample-every');
const intervalMs = parseDuration(flag('interval', '10s'), '--interval');
const jsonPath = jsonPathArgument();
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

interface SoakEvent {
  atMs: number;
  what: string;
}

function rssMb(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The heap in use of a gputel role, from its own /metrics (prom-client's nodejs_heap_size_used_bytes). */
async function heapUsedMb(entry: { host: string; port: number }): Promise<number | undefined> {
  const text = await (await fetch(`http://${entry.host}:${entry.port}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  const value = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1];
  return value === undefined ? undefined : Number(value) / 1e6;
}

async function etcdDbSizes(endpoint: string): Promise<{ total: number; inUse: number }> {
  const text = await (await fetch(`${endpoint}/metrics`)).text();
  const metric = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 1e6;
  return { total: metric('etcd_mvcc_db_total_size_in_bytes'), inUse: metric('etcd_mvcc_db_total_size_in_use_in_bytes') };
}

/** Runs the gputel CLI to its end; throws with its stderr when it fails. */
async function gputel(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const child = spawn(process.execPath, [GPUTEL_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`gputel ${args.join(' ')} exited ${code}: ${stderr.trim()}`);
  return stdout;
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}

/** Least-squares slope of `points` (x in minutes, y in MB), in MB a minute. */
function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return sxx === 0 ? 0 : points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0) / sxx;
}

/** Samples a trend needs after the warm-up: with fewer, a saw-toothing heap's troughs are missed and its floor is noise. */
const MIN_STEADY_SAMPLES = 30;

/**
 * The trend of one memory series over a process's life after a warm-up
 * (the first minute or fifth of the soak, whichever is longer). Judged on
 * the floor, the lowest value of the first and of the last third of the
 * steady part: a heap saw-toothing between collections moves the mean and
 * a fitted slope, but only memory that is kept raises the floor. Flat when
 * the floor rose by less than max(10% of the steady mean, 10 MB).
 */
function floorTrend(series: { atMs: number; mb: number }[], startedMs: number): { meanMb: number; maxMb: number; mbPerMinute: number; floorRiseMb: number; verdict: 'flat' | 'GROWS' | 'too short to tell' } {
  const warmUpMs = Math.max(60_000, durationMs / 5);
  const steady = series.filter((p) => p.atMs - startedMs >= warmUpMs);
  const all = series.map((p) => p.mb);
  const meanMb = all.reduce((s, v) => s + v, 0) / Math.max(1, all.length);
  const maxMb = Math.max(...all);
  if (steady.length < MIN_STEADY_SAMPLES) return { meanMb, maxMb, mbPerMinute: NaN, floorRiseMb: NaN, verdict: 'too short to tell' };
  const mbPerMinute = slope(steady.map((p) => ({ x: p.atMs / 60_000, y: p.mb })));
  const steadyMean = steady.reduce((s, p) => s + p.mb, 0) / steady.length;
  const third = Math.floor(steady.length / 3);
  const floorRise = Math.min(...steady.slice(-third).map((p) => p.mb)) - Math.min(...steady.slice(0, third).map((p) => p.mb));
  return { meanMb, maxMb, mbPerMinute, floorRiseMb: floorRise, verdict: floorRise <= Math.max(0.1 * steadyMean, 10) ? 'flat' : 'GROWS' };
}

/**
 * A run this long shows whether etcd's database levels off: the collectors
 * merge the small chunks of each message into 4 h windows 20 min after they
 * land (DEFAULT_OPEN_WINDOW_MERGE_AGE_MS), and history is compacted every
 * 5 min (to the revision of 5 min before), so before ~30 min it grows with
 * every sample whatever happens after.
 */
const DATABASE_TREND_MIN_MS = 30 * 60_000;

/**
 * Bounded when the database file (which etcd never shrinks without a
 * defragmentation, but refills from the pages compaction frees) grew by
 * less than 10% over the last third of the run; GROWS otherwise.
 */
function databaseTrend(series: { atMs: number; mb: number }[]): string {
  const endMs = series[series.length - 1].atMs;
  if (endMs < DATABASE_TREND_MIN_MS) return `too short to tell (a run of ${DATABASE_TREND_MIN_MS / 60_000} min or more shows it: chunks merge 20 min after they land)`;
  const atTwoThirds = series.find((p) => p.atMs >= (2 * endMs) / 3)!.mb;
  const end = series[series.length - 1].mb;
  const rise = (end - atTwoThirds) / atTwoThirds;
  return `${rise < 0.1 ? 'bounded' : 'GROWS'}: ${atTwoThirds.toFixed(1)} MB at two thirds of the run, ${end.toFixed(1)} MB at the end (${(100 * rise).toFixed(0)}%)`;
}

function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  return cells.map((row, r) => row.map((cell, i) => (i === 0 || r === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ')).join('\n');
}

const ms = (value: number): string => (Number.isNaN(value) ? '—' : `${value.toFixed(1)} ms`);
const clock = (atMs: number, startedMs: number): string => {
  const s = Math.round((atMs - startedMs) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};

async function main(): Promise<number> {
  const dirFlag = flag('dir', '');
  const root = dirFlag === '' ? mkdtempSync(path.join(tmpdir(), 'gputel-soak-')) : path.resolve(dirFlag);
  const dir = path.join(root, 'cluster');
  const hosts = gpuCount / GPUS_PER_HOST;
  console.log(`soak: ${minutes} min; ${gpuCount} GPUs (${hosts} hosts × ${GPUS_PER_HOST}) at ${intervalMs / 1000} s; ${rate} req/s mixed REST and GraphQL; ${wsClients} live-stream clients × ${WS_GPUS_EACH} GPUs; a collector killed every ${killEveryMs / 1000} s, a gateway once; cluster in ${dir}`);
  // Rate limits off: the whole load comes from one address (nginx passes it on), and the soak measures the gateways, not the limiter.
  const env = { ...process.env, GPUTEL_RATE_LIMIT: '0' };
  await gputel(
    ['cluster', 'up', '--dir', dir, '--port', '0', '--streamers', '1', '--collectors', '2', '--gateways', '2', '--simulate-hosts', String(hosts), '--simulate-gpus-per-host', String(GPUS_PER_HOST), '--simulate-backfill', '0', '--interval', `${intervalMs}ms`, '--output', 'json'],
    env,
  );
  let state: ClusterState = readClusterState(dir);
  const kv = await openKvStore({ endpoints: state.etcd });
  const keys = new KeySpace();
  const children: ReturnType<typeof fork>[] = [];
  let exitCode = 0;
  try {
    const gpus = await until(`all ${gpuCount} GPUs registered`, 120_000, async () => {
      const listed = (await (await fetch(`${state.url}/api/v1/gpus`)).json()) as { data: { uuid: string; hostname: string }[] };
      return listed.data.length === gpuCount ? listed.data.map(({ uuid, hostname }) => ({ uuid, hostname })) : undefined;
    });
    const startedMs = Date.now();
    const events: SoakEvent[] = [];
    const event = (what: string): void => {
      events.push({ atMs: Date.now(), what });
      console.log(`${clock(Date.now(), startedMs)}  ${what}`);
    };

    const load = fork(fileURLToPath(new URL('./soak-http-load.js', import.meta.url)), [state.url], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(load);
    load.send({ type: 'start', gpus, rate });
    await once(load, 'message');
    let ws: ReturnType<typeof fork> | undefined;
    if (wsClients > 0) {
      ws = fork(fileURLToPath(new URL('./soak-ws-clients.js', import.meta.url)), [`${state.url.replace(/^http/, 'ws')}/ws`, String(wsClients), String(WS_GPUS_EACH)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.push(ws);
      ws.send({ type: 'start', gpus: gpus.map((gpu) => gpu.uuid), intervalMs });
      const [connected] = (await once(ws, 'message')) as [{ connected: number }];
      event(`${connected.connected} live-stream clients connected`);
    }
    event(`load started: ${rate} req/s`);

    // The fault plan: collectors at every --kill-every, alternately; the gateway once, halfway between two of those.
    const plan: { atMs: number; name: string }[] = [];
    for (let at = killEveryMs, k = 0; at < durationMs; at += killEveryMs, k++) plan.push({ atMs: at, name: `collector-${(k % 2) + 1}` });
    const gatewayKillAtMs = Math.floor(durationMs / killEveryMs / 2) * killEveryMs + killEveryMs / 2;
    if (gatewayKillAtMs < durationMs) plan.push({ atMs: gatewayKillAtMs, name: 'gateway-1' });
    plan.sort((a, b) => a.atMs - b.atMs);
    let gatewayKilledAtMs: number | undefined;

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
      console.log(`${clock(Date.now(), startedMs)}  stored ${stored.toLocaleString('en-US')} samples · etcd db ${db.total.toFixed(1)} MB (in use ${db.inUse.toFixed(1)}) · RSS MB: ${roles}`);
    };

    const faults = (async (): Promise<void> => {
      for (const step of plan) {
        await sleep(Math.max(0, startedMs + step.atMs - Date.now()));
        const entry = state.processes.find((p) => p.name === step.name)!;
        process.kill(entry.pid, 'SIGKILL');
        if (step.name.startsWith('gateway')) gatewayKilledAtMs = Date.now();
        event(`killed ${step.name} (pid ${entry.pid}, SIGKILL)`);
        await until(`${step.name} gone`, 10_000, async () => (processStartTime(entry.pid) === undefined ? true : undefined));
        const restartedAt = Date.now();
        await gputel(['cluster', 'restart', step.name, '--dir', dir], env);
        state = readClusterState(dir);
        event(`restarted ${step.name} (pid ${state.processes.find((p) => p.name === step.name)!.pid}), healthy in ${((Date.now() - restartedAt) / 1000).toFixed(1)} s`);
      }
    })();
    while (Date.now() - startedMs < durationMs) {
      await takeSample();
      await sleep(Math.max(0, Math.min(sampleEveryMs, startedMs + durationMs - Date.now())));
    }
    await faults;
    await takeSample();

    load.send({ type: 'stop' });
    const [http] = (await once(load, 'message')) as [{ routes: RouteReport[]; errorSamples: { atMs: number; route: string; what: string }[]; errorTimes: number[] }];
    let live: WsReport | undefined;
    if (ws !== undefined) {
      ws.send({ type: 'stop' });
      [live] = (await once(ws, 'message')) as [WsReport];
    }
    event('load stopped');

    // The exact count: stop the streamer (its last ticks committed), then wait for the collectors to store them all.
    const streamer = state.processes.find((p) => p.role === 'streamer')!;
    const stopped = await stopProcess(streamer, 10_000);
    event(`streamer stopped (${stopped})`);
    const checkpoints = await kv.range({ prefix: keys.checkpointsPrefix(TOPIC) });
    const checkpoint = checkpoints.kvs.map((entry) => decodeCheckpoint(entry.value, entry.key)).find((c) => c.sourceId.startsWith('simulator-'))!;
    const position = checkpoint.position as { originMs: number; nextMs: number };
    const ticks = (position.nextMs - position.originMs) / intervalMs;
    const expected = ticks * gpuCount * GENERATED_METRICS.length;
    await until('the queue drained and every committed sample stored', 180_000, async () => {
      const queue = await readQueueStatus(kv, keys, TOPIC);
      return queue.partitions.every((p) => p.depth === 0) && (await storedSamples(kv, keys)) >= checkpoint.rowsRead ? true : undefined;
    }).catch((error: Error) => event(error.message));
    const stored = await storedSamples(kv, keys);
    const apiStats = (await (await fetch(`${state.url}/api/v1/stats`)).json()) as { samples?: number; data?: { samples: number } };
    const apiSamples = apiStats.data?.samples ?? apiStats.samples ?? NaN;
    const exact = expected === checkpoint.rowsRead && checkpoint.rowsRejected === 0 && stored === expected && apiSamples === expected;

    // What happened, for people.
    const endMs = Date.now();
    console.log(`\n## Requests (${rate} req/s scheduled, through the load balancer)\n`);
    console.log(table(['route', 'answered', 'p50', 'p99', 'max', 'errors', 'not sent', 'bytes'], http.routes.map((r) => [r.route, r.answered, ms(r.p50Ms), ms(r.p99Ms), ms(r.maxMs), r.errors, r.notSent, r.meanBytes])));
    const answered = http.routes.reduce((s, r) => s + r.answered, 0);
    const errors = http.errorTimes.length;
    const nearKill = gatewayKilledAtMs === undefined ? 0 : http.errorTimes.filter((at) => at >= gatewayKilledAtMs! - 1_000 && at <= gatewayKilledAtMs! + GATEWAY_KILL_WINDOW_MS).length;
    const otherErrors = errors - nearKill;
    console.log(`\n${answered.toLocaleString('en-US')} answered (${Math.round(answered / (durationMs / 1000))} req/s), ${errors} errors: ${nearKill} within ${GATEWAY_KILL_WINDOW_MS / 1000} s of the gateway kill, ${otherErrors} at other times`);
    for (const sample of http.errorSamples.slice(0, 10)) console.log(`  ${clock(sample.atMs, startedMs)} ${sample.route}: ${sample.what}`);
    if (live !== undefined) {
      console.log(`\n## Live stream (${live.clients} clients × ${WS_GPUS_EACH} GPUs)\n`);
      console.log(`${live.records.toLocaleString('en-US')} records (${Math.round(live.records / (durationMs / 1000))}/s), age on arrival p50 ${ms(live.ageP50Ms)} p99 ${ms(live.ageP99Ms)}; dropped frames ${live.droppedFrames}, missed records ${live.missedRecords}, out of order ${live.outOfOrder}, error frames ${live.errorFrames}; closes ${live.closes} (reconnected ${live.reconnects}), open at the end ${live.openAtEnd}`);
    }

    console.log('\n## Memory over time (MB, per process)\n');
    const names = [...new Set(samples.flatMap((s) => Object.keys(s.rssMb)))];
    const memory = names.map((name) => {
      const rssSeries = samples.filter((s) => s.rssMb[name] !== undefined).map((s) => ({ atMs: s.atMs, mb: s.rssMb[name] }));
      const heapSeries = samples.filter((s) => s.heapMb[name] !== undefined).map((s) => ({ atMs: s.atMs, mb: s.heapMb[name] }));
      // A restarted process starts a new series: its trend is over its latest life.
      const restarts = events.filter((e) => e.what.startsWith(`restarted ${name} `)).map((e) => e.atMs);
      const since = restarts.length === 0 ? startedMs : restarts[restarts.length - 1];
      const rssTrend = floorTrend(rssSeries.filter((p) => p.atMs >= since), since);
      const heapTrend = heapSeries.length === 0 ? undefined : floorTrend(heapSeries.filter((p) => p.atMs >= since), since);
      // What is judged: a gputel role's V8 heap in use (its RSS also holds the heap's free room, which V8 grows under
      // load and keeps: RSS rising while the heap's floor stays is that, not a leak); etcd's RSS follows its database
      // (memory-mapped), judged below; any other process's RSS.
      const judged = heapTrend ?? (name === 'etcd-m0' ? undefined : rssTrend);
      const verdict = judged === undefined ? 'see its database below' : `${judged.verdict}${heapTrend === undefined ? '' : ' (heap)'}`;
      return { name, restarts: restarts.length, rss: { ...rssTrend, series: rssSeries.map((p) => Math.round(p.mb)) }, heap: heapTrend === undefined ? undefined : { ...heapTrend, series: heapSeries.map((p) => Math.round(p.mb)) }, verdict };
    });
    const timeline = samples.map((s) => clock(s.atMs, startedMs));
    const figure = (value: number | undefined, digits: number): string => (value === undefined || Number.isNaN(value) ? '—' : value.toFixed(digits));
    console.log(
      table(
        ['process', 'restarts', 'RSS mean', 'RSS max', 'RSS floor rise', 'heap mean', 'heap floor rise', 'trend'],
        memory.map((m) => [m.name, m.restarts, figure(m.rss.meanMb, 0), figure(m.rss.maxMb, 0), figure(m.rss.floorRiseMb, 0), figure(m.heap?.meanMb, 0), figure(m.heap?.floorRiseMb, 0), m.verdict]),
      ),
    );
    console.log(`\nRSS at ${timeline.join(' ')}`);
    for (const m of memory) console.log(`${m.name.padEnd(22)} ${m.rss.series.join(' ')}`);
    console.log('\nV8 heap in use (from each role\'s /metrics):');
    for (const m of memory) if (m.heap !== undefined) console.log(`${m.name.padEnd(22)} ${m.heap.series.join(' ')}`);

    console.log('\n## etcd database over time (MB)\n');
    console.log(`total  ${samples.map((s) => s.etcdDbMb.toFixed(1)).join(' ')}`);
    console.log(`in use ${samples.map((s) => s.etcdDbInUseMb.toFixed(1)).join(' ')}`);
    const last = samples[samples.length - 1];
    const bytesPerSample = (last.etcdDbInUseMb * 1e6) / Math.max(1, last.storedSamples);
    console.log(`at the end: ${last.etcdDbMb.toFixed(1)} MB (${last.etcdDbInUseMb.toFixed(1)} in use) for ${last.storedSamples.toLocaleString('en-US')} samples: ${bytesPerSample.toFixed(1)} bytes in use per stored sample, all keys included`);
    const etcdVerdict = databaseTrend(samples.map((s) => ({ atMs: s.atMs - startedMs, mb: s.etcdDbMb })));
    console.log(`trend: ${etcdVerdict}`);

    console.log('\n## Exact count\n');
    console.log(`${ticks} ticks × ${gpuCount} GPUs × ${GENERATED_METRICS.length} metrics = ${expected.toLocaleString('en-US')} samples simulated; the streamer committed ${checkpoint.rowsRead.toLocaleString('en-US')} (rejected ${checkpoint.rowsRejected}); stored ${stored.toLocaleString('en-US')}; /api/v1/stats ${Number(apiSamples).toLocaleString('en-US')}: ${exact ? 'EXACT' : 'NOT EXACT'}`);
    console.log(`\n${events.length} events over ${((endMs - startedMs) / 60_000).toFixed(1)} min`);

    const missed = live === undefined ? 0 : live.missedRecords + live.outOfOrder + live.errorFrames;
    const passed = exact && otherErrors === 0 && missed === 0 && memory.every((m) => !m.verdict.startsWith('GROWS')) && !etcdVerdict.startsWith('GROWS');
    console.log(passed ? 'soak passed' : 'soak FAILED: see above');
    exitCode = passed ? 0 : 1;
    writeFigures(jsonPath, {
      minutes,
      gpus: gpuCount,
      rate,
      wsClients,
      killEveryMs,
      events: events.map((e) => ({ at: clock(e.atMs, startedMs), what: e.what })),
      http: { routes: http.routes, answered, errors, errorsNearGatewayKill: nearKill, otherErrors, errorSamples: http.errorSamples.map((e) => ({ at: clock(e.atMs, startedMs), route: e.route, what: e.what })) },
      live,
      memory,
      etcd: { verdict: etcdVerdict, at: timeline, totalMb: samples.map((s) => s.etcdDbMb), inUseMb: samples.map((s) => s.etcdDbInUseMb), storedSamples: samples.map((s) => s.storedSamples), bytesInUsePerSample: bytesPerSample },
      count: { ticks, expected, committed: checkpoint.rowsRead, rejected: checkpoint.rowsRejected, stored, api: apiSamples, exact },
      passed,
    });
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await kv.close();
    await gputel(['cluster', 'down', '--dir', dir, '--grace', '5s']).catch((error: Error) => console.error(error.message));
    if (dirFlag === '') rmSync(root, { recursive: true, force: true });
  }
  return exitCode;
}

interface RouteReport {
  route: string;
  answered: number;
  errors: number;
  notSent: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanBytes: number;
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

process.exitCode = await main();
