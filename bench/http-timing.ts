/**
 * The one way the query benchmarks time HTTP requests (bench/query-client.ts
 * against gputel, bench/timed-queries-client.ts against gputel and
 * Prometheus): node:http over one kept-alive connection, a warm-up, then
 * sequential requests; p50 and p99 by nearest rank below.
 */
import { Agent, get as httpGet } from 'node:http';
import { percentile } from './percentile.js';

/** Requests of each query before the timed ones. */
export const WARM_UP_REQUESTS = 50;
const NEXT_CURSOR = Buffer.from('"next_cursor":');

export interface Timing {
  p50: number;
  p99: number;
  /** Bytes of the last answer (all pages). */
  bytes: number;
}

/** Times `requests` runs of `run` after a warm-up; returns p50, p99 and the bytes of the last answer. */
export async function measure(requests: number, run: () => Promise<number>): Promise<Timing> {
  let bytes = 0;
  // Steady state: a fresh gateway compiles each route's code paths over its first few dozen requests.
  for (let i = 0; i < WARM_UP_REQUESTS; i++) bytes = await run();
  const times: number[] = [];
  for (let i = 0; i < requests; i++) {
    const started = performance.now();
    bytes = await run();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), bytes };
}

/** One connection kept alive, as a dashboard's browser keeps one: no connect per request. */
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

/**
 * GETs `url` with node:http, keeping the body as the Buffers it arrives in
 * (fetch's web streams allocated several times the answer per request in
 * this process, and its collections landed in the figures).
 */
export function get(url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    httpGet(url, { agent }, (response) => {
      const pieces: Buffer[] = [];
      response.on('data', (piece: Buffer) => pieces.push(piece));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(pieces) }));
      response.on('error', reject);
    }).on('error', reject);
  });
}

/** GETs every page of a gputel telemetry query; returns the bytes read. The body stays bytes: a 0.69 MB string per page made this client's own collections part of the figures. */
export async function allPages(url: string): Promise<number> {
  let bytes = 0;
  let cursor: string | null = null;
  do {
    const { status, body } = await get(cursor ? `${url}&cursor=${cursor}` : url);
    if (status !== 200) throw new Error(`GET ${url}: ${status} ${body.subarray(0, 300).toString()}`);
    bytes += body.length;
    const at = body.lastIndexOf(NEXT_CURSOR);
    cursor = (JSON.parse(body.subarray(at + NEXT_CURSOR.length, body.length - 1).toString()) as string | null) ?? null;
  } while (cursor);
  return bytes;
}

/** GETs one answer; returns its bytes; throws on a status other than 200. */
export async function getBytes(url: string): Promise<number> {
  const { status, body } = await get(url);
  if (status !== 200) throw new Error(`GET ${url}: ${status} ${body.subarray(0, 300).toString()}`);
  return body.length;
}
