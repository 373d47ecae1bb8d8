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
 * to those hosts. So each transaction before the final one also puts the
 * message's mark (`rollup-marks/{topic}-{partition}/{message id}`: which of
 * its hosts, by index in its sorted hostnames, it wrote so far), and the
 * final transaction deletes it. Every one of these transactions compares
 * the mark's revision with the one this attempt knows (0: none), so an
 * attempt that did not read the mark cannot write past one: its compare
 * fails, the message is retried, and a retry (the first message after a
 * failure or a new claim) reads the mark and skips the hosts it lists. The
 * normal path reads nothing more.
 */
import { counter } from '../common/metrics.js';
import type { KeySpace } from '../kv/key-space.js';
import type { Compare, KeyValue, TxnOp } from '../kv/kv-store.js';
import { encodeJson } from '../store/gpu-records.js';
import { UtilizationRollup } from '../store/utilization-rollup.js';
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
  /** This message already added to it (its id in the rollup, or its mark): add nothing. */
  skip: boolean;
}

/** One transaction's worth of rollups: compare each one's revision, put it, then tell the cache. */
export interface RollupBatch {
  /** The batch's hosts, by index in the message's sorted hostnames: what the mark records. */
  hostIndices: number[];
  compares: Compare[];
  puts: TxnOp[];
  bytes: number;
  written: { key: string; rollup: UtilizationRollup }[];
}

/** A host index in a mark: up to 7 digits and a comma. */
const MARK_BYTES_PER_HOST = 8;

export class HostRollups {
  private readonly touched = new Map<string, TouchedRollup>();
  private sortedHostnames?: string[];
  /** Hosts (indices) the stored mark lists, and its revision (0: no mark). */
  private marked: number[] = [];
  private markRevision = 0;

  constructor(
    private readonly cache: OwnedPartitionCache,
    private readonly keys: KeySpace,
    private readonly cluster: string,
    /** The message adding to the rollups: recorded in each one it writes. */
    private readonly messageId: string,
    /** The message's mark (KeySpace.rollupMark). */
    private readonly markKey: string,
  ) {}

  /** Returns the function that adds new utilisation samples of one GPU of `hostname` to its rollup. */
  async adder(hostname: string, gpuKey: string): Promise<(timestampMs: number, value: number) => void> {
    let entry = this.touched.get(hostname);
    if (!entry) {
      const key = this.keys.rollup(this.cluster, hostname);
      // One that does not decode reads as absent (reported by the cache) and is overwritten with this message's samples.
      const stored = await this.cache.read(key, (bytes) => UtilizationRollup.decode(bytes, key));
      const skip = stored.value?.lastMessageId === this.messageId;
      if (skip) rollupsReplayed.inc();
      entry = { key, rollup: stored.value ?? new UtilizationRollup(), modRevision: stored.modRevision, changed: false, skip };
      this.touched.set(hostname, entry);
    }
    const touched = entry;
    return (timestampMs, value) => {
      if (touched.skip) return;
      touched.changed = true;
      touched.rollup.add(gpuKey, timestampMs, value);
    };
  }

  /**
   * Takes the message's stored mark (absent: none): the hosts it lists are
   * skipped. Call after every adder, before any sample is added. A mark that
   * does not decode is reported and overwritten (its hosts' ids still stop
   * every replay but one after a newer message).
   */
  useMark(stored: KeyValue | undefined, onUnreadable: (key: string, error: unknown) => void): void {
    if (!stored) return;
    this.markRevision = stored.modRevision;
    const hostnames = this.hostnames();
    try {
      const listed: unknown = JSON.parse(stored.value.toString('utf8'));
      if (!Array.isArray(listed) || !listed.every((index) => Number.isInteger(index) && index >= 0 && index < hostnames.length)) {
        throw new Error(`not a list of host indices below ${hostnames.length}`);
      }
      this.marked = listed as number[];
    } catch (error) {
      onUnreadable(this.markKey, error);
      return;
    }
    for (const index of this.marked) {
      const entry = this.touched.get(hostnames[index])!;
      if (!entry.skip) rollupsReplayed.inc();
      entry.skip = true;
    }
  }

  /** Compares the mark's revision with the one this attempt knows: every rollup write and the final transaction carry it. */
  markGuard(): Compare {
    return { key: this.markKey, target: 'modRevision', operator: '==', operand: this.markRevision };
  }

  /** The mark put with `batch`, listing its hosts after those marked before. */
  markPut(batch: RollupBatch): TxnOp {
    return { type: 'put', key: this.markKey, value: encodeJson([...this.marked, ...batch.hostIndices]) };
  }

  /** Records that `batch` and its mark were written at `revision`. */
  markWritten(batch: RollupBatch, revision: number): void {
    this.marked = [...this.marked, ...batch.hostIndices];
    this.markRevision = revision;
    for (const { key, rollup } of batch.written) this.cache.written(key, rollup, revision);
  }

  /** The final transaction's delete of the mark, when there is one. */
  markDelete(): TxnOp[] {
    return this.markRevision === 0 ? [] : [{ type: 'delete', range: { start: this.markKey } }];
  }

  private hostnames(): string[] {
    return (this.sortedHostnames ??= [...this.touched.keys()].sort());
  }


  /**
   * Every changed rollup, stamped with this message's id, by hostname, in
   * batches of at most `maxOps` rollups and `maxBytes` (one rollup is at
   * most ROLLUP_MAX_BYTES, so a batch always holds at least one).
   */
  batches(maxOps: number, maxBytes: number): RollupBatch[] {
    const batches: RollupBatch[] = [];
    let batch: RollupBatch | undefined;
    let markedBefore = this.marked.length;
    this.hostnames().forEach((hostname, index) => {
      const { key, rollup, modRevision, changed, skip } = this.touched.get(hostname)!;
      if (!changed || skip) return;
      rollup.lastMessageId = this.messageId;
      const { bytes, droppedGpus } = rollup.encode();
      rollupGpusDropped.inc(droppedGpus);
      // The put, its key's compare, and its index in the batch's mark.
      const size = bytes.length + 2 * key.length + MARK_BYTES_PER_HOST;
      if (!batch || batch.puts.length + 1 > maxOps || batch.bytes + size > maxBytes) {
        if (batch) markedBefore += batch.hostIndices.length;
        // The mark lists the hosts of earlier batches too.
        batch = { hostIndices: [], compares: [], puts: [], bytes: markedBefore * MARK_BYTES_PER_HOST, written: [] };
        batches.push(batch);
      }
      batch.hostIndices.push(index);
      batch.compares.push({ key, target: 'modRevision', operator: '==', operand: modRevision });
      batch.puts.push({ type: 'put', key, value: bytes });
      batch.bytes += size;
      batch.written.push({ key, rollup });
    });
    return batches;
  }
}
