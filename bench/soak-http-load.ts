/**
 * The HTTP side of the soak (bench/soak.ts), in a process of its own: an
 * open-loop load of mixed REST and GraphQL requests at a fixed rate through
 * the load balancer. Requests are scheduled every 10 ms whether or not the
 * earlier ones have been answered, and each latency counts from its
 * scheduled time, so a slow gateway shows as latency rather than as fewer
 * requests. At most MAX_IN_FLIGHT wait at once; a request that would pass
 * that is not sent and counted as `not sent`.
 *
 * IPC: {type:'start', gpus:[{uuid, hostname}], rate} starts it;
 * {type:'stop'} stops it and answers {type:'report', routes, errors}.
 *
 *   (forked by bench/soak.ts) node dist/bench/soak-http-load.js URL
 */
import { Agent, request } from 'node:http';
import { percentile } from './percentile.js';

const [base] = process.argv.slice(2);
const TICK_MS = 10;
const MAX_IN_FLIGHT = 512;
/** Error details kept for the report (their count is always exact). */
const MAX_ERROR_SAMPLES = 50;

interface Gpu {
  uuid: string;
  hostname: string;
}

interface RouteSpec {
  name: string;
  /** Share of the requests (weights sum to 100). */
  weight: number;
  /** The request for one GPU. */
  make: (gpu: Gpu) => { method: 'GET' | 'POST'; path: string; body?: string };
}

const graphql = (query: string): { method: 'POST'; path: string; body: string } => ({ method: 'POST', path: '/graphql', body: JSON.stringify({ query }) });

/** What dashboards, scripts and Grafana-like clients ask for, in proportions a busy fleet would see. */
export const ROUTES: RouteSpec[] = [
  { name: 'GET /api/v1/gpus', weight: 5, make: () => ({ method: 'GET', path: '/api/v1/gpus' }) },
  { name: 'GET /api/v1/gpus?hostname=', weight: 10, make: (gpu) => ({ method: 'GET', path: `/api/v1/gpus?hostname=${encodeURIComponent(gpu.hostname)}` }) },
  { name: 'GET /api/v1/gpus/{id}/latest', weight: 20, make: (gpu) => ({ method: 'GET', path: `/api/v1/gpus/${gpu.uuid}/latest` }) },
  { name: 'GET …/telemetry 15 min raw', weight: 15, make: (gpu) => ({ method: 'GET', path: `/api/v1/gpus/${gpu.uuid}/telemetry?start_time=now-15m&format=columns` }) },
  { name: 'GET …/telemetry 1 h, 60 points', weight: 10, make: (gpu) => ({ method: 'GET', path: `/api/v1/gpus/${gpu.uuid}/telemetry?start_time=now-1h&max_points=60&format=columns` }) },
  { name: 'GET /api/v1/hosts/{host}/latest', weight: 5, make: (gpu) => ({ method: 'GET', path: `/api/v1/hosts/${encodeURIComponent(gpu.hostname)}/latest` }) },
  { name: 'GET /api/v1/summary', weight: 5, make: () => ({ method: 'GET', path: '/api/v1/summary?window=15m' }) },
  { name: 'GraphQL gpu', weight: 15, make: (gpu) => graphql(`{ gpu(id: "${gpu.uuid}") { uuid hostname gpuId status lastSeen } }`) },
  { name: 'GraphQL telemetry 15 min', weight: 10, make: (gpu) => graphql(`{ telemetry(id: "${gpu.uuid}", startTime: "now-15m") { count columns { timestamps metrics { name values } } } }`) },
  { name: 'GraphQL summary', weight: 5, make: () => graphql('{ summary(window: "15m") { gpus utilization { mean max } idle { count } } }') },
];

interface RouteFigures {
  latenciesMs: number[];
  errors: number;
  notSent: number;
  bytes: number;
}

