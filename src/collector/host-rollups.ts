/**
 * The utilisation rollups (`rollups/{host}`) one message adds to. A rollup
 * is a sum, so unlike chunks it cannot be rewritten idempotently: it is
 * written only in the message's final transaction, the one that deletes the
 * message and compares the rollup's revision. A replayed message therefore
 * either finds itself deleted or adds its new samples exactly once.
 *
 * Rollups are read through the partition's OwnedPartitionCache and updated
 * in place: a failed message clears that cache, so an update that was not
 * committed never survives into the next message.
 */
import { counter } from '../common/metrics.js';
import type { KeySpace } from '../kv/key-space.js';
import type { Compare, TxnOp } from '../kv/kv-store.js';
import { UtilizationRollup } from '../store/utilization-rollup.js';
import type { OwnedPartitionCache } from './owned-partition-cache.js';

const rollupGpusDropped = counter(
  'gputel_collector_rollup_gpus_dropped_total',
  'GPUs left out of a host utilisation rollup to keep it under its byte bound (oldest first); their data stays queryable',
);
const rollupsDeferred = counter(
  'gputel_collector_rollups_deferred_total',
  "Host rollups that did not fit a message's final transaction; their samples are added with the host's next message",
);

/**
 * Cached rollups holding samples that a final transaction had no room for.
 * They go first in the host's next message, so a partition whose messages
 * always touch more hosts than fit cannot starve the same hosts forever.
 * Weak: a cache that is dropped (new claim, failed message) takes them along.
 */
const deferred = new WeakSet<UtilizationRollup>();

interface TouchedRollup {
  key: string;
  rollup: UtilizationRollup;
  /** The revision the rollup was read at: the commit compares it. */
  modRevision: number;
  changed: boolean;
}

/** What a message's final transaction carries for the rollups, and what to tell the cache once it committed. */
export interface RollupCommit {
  compares: Compare[];
  puts: TxnOp[];
  bytes: number;
  written: { key: string; rollup: UtilizationRollup }[];
}

export class HostRollups {
  private readonly touched = new Map<string, TouchedRollup>();

  constructor(
    private readonly cache: OwnedPartitionCache,
    private readonly keys: KeySpace,
    private readonly cluster: string,
  ) {}

  /** Returns the function that adds new utilisation samples of one GPU of `hostname` to its rollup. */
  async adder(hostname: string, gpuKey: string): Promise<(timestampMs: number, value: number) => void> {
    let touched = this.touched.get(hostname);
    if (!touched) {
      const key = this.keys.rollup(this.cluster, hostname);
      const stored = await this.cache.read(key, (bytes) => UtilizationRollup.decode(bytes, key));
      const rollup = stored.value ?? new UtilizationRollup();
      // A new rollup goes into the cache too, so that samples deferred by commit() are kept for the next message.
      if (!stored.value) this.cache.written(key, rollup, stored.modRevision);
      touched = { key, rollup, modRevision: stored.modRevision, changed: false };
      this.touched.set(hostname, touched);
    }
    const entry = touched;
    return (timestampMs, value) => {
      entry.changed = true;
      entry.rollup.add(gpuKey, timestampMs, value);
    };
  }

  /**
   * The compares and puts of every changed rollup, those deferred before
   * first, then by hostname, as many as fit `maxOps` operations and
   * `maxBytes`. One that does not fit is left out of this transaction
   * (counted): its samples stay in the cached rollup, so a later message of
   * the host under this claim writes them.
   */
  commit(maxOps: number, maxBytes: number): RollupCommit {
    const result: RollupCommit = { compares: [], puts: [], bytes: 0, written: [] };
    const order = (hostname: string): number => (deferred.has(this.touched.get(hostname)!.rollup) ? 0 : 1);
    const hostnames = [...this.touched.keys()]
      .filter((hostname) => this.touched.get(hostname)!.changed || deferred.has(this.touched.get(hostname)!.rollup))
      .sort((a, b) => order(a) - order(b) || (a < b ? -1 : a > b ? 1 : 0));
    for (const hostname of hostnames) {
      const { key, rollup, modRevision } = this.touched.get(hostname)!;
      const { bytes, droppedGpus } = rollup.encode();
      rollupGpusDropped.inc(droppedGpus);
      if (result.puts.length + 1 > maxOps || result.bytes + bytes.length + key.length > maxBytes) {
        deferred.add(rollup);
        rollupsDeferred.inc();
        continue;
      }
      result.compares.push({ key, target: 'modRevision', operator: '==', operand: modRevision });
      result.puts.push({ type: 'put', key, value: bytes });
      result.bytes += bytes.length + key.length;
      result.written.push({ key, rollup });
      // Should this transaction fail, the cache (and this rollup with it) is dropped anyway.
      deferred.delete(rollup);
    }
    return result;
  }
}
