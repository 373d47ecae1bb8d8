/**
 * The HTTP side of the soak (bench/soak.ts), in a process of its own: an
 * open-loop load of mixed REST and GraphQL requests at a fixed rate through
 * the load balancer. Requests are scheduled every 10 ms whether or not the
 * earlier ones have been answered, and each latency counts from its
 * scheduled time to its end, answered or failed, so a slow gateway shows as
 * latency rather than as fewer requests. At most MAX_IN_FLIGHT wait at
 * once; a request that would pass that is not sent and counted as `not sent`.
 *
 * IPC: {type:'start', gpus:[{uuid, hostname}], rate} starts it and answers
 * {type:'started'}; {type:'stop'} stops it, waits for the requests still out
 * (at most STOP_WAIT_MS; those left are counted as `unfinished`) and answers
 * {type:'report', …}.
 *
 *   (forked by bench/soak.ts) node dist/bench/soak-http-load.js URL
 */
import { Agent, request } from 'node:http';
import { LatencyHistogram } from './latency-histogram.js';

const [base] = process.argv.slice(2);
const TICK_MS = 10;
const MAX_IN_FLIGHT = 512;
const REQUEST_TIMEOUT_MS = 30_000;
const STOP_WAIT_MS = REQUEST_TIMEOUT_MS + 5_000;
/** Error details kept for the report (counts are always exact). */
const MAX_ERROR_SAMPLES = 50;
/** Error times kept per method, for the soak to set them against its kills; past this, errors are counted as not excusable. */
const MAX_ERROR_TIMES = 1_000_000;

interface Gpu {
  uuid: string;
  hostname: string;
}

type Method = 'GET' | 'POST';

interface RouteSpec {
  name: string;
  /** Share of the requests (weights sum to 100). */
  weight: number;
  /** The request for one GPU. */
  make: (gpu: Gpu) => { method: Method; path: string; body?: string };
}

const graphql = (query: string): { method: 'POST'; path: string; body: string } => ({ method: 'POST', path: '/graphql', body: JSON.stringify({ query }) });

/** What dashboards, scripts and Grafana-like clients ask for, in proportions a busy fleet would see. */
const ROUTES: RouteSpec[] = [
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
  /** Every request that ended, answered or failed. */
  latency: LatencyHistogram;
  answered: number;
  errors: number;
  notSent: number;
  bytes: number;
}

const figures = new Map(ROUTES.map((route) => [route.name, { latency: new LatencyHistogram(), answered: 0, errors: 0, notSent: 0, bytes: 0 } as RouteFigures]));
const errorSamples: { atMs: number; route: string; method: Method; what: string }[] = [];
/**
 * Epoch ms of every error: POSTs the gateway in between may have dropped (the connection lost, nginx's 502 or 504),
 * which the soak excuses near its gateway kill (nginx does not repeat a POST), and every other error.
 */
const errorTimes: Record<'droppedPost' | 'other', number[]> = { droppedPost: [], other: [] };
let uncountedErrors = 0;
const agent = new Agent({ keepAlive: true, maxSockets: 128 });
const url = new URL(base);
let inFlight = 0;
let timer: NodeJS.Timeout | undefined;
let startedAtMs = 0;
let stoppedAtMs = 0;

function failed(route: string, method: Method, what: string): void {
  figures.get(route)!.errors++;
  const kind = method === 'POST' && /^(HTTP 50[24]|request: |response: )/.test(what) ? 'droppedPost' : 'other';
  if (errorTimes[kind].length < MAX_ERROR_TIMES) errorTimes[kind].push(Date.now());
  else uncountedErrors++;
  if (errorSamples.length < MAX_ERROR_SAMPLES) errorSamples.push({ atMs: Date.now(), route, method, what });
}

/** Whether a GraphQL answer holds errors (or is not a GraphQL answer at all). */
function graphqlErrors(body: Buffer): boolean {
  try {
    const answer = JSON.parse(body.toString()) as { errors?: unknown };
    return answer === null || typeof answer !== 'object' || answer.errors !== undefined;
  } catch {
    return true;
  }
}

