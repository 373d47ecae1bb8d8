/**
 * The reference for ingest→WebSocket latency (issue 10): how long etcd
 * itself takes from a put to its watch event, on a fresh etcd started for
 * it (loopback, a free port, stopped by its pid). One put at a time, every
 * `--interval-ms`, each timed from the put's call to its event's arrival in
 * the same process through gputel's etcd driver; p50 and p99 by nearest
 * rank. Not a test: on a shared machine the p99 measures the machine.
 *
 *   node dist/bench/etcd-put-watch.js [--puts 2000 --interval-ms 5 --json FILE]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { KeySpace } from '../src/kv/key-space.js';
import { openKvStore } from '../src/kv/open-kv-store.js';
import { startEtcd } from '../test/support/etcd-process.js';
import { jsonPathArgument, writeFigures } from './figures-file.js';
import { percentile } from './percentile.js';

const WARM_UP_PUTS = 50;

function argument(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i > 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a whole number`);
  return value;
}

async function main(): Promise<void> {
  const puts = Math.max(1, argument('puts', 2_000));
  const intervalMs = argument('interval-ms', 5);
  const jsonPath = jsonPathArgument();
  const etcd = await startEtcd();
  const kv = await openKvStore({ endpoints: etcd.endpoints });
  const prefix = `${new KeySpace().root}/bench-watch/`;
  const sentAt = new Map<string, number>();
  const latenciesMs: number[] = [];
  let arrived: (() => void) | undefined;
  const watcher = await kv.watch(
    { prefix },
    {
      onEvent(event) {
        const started = sentAt.get(event.key);
        if (started === undefined) return;
        latenciesMs.push(performance.now() - started);
        sentAt.delete(event.key);
        arrived?.();
      },
    },
  );
  try {
    const value = Buffer.alloc(256, 0x61);
    for (let i = 0; i < WARM_UP_PUTS + puts; i++) {
      if (i === WARM_UP_PUTS) latenciesMs.length = 0;
      const key = `${prefix}${String(i).padStart(8, '0')}`;
      // Bounded: a watch event that never comes fails the bench instead of hanging it.
      let timer: NodeJS.Timeout | undefined;
      const event = new Promise<void>((resolve, reject) => {
        arrived = resolve;
        timer = setTimeout(() => reject(new Error(`no watch event for ${key} within 10 s`)), 10_000);
      });
      sentAt.set(key, performance.now());
      await kv.put(key, value);
      await event.finally(() => clearTimeout(timer));
      if (intervalMs > 0) await sleep(intervalMs);
    }
    latenciesMs.sort((a, b) => a - b);
    const p50Ms = percentile(latenciesMs, 50);
    const p99Ms = percentile(latenciesMs, 99);
    console.log(`etcd put→watch latency over ${latenciesMs.length} puts, one at a time every ${intervalMs} ms: p50 ${p50Ms.toFixed(2)} ms, p99 ${p99Ms.toFixed(2)} ms`);
    writeFigures(jsonPath, { puts: latenciesMs.length, intervalMs, p50Ms, p99Ms, maxMs: latenciesMs[latenciesMs.length - 1] });
  } finally {
    await watcher.cancel();
    await kv.close();
    await etcd.stop();
  }
}

await main();