const figures = new Map(ROUTES.map((route) => [route.name, { latenciesMs: [], errors: 0, notSent: 0, bytes: 0 } as RouteFigures]));
const errorSamples: { atMs: number; route: string; what: string }[] = [];
/** Epoch ms of every error (bounded by the run: the soak reads when they happened against its kills). */
const errorTimes: number[] = [];
const agent = new Agent({ keepAlive: true, maxSockets: 128 });
const url = new URL(base);
let inFlight = 0;
let timer: NodeJS.Timeout | undefined;

function failed(route: string, what: string): void {
  figures.get(route)!.errors++;
  errorTimes.push(Date.now());
  if (errorSamples.length < MAX_ERROR_SAMPLES) errorSamples.push({ atMs: Date.now(), route, what });
}

function send(route: RouteSpec, gpu: Gpu, scheduledMs: number): void {
  const figure = figures.get(route.name)!;
  if (inFlight >= MAX_IN_FLIGHT) {
    figure.notSent++;
    return;
  }
  inFlight++;
  const { method, path, body } = route.make(gpu);
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
  let answered = false;
  const call = request({ host: url.hostname, port: url.port, path, method, agent, headers, timeout: 30_000 }, (response) => {
    answered = true;
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => {
      inFlight--;
      const text = Buffer.concat(chunks);
      figure.latenciesMs.push(performance.now() - scheduledMs);
      figure.bytes += text.length;
      // A GraphQL answer with errors is an error even with status 200.
      if (response.statusCode !== 200) failed(route.name, `HTTP ${response.statusCode}: ${text.subarray(0, 200).toString()}`);
      else if (method === 'POST' && text.includes('"errors"')) failed(route.name, `GraphQL errors: ${text.subarray(0, 200).toString()}`);
    });
    response.on('error', (error) => {
      inFlight--;
      failed(route.name, `response: ${error.message}`);
    });
  });
  call.on('timeout', () => call.destroy(new Error('no answer in 30 s')));
  call.on('error', (error) => {
    // An error before the response (refused, reset): the response handlers never ran.
    if (!answered) {
      inFlight--;
      failed(route.name, `request: ${error.message}`);
    }
  });
  call.end(body);
}

function start(gpus: Gpu[], rate: number): void {
  // A deck of route names in their weights, dealt in turn: the mix is exact over every 100 requests.
  const deck = ROUTES.flatMap((route) => Array.from({ length: route.weight }, () => route));
  let dealt = 0;
  let owed = 0;
  let next = performance.now();
  const tick = (): void => {
    const now = performance.now();
    // Every tick that passed (a late timer included) sends its share, each scheduled at its own time.
    while (next <= now) {
      owed += (rate * TICK_MS) / 1000;
      for (; owed >= 1; owed--) {
        const route = deck[dealt % deck.length];
        send(route, gpus[(dealt * 7919) % gpus.length], next);
        dealt++;
      }
      next += TICK_MS;
    }
    timer = setTimeout(tick, Math.max(0, next - performance.now()));
  };
  tick();
}

function report(): object {
  const routes = ROUTES.map((route) => {
    const figure = figures.get(route.name)!;
    const sorted = figure.latenciesMs.sort((a, b) => a - b);
    return {
      route: route.name,
      answered: sorted.length,
      errors: figure.errors,
      notSent: figure.notSent,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      maxMs: sorted.length === 0 ? NaN : sorted[sorted.length - 1],
      meanBytes: sorted.length === 0 ? 0 : Math.round(figure.bytes / sorted.length),
    };
  });
  return { routes, errorSamples, errorTimes };
}

process.on('message', (message: { type: string; gpus?: Gpu[]; rate?: number }) => {
  if (message.type === 'start') {
    start(message.gpus!, message.rate!);
    process.send!({ type: 'started' });
  } else if (message.type === 'stop') {
    clearTimeout(timer);
    // The requests still out get their answers (or time out) before the report.
    const waitStarted = Date.now();
    const finish = (): void => {
      if (inFlight > 0 && Date.now() - waitStarted < 35_000) {
        setTimeout(finish, 50);
        return;
      }
      process.send!({ type: 'report', ...report() }, () => process.exit(0));
    };
    finish();
  }
});
