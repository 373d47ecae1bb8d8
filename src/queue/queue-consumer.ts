/**
 * A member of a topic's consumer group: composes membership (leased member
 * key + watch), the pure assignor, per-partition claims and one worker per
 * owned partition.
 *
 * Rebalancing is a reconcile step that every member runs whenever the
 * members or the owner keys change (watched), and once a second besides:
 * read the owner keys, compute the assignment from members × partitions ×
 * current owners, drain and then release what moved away, claim what is
 * assigned and free. Every member computes the same assignment from the same
 * state, so a partition moves once; a member that died loses its member and
 * owner keys together when its lease expires, and the others claim them.
 *
 * Correctness never depends on this: every write of a message's effect is
 * fenced by the claim's revision (see partition-claims.ts), so two members
 * that both believe they own a partition still apply each message once.
 */
import { errorMessage } from '../common/gputel-error.js';
import type { Logger } from '../common/logger.js';
import { counter, gauge } from '../common/metrics.js';
import type { KeySpace } from '../kv/key-space.js';
import type { KvStore, Watcher } from '../kv/kv-store.js';
import { DeadLetterQueue } from './dead-letter-queue.js';
import { GroupMembership } from './group-membership.js';
import { partitionAssignor } from './partition-assignor.js';
import { PartitionClaims } from './partition-claims.js';
import { exportPartitionDepths } from './partition-depth-metrics.js';
import { PartitionWorker, type PartitionMaintenanceHook } from './partition-worker.js';
import type { MessageHandler } from './queued-message.js';
import { ensureTopicPartitions } from './topic-config.js';

export type { MessageHandler, QueuedMessage } from './queued-message.js';

const ownedPartitionsGauge = gauge('gputel_collector_owned_partitions', 'Partitions this collector owns');
const groupMembersGauge = gauge('gputel_collector_group_members', 'Live members of the consumer group, as this collector sees them');
const rebalances = counter('gputel_collector_rebalances_total', 'Rebalances that changed the partitions this collector owns (it claimed or let go of at least one)', ['topic']);

/** The default member and owner lease TTL: a dead collector's partitions are owned again within about twice this. */
export const DEFAULT_LEASE_TTL_SECONDS = 5;
/** Reconcile at least this often, whatever the watches say (a watch may be reconnecting). */
const RECONCILE_INTERVAL_MS = 1_000;

/** The partitions a checkpoint's commit wrote to; undefined when the value does not say. */
function touchedPartitions(checkpoint: Buffer): number[] | undefined {
  try {
    const { partitions } = JSON.parse(checkpoint.toString('utf8')) as { partitions?: unknown };
    return Array.isArray(partitions) && partitions.every((p) => Number.isInteger(p)) ? (partitions as number[]) : undefined;
  } catch {
    return undefined;
  }
}

export interface QueueConsumerOptions {
  topic: string;
  partitions: number;
  consumerId: string;
  logger: Logger;
  /** Member and owner lease TTL (default 5 s). */
  leaseTtlSeconds?: number;
  /** Messages fetched per range request. */
  fetchSize?: number;
  /** Run by each partition's worker between messages (compaction, retention). */
  maintenance?: PartitionMaintenanceHook;
}

export class QueueConsumer {
  private readonly membership: GroupMembership;
  private readonly claims: PartitionClaims;
  private readonly deadLetters: DeadLetterQueue;
  private readonly workers = new Map<number, PartitionWorker>();
  /** Partitions whose worker is draining (and whose claim is then released): not claimed again until done. */
  private readonly releasing = new Map<number, Promise<void>>();
  private wakeWatcher: Watcher | undefined;
  private ownersWatcher: Watcher | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  /** The reconcile in progress (or done): each new one runs after it. */
  private reconcileChain: Promise<void> = Promise.resolve();
  private reconcilePending = false;
  private reconcileError: string | undefined;
  private running = false;
  private stopping: Promise<void> | undefined;
  private stopExportingDepths: (() => void) | undefined;

  constructor(
    private readonly kv: KvStore,
    private readonly keys: KeySpace,
    private readonly handler: MessageHandler,
    private readonly options: QueueConsumerOptions,
  ) {
    this.membership = new GroupMembership(kv, keys, {
      topic: options.topic,
      memberId: options.consumerId,
      leaseTtlSeconds: options.leaseTtlSeconds ?? DEFAULT_LEASE_TTL_SECONDS,
      logger: options.logger,
      onChange: () => this.scheduleReconcile(),
    });
    this.claims = new PartitionClaims(kv, keys, options.topic, options.consumerId);
    this.deadLetters = new DeadLetterQueue(kv, keys, options.topic);
  }

