/**
 * The utilisation rollups (`rollups/{host}`) one message adds to. A rollup
 * is a sum, so unlike chunks a rewrite is not idempotent by itself: each
 * rollup records the id of the message that last added to it, written in
 * the same put. A host belongs to one partition, whose messages are applied
 * one at a time, each until it is deleted (or dead-lettered), so between a
 * message's rollup writes and its final transaction no other message adds
 * to those rollups. A replay of the message (after a failure anywhere,
 * a new claim, a restart) finds its own id in each rollup it already wrote
 * and adds nothing to that one; the others get its samples once.
 *
 * So rollups need no room in the final transaction: they are written in as
 * many fenced transactions as etcd's limits force, each comparing the
 * rollups' mod revisions, and nothing of them lives only in memory. The
 * partition's cache keeps the rollups as last written, saving a read per
 * host and message; a failed message clears it (rollups are updated in
 * place).
 *
 * One case escapes the id: a message dead-lettered after some of its
 * rollups were written, replayed from the DLQ after a newer message added
 * to those hosts. So each transaction before the final one also puts a
 * mark listing its hosts (`rollup-marks/…/{message id}/`), and the final
 * transaction deletes the marks. A message that may need more than one
 * transaction reads its marks first and skips the hosts they list.
 */
import { counter } from '../common/metrics.js';
import type { KeySpace } from '../kv/key-space.js';
import type { Compare, TxnOp } from '../kv/kv-store.js';
import { ROLLUP_MAX_BYTES, UtilizationRollup } from '../store/utilization-rollup.js';
import type { OwnedPartitionCache } from './owned-partition-cache.js';

const rollupGpusDropped = counter(
  'gputel_collector_rollup_gpus_dropped_total',
  'GPUs left out of a host utilisation rollup to keep it under its byte bound (oldest first); their data stays queryable',
);
const rollupsReplayed = counter(
  'gputel_collector_rollups_already_added_total',
  'Host rollups a replayed message found it had already added to (a failure after its rollup write); nothing was added again',
);

interface TouchedRollup {
  key: string;
  rollup: UtilizationRollup;
  /** The revision the rollup was read at: its write compares it. */
  modRevision: number;
  changed: boolean;
}

/** One transaction's worth of rollups: compare each one's revision, put it, then tell the cache. */
export interface RollupBatch {
  /** Hosts of the batch, by name: what its mark lists. */
  hostnames: string[];
  compares: Compare[];
  puts: TxnOp[];
  bytes: number;
  written: { key: string; rollup: UtilizationRollup }[];
}

/** Adds nothing: for a rollup this message already added to. */
const ignore = (): void => undefined;

export class HostRollups {
  private readonly touched = new Map<string, TouchedRollup | undefined>();

  constructor(
    private readonly cache: OwnedPartitionCache,
    private readonly keys: KeySpace,
    private readonly cluster: string,
    /** The message adding to the rollups: recorded in each one it writes. */
    private readonly messageId: string,
  ) {}

  /** Returns the function that adds new utilisation samples of one GPU of `hostname` to its rollup. */
  async adder(hostname: string, gpuKey: string): Promise<(timestampMs: number, value: number) => void> {
    let touched = this.touched.get(hostname);
    if (!this.touched.has(hostname)) {
      const key = this.keys.rollup(this.cluster, hostname);
      // One that does not decode reads as absent (reported by the cache) and is overwritten with this message's samples.
      const stored = await this.cache.read(key, (bytes) => UtilizationRollup.decode(bytes, key));
      if (stored.value?.lastMessageId === this.messageId) {
        rollupsReplayed.inc();
        touched = undefined;
      } else {
        touched = { key, rollup: stored.value ?? new UtilizationRollup(), modRevision: stored.modRevision, changed: false };
      }
      this.touched.set(hostname, touched);
    }
    if (!touched) return ignore;
    const entry = touched;
    return (timestampMs, value) => {
      entry.changed = true;
      entry.rollup.add(gpuKey, timestampMs, value);
    };
  }

  /**
   * Whether this message's rollups might ever take more than one batch
   * of `maxOps` rollups and `maxBytes` (whatever their sizes, replays
   * included): then some are written before the final transaction, and the
   * message must read its marks. Room is kept for a key and a mark entry.
   */
  mayTakeSeveralBatches(maxOps: number, maxBytes: number): boolean {
    return this.touched.size > Math.min(maxOps, Math.floor(maxBytes / (ROLLUP_MAX_BYTES + 2_048)));
  }

  /** Leaves out the rollups of `hostnames`: this message added to them already (its marks say so). */
  skip(hostnames: ReadonlySet<string>): void {
    for (const hostname of hostnames) {
      const touched = this.touched.get(hostname);
      if (!touched) continue;
      // Updated in place in the cache: it must be read again.
      this.cache.forget(touched.key);
      this.touched.set(hostname, undefined);
      rollupsReplayed.inc();
    }
  }

  /**
   * Every changed rollup, stamped with this message's id, by hostname, in
   * batches of at most `maxOps` rollups and `maxBytes` (one rollup is at
   * most ROLLUP_MAX_BYTES, so a batch always holds at least one).
   */
  batches(maxOps: number, maxBytes: number): RollupBatch[] {
    const batches: RollupBatch[] = [];
    let batch: RollupBatch | undefined;
    const hostnames = [...this.touched.keys()].filter((hostname) => this.touched.get(hostname)?.changed).sort();
    for (const hostname of hostnames) {
      const { key, rollup, modRevision } = this.touched.get(hostname)!;
      rollup.lastMessageId = this.messageId;
      const { bytes, droppedGpus } = rollup.encode();
      rollupGpusDropped.inc(droppedGpus);
      // The put, its key's compare, and the hostname in the batch's mark.
      const size = bytes.length + 2 * key.length + Buffer.byteLength(hostname) + 4;
      if (!batch || batch.puts.length + 1 > maxOps || batch.bytes + size > maxBytes) {
        batch = { hostnames: [], compares: [], puts: [], bytes: 0, written: [] };
        batches.push(batch);
      }
      batch.hostnames.push(hostname);
      batch.compares.push({ key, target: 'modRevision', operator: '==', operand: modRevision });
      batch.puts.push({ type: 'put', key, value: bytes });
      batch.bytes += size;
      batch.written.push({ key, rollup });
    }
    return batches;
  }
}
