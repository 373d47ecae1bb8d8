/**
 * The client side of bench/query.ts: times the four queries (and the record
 * forms) against a gateway, in a small process of its own, so that no
 * garbage collection of the bench's own heap lands in the figures.
 *
 *   node dist/bench/query-client.js BASE_URL HOURS REQUESTS START_MS
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { allPages, getBytes, measure, WARM_UP_REQUESTS } from './http-timing.js';

const [base, hoursText, requestsText, startText] = process.argv.slice(2);
const START_MS = Number(startText);

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
  console.log(`query benchmark: ${gpus.data.length} GPUs × ${hours} h at 10 s; ${requests} requests each after ${WARM_UP_REQUESTS} warm-up ones; the gateway is a separate process`);
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

await queries(base, Number(hoursText), Number(requestsText));
