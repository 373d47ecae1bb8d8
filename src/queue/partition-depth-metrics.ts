/**
 * Queue depth and oldest message age of every partition this process owns,
 * for Prometheus: `gputel_queue_depth_messages{topic,partition}` and
 * `gputel_queue_oldest_message_age_seconds{topic,partition}`. The collector
 * that owns a partition exports it, so a sum over all collectors counts
 * each partition once (the Helm chart's autoscaler scales collectors on
 * `sum(gputel_queue_depth_messages)`).
 *
 * Read at scrape time, cheaply: per owned partition one count-only range
 * and one keys-only range of one key (its oldest message, whose id holds its
 * production time), all in one transaction per 128 operations. Nothing
 * scans the messages. A partition the process no longer owns is gone from
 * the next scrape, and a scrape while the store does not answer leaves the
 * gauges empty rather than failing /metrics.
 */
import type { Gauge } from 'prom-client';
import { gauge } from '../common/metrics.js';
import type { KeySpace } from '../kv/key-space.js';
import { MAX_TXN_OPS, type KvStore, type TxnOp, type TxnOpResult } from '../kv/kv-store.js';
import { messageIdTimeMs } from './message-id.js';

/** What an owner of partitions tells the gauges at a scrape. */
export interface OwnedPartitionSource {
  kv: KvStore;
  keys: KeySpace;
  topic: string;
  ownedPartitions(): number[];
}

interface PartitionReading {
  topic: string;
  partition: number;
  depth: number;
  oldestAgeSeconds: number;
}

const sources = new Set<OwnedPartitionSource>();
/** A scrape does not wait longer than this for the store (Prometheus' own scrape timeout is 10 s by default). */
const READ_TIMEOUT_MS = 2_000;
/** Both gauges are collected in one scrape: they share one read made within this many ms. */
const READING_REUSE_MS = 250;
let lastReading: { atMs: number; readings: Promise<PartitionReading[]> } | undefined;

async function readSource(source: OwnedPartitionSource, nowMs: number): Promise<PartitionReading[]> {
  const partitions = source.ownedPartitions();
  const ops: TxnOp[] = [];
  for (const partition of partitions) {
    const range = { prefix: source.keys.partitionPrefix(source.topic, partition) };
    ops.push({ type: 'range', range, options: { countOnly: true } }, { type: 'range', range, options: { limit: 1, keysOnly: true } });
  }
  const results: TxnOpResult[] = [];
  for (let start = 0; start < ops.length; start += MAX_TXN_OPS) {
    results.push(...(await source.kv.txn({ success: ops.slice(start, start + MAX_TXN_OPS) })).results);
  }
  return partitions.map((partition, i) => {
    const count = results[2 * i];
    const first = results[2 * i + 1];
    const oldestKey = first.type === 'range' ? first.result.kvs[0]?.key : undefined;
    const producedAtMs = oldestKey === undefined ? undefined : messageIdTimeMs(oldestKey.slice(source.keys.partitionPrefix(source.topic, partition).length));
    return {
      topic: source.topic,
      partition,
      depth: count.type === 'range' ? count.result.count : 0,
      oldestAgeSeconds: producedAtMs === undefined ? 0 : Math.max(0, nowMs - producedAtMs) / 1000,
    };
  });
}

function withinTimeout<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the store did not answer within ${READ_TIMEOUT_MS} ms`)), READ_TIMEOUT_MS);
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function readAll(): Promise<PartitionReading[]> {
  const nowMs = Date.now();
  if (lastReading && nowMs - lastReading.atMs < READING_REUSE_MS) return lastReading.readings;
  // A source whose store does not answer is left out of this scrape; the others are still exported.
  const readings = Promise.all([...sources].map((source) => withinTimeout(readSource(source, nowMs)).catch(() => []))).then((all) => all.flat());
  lastReading = { atMs: nowMs, readings };
  return readings;
}

/** Sets `target` to what the owned partitions hold now; a partition no longer owned has no series. */
async function collectInto(target: Gauge<string>, pick: (reading: PartitionReading) => number): Promise<void> {
  const readings = await readAll();
  target.reset();
  for (const reading of readings) target.set({ topic: reading.topic, partition: String(reading.partition) }, pick(reading));
}

gauge('gputel_queue_depth_messages', 'Messages waiting in a partition, exported by the collector that owns it', ['topic', 'partition'], function collect() {
  return collectInto(this, (reading) => reading.depth);
});
gauge(
  'gputel_queue_oldest_message_age_seconds',
  'Age of the oldest message waiting in a partition (0 when empty), exported by the collector that owns it',
  ['topic', 'partition'],
  function collect() {
    return collectInto(this, (reading) => reading.oldestAgeSeconds);
  },
);

/** Exports the partitions `source` owns from now on; returns the function that stops it (idempotent). */
export function exportPartitionDepths(source: OwnedPartitionSource): () => void {
  sources.add(source);
  lastReading = undefined;
  return () => {
    sources.delete(source);
    lastReading = undefined;
  };
}