  /** Joins the group and claims this member's share of the free partitions. Throws when the store cannot be reached. */
  async start(): Promise<void> {
    if (this.running || this.stopping) return;
    await ensureTopicPartitions(this.kv, this.keys, this.options.topic, this.options.partitions);
    // stop() may run during any await here: each step checks, and undoes what
    // it created after stop() had already cleaned up (watches, lease, timer).
    if (this.stopping) return;
    this.running = true;
    try {
      await this.watchCheckpoints();
      await this.watchOwners();
      await this.membership.start();
      await this.serialReconcile();
    } catch (error) {
      await this.stop();
      throw error;
    }
    if (!this.running) return;
    this.reconcileTimer = setInterval(() => this.scheduleReconcile(), RECONCILE_INTERVAL_MS);
    this.stopExportingDepths = exportPartitionDepths({ kv: this.kv, keys: this.keys, topic: this.options.topic, ownedPartitions: () => this.ownedPartitions() });
  }

  /** Partitions this consumer works now, ascending. */
  ownedPartitions(): number[] {
    return [...this.workers.keys()].sort((a, b) => a - b);
  }

  /** What keeps this consumer from making progress, for /readyz; undefined when nothing does. */
  get problem(): string | undefined {
    const problems: string[] = [];
    const membership = this.membership.problem;
    if (membership) problems.push(membership);
    if (this.reconcileError) problems.push(`rebalancing partitions: ${this.reconcileError}`);
    // Partitions failing the same way (etcd down) are named in one line, not the same error once per partition.
    const partitionsByProblem = new Map<string, number[]>();
    for (const worker of this.workers.values()) {
      if (worker.problem) partitionsByProblem.set(worker.problem, [...(partitionsByProblem.get(worker.problem) ?? []), worker.partition]);
    }
    for (const [problem, partitions] of partitionsByProblem) {
      problems.push(`${partitions.length === 1 ? 'partition' : 'partitions'} ${partitions.sort((x, y) => x - y).join(', ')}: ${problem}`);
    }
    return problems.length > 0 ? problems.join('; ') : undefined;
  }

  /** Finishes the messages in hand, then leaves the group (its partitions are free at once). Idempotent, safe before start. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.running = false;
    clearInterval(this.reconcileTimer);
    this.stopExportingDepths?.();
    await this.reconcileChain;
    await Promise.allSettled([...this.workers.values()].map((worker) => worker.drain()));
    this.workers.clear();
    await Promise.allSettled(this.releasing.values());
    await this.wakeWatcher?.cancel().catch(() => undefined);
    await this.ownersWatcher?.cancel().catch(() => undefined);
    // Revoking the lease deletes the member and owner keys at once, so the
    // partitions are free for the others without waiting for the TTL.
    await this.membership.stop();
    ownedPartitionsGauge.set(0);
  }

  /**
   * Every commit of messages also writes its source's checkpoint, in the same
   * transaction: watching the small checkpoints (not the ~0.5 MB messages,
   * which a watch would send a second time) tells idle partitions to look.
   */
  private async watchCheckpoints(): Promise<void> {
    const watcher = await this.kv.watch(
      { prefix: this.keys.checkpointsPrefix(this.options.topic) },
      {
        onEvent: (event) => {
          if (event.type !== 'put') return;
          const touched = touchedPartitions(event.value);
          for (const worker of this.workers.values()) if (!touched || touched.includes(worker.partition)) worker.wake();
        },
        onError: (error) => {
          // Idle partitions poll meanwhile; the next reconcile watches again.
          if (this.wakeWatcher === watcher) this.wakeWatcher = undefined;
          this.options.logger.warn({ err: error }, 'checkpoints watch ended; watching again');
        },
      },
    );
    if (!this.running) {
      await watcher.cancel().catch(() => undefined); // stopped meanwhile: stop() found no watch to cancel
      return;
    }
    this.wakeWatcher = watcher;
  }

  private async watchOwners(): Promise<void> {
    const watcher = await this.kv.watch(
      { prefix: this.keys.ownersPrefix(this.options.topic) },
      {
        onEvent: () => this.scheduleReconcile(),
        onError: (error) => {
          // The periodic reconcile goes on without it; the next reconcile watches again.
          if (this.ownersWatcher === watcher) this.ownersWatcher = undefined;
          this.options.logger.warn({ err: error }, 'owners watch ended; watching again');
        },
      },
    );
    if (!this.running) {
      await watcher.cancel().catch(() => undefined); // stopped meanwhile: stop() found no watch to cancel
      return;
    }
    this.ownersWatcher = watcher;
  }

  /**
   * Reconciles once more after whatever runs now. One reconcile at a time
   * (two at once could both start a worker for a partition, one of them
   * then lost track of); changes while one waits are folded into it.
   */
  private scheduleReconcile(): void {
    if (!this.running || this.reconcilePending) return;
    this.reconcilePending = true;
    this.serialReconcile().catch((error: unknown) => {
      this.reconcileError = errorMessage(error);
      this.options.logger.warn({ err: error }, 'rebalancing partitions failed; will retry');
    });
  }