function send(route: RouteSpec, gpu: Gpu, scheduledMs: number): void {
  const figure = figures.get(route.name)!;
  if (inFlight >= MAX_IN_FLIGHT) {
    figure.notSent++;
    return;
  }
  inFlight++;
  const { method, path, body } = route.make(gpu);
  let ended = false;
  /** Once per request, whichever way it ends. */
  const end = (problem: string | undefined, bytes = 0): void => {
    if (ended) return;
    ended = true;
    inFlight--;
    figure.latency.record(performance.now() - scheduledMs);
    figure.bytes += bytes;
    if (problem === undefined) figure.answered++;
    else failed(route.name, method, problem);
  };
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
  const call = request({ host: url.hostname, port: url.port, path, method, agent, headers, timeout: REQUEST_TIMEOUT_MS }, (response) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => {
      const text = Buffer.concat(chunks);
      if (response.statusCode !== 200) end(`HTTP ${response.statusCode}: ${text.subarray(0, 200).toString()}`, text.length);
      // A GraphQL answer with errors is an error even with status 200.
      else if (method === 'POST' && graphqlErrors(text)) end(`GraphQL errors: ${text.subarray(0, 200).toString()}`, text.length);
      else end(undefined, text.length);
    });
    response.on('error', (error) => end(`response: ${error.message}`));
  });
  call.on('timeout', () => call.destroy(new Error(`no answer in ${REQUEST_TIMEOUT_MS / 1000} s`)));
  call.on('error', (error) => end(`request: ${error.message}`));
  call.end(body);
}

function start(gpus: Gpu[], rate: number): void {
  // A deck of routes in their weights, dealt in turn: the mix is exact over every 100 requests. The GPU of each is drawn
  // at random, apart from the route: every GPU's data is read, not a few warm ones.
  const deck = ROUTES.flatMap((route) => Array.from({ length: route.weight }, () => route));
  let dealt = 0;
  let owed = 0;
  let next = performance.now();
  startedAtMs = Date.now();
  const tick = (): void => {
    const now = performance.now();
    // Every tick that passed (a late timer included) sends its share, each scheduled at its own time.
    while (next <= now) {
      owed += (rate * TICK_MS) / 1000;
      for (; owed >= 1; owed--) send(deck[dealt++ % deck.length], gpus[Math.floor(Math.random() * gpus.length)], next);
      next += TICK_MS;
    }
    timer = setTimeout(tick, Math.max(0, next - performance.now()));
  };
  tick();
}

function report(): object {
  const routes = ROUTES.map((route) => {
    const figure = figures.get(route.name)!;
    const { latency } = figure;
    return {
      route: route.name,
      answered: figure.answered,
      errors: figure.errors,
      notSent: figure.notSent,
      p50Ms: latency.percentile(50),
      p99Ms: latency.percentile(99),
      maxMs: latency.count === 0 ? NaN : latency.maxMs,
      meanBytes: figure.answered === 0 ? 0 : Math.round(figure.bytes / figure.answered),
    };
  });
  return { routes, errorSamples, errorTimes, uncountedErrors, unfinished: inFlight, loadSeconds: (stoppedAtMs - startedAtMs) / 1000 };
}

process.on('message', (message: { type: string; gpus?: Gpu[]; rate?: number }) => {
  if (message.type === 'start') {
    start(message.gpus!, message.rate!);
    process.send!({ type: 'started' });
  } else if (message.type === 'stop') {
    clearTimeout(timer);
    stoppedAtMs = Date.now();
    // The requests still out get their answers (or time out) before the report.
    const finish = (): void => {
      if (inFlight > 0 && Date.now() - stoppedAtMs < STOP_WAIT_MS) {
        setTimeout(finish, 50);
        return;
      }
      process.send!({ type: 'report', ...report() }, () => process.exit(0));
    };
    finish();
  }
});
// Its parent gone (the soak killed or crashed), it stops too: a timer would otherwise keep it sending for ever.
process.on('disconnect', () => process.exit(0));
