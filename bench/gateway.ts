/**
 * Gateway benchmark, part 1 (HTTP), against a real `gputel gateway` process
 * on a real etcd filled with 256 GPUs (32 hosts × 8) × 2 h at 10 s: req/s
 * and p99 (autocannon) of /api/v1/gpus and of one GPU's last hour of
 * telemetry, each beside a bare Fastify server (its own process) answering
 * the same bytes in the same run. The ratio is the figure (target ≥ 70% on
 * the list). Parts 2 and 3 (the live stream: ingest → WebSocket latency,
 * clients held and memory per client) are bench/ws-stream.ts; `npm run
 * bench:gateway` runs all three. Not a test: the figures move with the
 * machine's load; read the ratios.
 *
 *   npm run build && node dist/bench/gateway.js [--duration 10 --connections 10 --hours 2 --etcd URL --profile DIR --json FILE]
 *
 * `--profile DIR` runs the gateway under `node --cpu-prof --cpu-prof-dir DIR`
 * (the profile is written when the bench stops it).
 * `--json FILE` writes the figures for `npm run bench` (bench/figures-file.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { GENERATED_METRICS } from '../src/ingest/dcgm-generator.js';
import { KeySpace } from '../src/kv/key-space.js';
import { openKvStore } from '../src/kv/open-kv-store.js';
import { findFreePort, startEtcd, type EtcdProcess } from '../test/support/etcd-process.js';
import { GPUTEL_BIN } from '../test/support/gputel-process.js';
import { fillStore, type FleetShape } from './fill-store.js';
import { jsonPathArgument, writeFigures } from './figures-file.js';
import { storedSamples } from './store-progress.js';

const FLEET_HOURS = 2;
const FLEET: FleetShape = { hosts: 32, gpusPerHost: 8, hours: FLEET_HOURS, intervalMs: 10_000, startMs: Date.parse('2026-03-02T00:00:00Z') };

function argument(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

/** Starts a node process and waits until `url` answers 200. */
async function startServer(args: string[], url: string): Promise<ChildProcess> {
  // The load comes from one address, far over the default rate limit (6000/min): the bench measures the gateway, not its 429s.
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, GPUTEL_RATE_LIMIT: '0' } });
  for (let i = 0; i < 300; i++) {
    if ((await fetch(url).then((r) => r.status, () => 0)) === 200) return child;
    await sleep(100);
  }
  child.kill('SIGTERM');
  throw new Error(`${args.join(' ')} did not answer ${url}`);
}

async function stopServer(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

interface Load {
  rps: number;
  p99: number;
}

async function load(url: string, connections: number, duration: number): Promise<Load> {
  const result = await autocannon({ url, connections, duration });
  if (result.errors > 0 || result.non2xx > 0 || result.timeouts > 0) throw new Error(`${url}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx answers`);
  return { rps: result.requests.average, p99: result.latency.p99 };
}

/** Loads gputel and the bare server with the same request, gputel first, and prints both and their ratio. */
async function compare(label: string, gputelUrl: string, bareUrl: string, connections: number, duration: number): Promise<{ gputel: Load; bare: Load }> {
  const gputel = await load(gputelUrl, connections, duration);
  const bare = await load(bareUrl, connections, duration);
  const figure = (l: Load): string => `${Math.round(l.rps).toLocaleString('en-US').padStart(7)} req/s, p99 ${String(l.p99).padStart(3)} ms`;
  console.log(`${label.padEnd(34)} gputel ${figure(gputel)}   bare Fastify ${figure(bare)}   ratio ${((100 * gputel.rps) / bare.rps).toFixed(0)}%`);
  return { gputel, bare };
}

async function main(): Promise<void> {
  const duration = argument('duration', 10);
  const connections = argument('connections', 10);
  FLEET.hours = argument('hours', FLEET_HOURS);
  const jsonPath = jsonPathArgument();
  const externalIndex = process.argv.indexOf('--etcd');
  const external = externalIndex > 0 ? process.argv[externalIndex + 1] : undefined;
  let etcd: EtcdProcess | undefined;
  if (!external) etcd = await startEtcd();
  const endpoints = external ? external.split(',') : etcd!.endpoints;
  const kv = await openKvStore({ endpoints });
  const keys = new KeySpace();
  const dir = mkdtempSync(join(tmpdir(), 'gputel-bench-gateway-'));
  let gateway: ChildProcess | undefined;
  let bare: ChildProcess | undefined;
  try {
    const expected = FLEET.hosts * FLEET.gpusPerHost * GENERATED_METRICS.length * ((FLEET.hours * 3_600_000) / FLEET.intervalMs);
    if ((await storedSamples(kv, keys)) < expected) await fillStore(kv, keys, FLEET);
    const gatewayPort = await findFreePort();
    const base = `http://127.0.0.1:${gatewayPort}`;
    const profileIndex = process.argv.indexOf('--profile');
    const nodeArgs = profileIndex > 0 ? ['--cpu-prof', '--cpu-prof-dir', process.argv[profileIndex + 1]] : [];
    gateway = await startServer([...nodeArgs, GPUTEL_BIN, 'gateway', '--etcd', endpoints.join(','), '--host', '127.0.0.1', '--port', String(gatewayPort), '--log-level', 'warn'], `${base}/readyz`);
    const list = await (await fetch(`${base}/api/v1/gpus`)).json() as { data: { uuid: string }[]; count: number };
    const endMs = FLEET.startMs + FLEET.hours * 3_600_000 - 1;
    const telemetryPath = `/api/v1/gpus/${list.data[0].uuid}/telemetry`;
    const telemetryQuery = `?start_time=${endMs - 3_600_000 + 1}&end_time=${endMs}`;
    console.log(`gateway benchmark: ${list.count} GPUs × ${FLEET.hours} h at 10 s; autocannon, ${connections} connections, ${duration} s per figure`);

    // The bare server answers the very bytes gputel answered.
    const gpusFile = join(dir, 'gpus.json');
    const telemetryFile = join(dir, 'telemetry.json');
    writeFileSync(gpusFile, Buffer.from(await (await fetch(`${base}/api/v1/gpus`)).arrayBuffer()));
    writeFileSync(telemetryFile, Buffer.from(await (await fetch(`${base}${telemetryPath}${telemetryQuery}`)).arrayBuffer()));
    const barePort = await findFreePort();
    const bareBase = `http://127.0.0.1:${barePort}`;
    bare = await startServer([new URL('./bare-server.js', import.meta.url).pathname, String(barePort), `/api/v1/gpus=${gpusFile}`, `${telemetryPath}=${telemetryFile}`], `${bareBase}/api/v1/gpus`);
    const gpus = await compare('/api/v1/gpus (256 GPUs)', `${base}/api/v1/gpus`, `${bareBase}/api/v1/gpus`, connections, duration);
    const oneGpu = await compare('one GPU, last 1 h (records)', `${base}${telemetryPath}${telemetryQuery}`, `${bareBase}${telemetryPath}${telemetryQuery}`, connections, duration);
    await stopServer(bare);
    bare = undefined;
    writeFigures(jsonPath, { gpus: list.count, hours: FLEET.hours, connections, durationS: duration, list: gpus, oneGpuLastHour: oneGpu });
  } finally {
    await stopServer(bare);
    await stopServer(gateway);
    rmSync(dir, { recursive: true, force: true });
    await kv.close();
    await etcd?.stop();
  }
}

await main();
