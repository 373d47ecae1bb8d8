/**
 * Times a list of GET queries in a small process of its own (no garbage
 * collection of the caller's heap in the figures), the way
 * bench/query-client.ts does: bench/timed-queries.ts runs it.
 *
 *   node dist/bench/timed-queries-client.js SPEC_JSON
 *
 * SPEC_JSON is a TimedQueriesSpec; the last line of stdout is the JSON of
 * a Record<name, Timing>.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { allPages, getBytes, measure, type Timing } from './http-timing.js';
import type { TimedQueriesSpec } from './timed-queries.js';

const spec = JSON.parse(process.argv[2]) as TimedQueriesSpec;
if (spec.readyUrl !== undefined) {
  // Bounded: 200 tries of 100 ms.
  for (let i = 0; i < 200 && (await fetch(spec.readyUrl).then((r) => r.status, () => 0)) !== 200; i++) await sleep(100);
}
const results: Record<string, Timing> = {};
for (const query of spec.queries) {
  results[query.name] = await measure(query.requests ?? spec.requests, () => (query.pages ? allPages(query.url) : getBytes(query.url)));
}
process.stdout.write(`${JSON.stringify(results)}\n`);