  /** Runs a reconcile after the one in progress; rejects with its error. */
  private serialReconcile(): Promise<void> {
    const run = this.reconcileChain.then(() => {
      this.reconcilePending = false;
      return this.reconcile();
    });
    this.reconcileChain = run.catch(() => undefined);
    return run;
  }

  /** One reconcile; counts a rebalance when the partitions owned before and after differ. */
  private async reconcile(): Promise<void> {
    const before = this.ownedPartitions().join(',');
    try {
      await this.reconcileOnce();
    } finally {
      if (this.ownedPartitions().join(',') !== before) rebalances.inc({ topic: this.options.topic });
    }
  }

  private async reconcileOnce(): Promise<void> {
    if (!this.running) return;
    if (!this.ownersWatcher) await this.watchOwners();
    if (!this.wakeWatcher) await this.watchCheckpoints();
    const lease = this.membership.lease;
    if (!lease) {
      // The lease is gone, and the owner keys with it: nothing written now would pass the fence.
      for (const worker of [...this.workers.values()]) this.drainAway(worker, false);
      ownedPartitionsGauge.set(0);
      return;
    }
    const { partitions, consumerId } = this.options;
    const owners = await this.claims.owners(partitions);

    for (const worker of [...this.workers.values()]) {
      if (owners.get(worker.partition)?.modRevision !== worker.claimRevision) {
        this.options.logger.warn({ partition: worker.partition }, 'the claim on a partition no longer holds; letting it go');
        this.drainAway(worker, false);
      }
    }
    // A claim whose outcome was unknown (a timeout) may have succeeded: an
    // owner key of ours, on our lease, that no worker serves, is adopted.
    for (const [partition, owner] of owners) {
      if (owner.memberId === consumerId && owner.lease === lease.id && !this.workers.has(partition) && !this.releasing.has(partition)) {
        this.startWorker(partition, owner.modRevision);
      }
    }

    const members = this.membership.members();
    groupMembersGauge.set(members.length);
    const memberSet = new Set(members);
    const current = new Map<number, string>();
    for (const [partition, owner] of owners) if (memberSet.has(owner.memberId)) current.set(partition, owner.memberId);
    const mine = new Set(partitionAssignor(members, partitions, current).get(consumerId) ?? []);

    for (const worker of [...this.workers.values()]) {
      if (!mine.has(worker.partition)) this.drainAway(worker, true);
    }
    const claimed: number[] = [];
    for (const partition of mine) {
      if (!this.running || this.workers.has(partition) || this.releasing.has(partition) || owners.has(partition)) continue;
      const claimRevision = await this.claims.claim(partition, lease);
      if (claimRevision !== undefined && this.running && this.membership.lease === lease) {
        this.startWorker(partition, claimRevision);
        claimed.push(partition);
      }
    }
    // One line per rebalance, not one per partition: a first start claims every partition at once.
    if (claimed.length > 0) this.options.logger.info({ partitions: claimed, owned: this.workers.size }, `claimed ${claimed.length} partition(s)`);
    ownedPartitionsGauge.set(this.workers.size);
    this.reconcileError = undefined;
  }

  private startWorker(partition: number, claimRevision: number): void {
    if (this.workers.has(partition)) return; // never two workers for one partition in this member
    const worker = new PartitionWorker({
      kv: this.kv,
      keys: this.keys,
      topic: this.options.topic,
      partition,
      claimRevision,
      memberId: this.options.consumerId,
      handler: this.handler,
      claims: this.claims,
      deadLetters: this.deadLetters,
      logger: this.options.logger,
      fetchSize: this.options.fetchSize,
      maintenance: this.options.maintenance,
      onClaimLost: (lost) => {
        if (this.workers.get(lost.partition) === lost) this.drainAway(lost, false);
        this.scheduleReconcile();
      },
    });
    this.workers.set(partition, worker);
    worker.start();
    this.options.logger.debug({ partition, claimRevision }, 'partition claimed');
  }

  /** Drains a worker, then (if `release`) deletes its owner key, so the next owner starts after the message in hand. */
  private drainAway(worker: PartitionWorker, release: boolean): void {
    const { partition } = worker;
    if (this.workers.get(partition) === worker) this.workers.delete(partition);
    ownedPartitionsGauge.set(this.workers.size);
    const previous = this.releasing.get(partition) ?? Promise.resolve();
    const done = (async () => {
      await previous;
      await worker.drain();
      if (!release) return;
      try {
        await this.claims.release(partition, worker.claimRevision);
        this.options.logger.info({ partition }, 'partition released to another member');
      } catch (error) {
        // The claim stays until the lease ends; the reconcile after the next change tries again.
        this.options.logger.warn({ err: error, partition }, 'releasing a partition failed');
      }
    })().finally(() => {
      if (this.releasing.get(partition) === done) this.releasing.delete(partition);
      this.scheduleReconcile();
    });
    this.releasing.set(partition, done);
  }
}
