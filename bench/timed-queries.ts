/**
 * Runs bench/timed-queries-client.ts on a list of queries and returns its
 * timings: gputel's and Prometheus's queries go through the same client,
 * the same warm-up and the same percentile.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Timing } from './http-timing.js';

export interface TimedQuery {
  /** Key of the answer's record. */
  name: string;
  url: string;
  /** Follow gputel's next_cursor pages (telemetry queries). */
  pages?: boolean;
  /** Timed requests of this query (default: the spec's). */
  requests?: number;
}

export interface TimedQueriesSpec {
  requests: number;
  /** Polled until it answers 200 (up to 20 s) before the first query. */
  readyUrl?: string;
  queries: TimedQuery[];
}

/** Times every query in a child process; resolves with p50/p99/bytes by name; rejects when the client fails. */
export async function timeQueries(spec: TimedQueriesSpec): Promise<Record<string, Timing>> {
  const client = spawn(process.execPath, [new URL('./timed-queries-client.js', import.meta.url).pathname, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  client.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  // 'close', not 'exit': stdout may still hold the answer when the process exits.
  const [code] = (await once(client, 'close')) as [number | null];
  if (code !== 0) throw new Error(`the timing client exited with ${code}`);
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, Timing>;
}
