/**
 * Consumes a topic's partitions. A consumer registers under `members/` with a
 * lease and claims partitions through leased `owners/` keys, so at most one
 * live consumer processes a partition at a time and a crashed consumer's
 * partitions are free again when its lease expires.
 *
 * Within a partition messages are handled one at a time in key (= production)
 * order. The handler makes the message's effect and deletes it in a
 * transaction that compares that it still exists (see collector), so a replay
 * after a crash has no double effect. A handler error that is not retryable
 * moves the message to `dlq/` with the reason, and the partition moves on.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, GputelError, type ErrorCode } from '../common/gputel-error.js';
import type { Logger } from '../common/logger.js';
import { counter, gauge } from '../common/metrics.js';
import type { KeySpace } from '../kv/key-space.js';
import type { KvStore, Lease, Watcher } from '../kv/kv-store.js';
import { ensureTopicPartitions } from './topic-config.js';

const deadLettered = counter('gputel_collector_dead_letters_total', 'Messages moved to the dead-letter queue');
const handlerRetries = counter('gputel_collector_retries_total', 'Message handlings retried after a retryable error');
const ownedPartitionsGauge = gauge('gputel_collector_owned_partitions', 'Partitions this collector owns');

/** The partitions a checkpoint's commit wrote to; undefined when the value does not say. */
function touchedPartitions(checkpoint: Buffer): number[] | undefined {
  try {
    const { partitions } = JSON.parse(checkpoint.toString('utf8')) as { partitions?: unknown };
    return Array.isArray(partitions) && partitions.every((p) => Number.isInteger(p)) ? (partitions as number[]) : undefined;
  } catch {
    return undefined;
  }
}

/** One queued message as handed to a handler. */
export interface QueuedMessage {
  partition: number;
  key: string;
  messageId: string;
  modRevision: number;
  value: Buffer;
  /** Revision of this consumer's claim on the partition: writes compare the owner key against it (fencing). */
  claimRevision: number;
}

export type MessageHandler = (message: QueuedMessage) => Promise<void>;

export interface QueueConsumerOptions {
  topic: string;
  partitions: number;
  consumerId: string;
  logger: Logger;
  /** Member and owner lease TTL; a crashed consumer's partitions free up after this. */
  leaseTtlSeconds?: number;
  /** Messages fetched per range request. */
  fetchSize?: number;
}

const CLAIM_INTERVAL_MS = 2_000;
/** Errors that say the message itself is bad: the same message fails the same way every time. */
const POISON_CODES = new Set<ErrorCode>(['BAD_MESSAGE', 'BAD_KEY', 'BAD_INPUT']);
/** Messages are up to ~0.7 MB: fetching a few at a time keeps a response near a few MB. */
const FETCH_SIZE = 4;
const IDLE_POLL_MS = 1_000;

export class QueueConsumer {
  private lease: Lease | undefined;
  /** Owned partitions and the revision of each claim. */
  private readonly owned = new Map<number, number>();
  private readonly loops = new Map<number, Promise<void>>();
  private readonly wakers = new Map<number, () => void>();
  private watcher: Watcher | undefined;
  private claimTimer: NodeJS.Timeout | undefined;
  private running = false;
  private stopping: Promise<void> | undefined;
  private claimError: string | undefined;
  private readonly partitionErrors = new Map<number, string>();

  constructor(
    private readonly kv: KvStore,
    private readonly keys: KeySpace,
    private readonly handler: MessageHandler,
    private readonly options: QueueConsumerOptions,
  ) {}

  /** Registers the member, claims free partitions and starts consuming. */
  async start(): Promise<void> {
    if (this.running) return;
    await ensureTopicPartitions(this.kv, this.keys, this.options.topic, this.options.partitions);
    this.running = true;
    // Every commit of messages also writes its source's checkpoint, in the same
    // transaction: watching the small checkpoints (not the ~0.5 MB messages,
    // which a watch would send a second time) tells idle partitions to look.
    this.watcher = await this.kv.watch(
      { prefix: this.keys.checkpointsPrefix(this.options.topic) },
      {
        onEvent: (event) => {
          if (event.type !== 'put') return;
          for (const partition of touchedPartitions(event.value) ?? [...this.wakers.keys()]) this.wakers.get(partition)?.();
        },
        onError: (error) => this.options.logger.warn({ err: error }, 'queue watch ended; falling back to polling'),
      },
    );
    await this.claimPartitions();
    this.claimTimer = setInterval(() => {
      this.claimPartitions().catch((error: unknown) => {
        this.claimError = errorMessage(error);
        this.options.logger.warn({ err: error }, 'claiming partitions failed; will retry');
      });
    }, CLAIM_INTERVAL_MS);
  }

  /** Partitions this consumer owns now. */
  ownedPartitions(): number[] {
    return [...this.owned.keys()].sort((a, b) => a - b);
  }

  /** What keeps this consumer from making progress, for /readyz; undefined when nothing does. */
  get problem(): string | undefined {
    const stuck = [...this.partitionErrors].map(([partition, error]) => `partition ${partition}: ${error}`);
    const problems = [...(this.claimError ? [`claiming partitions: ${this.claimError}`] : []), ...stuck];
    return problems.length > 0 ? problems.join('; ') : undefined;
  }

  /** Stops consuming: finishes the message in hand, releases partitions and the member lease. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.running = false;
    clearInterval(this.claimTimer);
    for (const wake of this.wakers.values()) wake();
    await Promise.allSettled(this.loops.values());
    await this.watcher?.cancel();
    // Revoking the lease deletes the member and owner keys at once, so the
    // partitions are free for others without waiting for the TTL.
    await this.lease?.revoke().catch(() => undefined);
    this.owned.clear();
    ownedPartitionsGauge.set(0);
  }

  private async ensureLease(): Promise<Lease> {
    if (this.lease) return this.lease;
    const lease = await this.kv.grantLease(this.options.leaseTtlSeconds ?? 10);
    lease.onLost((error) => {
      this.options.logger.error({ err: error }, 'consumer lease lost; releasing every partition and registering again');
      if (this.lease === lease) this.lease = undefined;
      this.owned.clear();
      ownedPartitionsGauge.set(0);
    });
    await this.kv.put(
      this.keys.member(this.options.topic, this.options.consumerId),
      Buffer.from(JSON.stringify({ consumerId: this.options.consumerId, pid: process.pid, since: new Date().toISOString() })),
      { lease: lease.id },
    );
    this.lease = lease;
    return lease;
  }

  /** Claims every partition that has no owner. (Fair sharing among members comes with rebalancing.) */
  private async claimPartitions(): Promise<void> {
    if (!this.running) return;
    const lease = await this.ensureLease();
    for (let partition = 0; partition < this.options.partitions; partition++) {
      if (this.owned.has(partition)) continue;
      const ownerKey = this.keys.owner(this.options.topic, partition);
      const result = await this.kv.txn({
        compare: [{ key: ownerKey, target: 'createRevision', operator: '==', operand: 0 }],
        success: [{ type: 'put', key: ownerKey, value: Buffer.from(this.options.consumerId), lease: lease.id }],
      });
      if (result.succeeded) {
        this.owned.set(partition, result.revision);
        // A loop removes itself in the same step as it sees the partition gone,
        // so a claim made after that always starts a new one.
        if (!this.loops.has(partition)) this.loops.set(partition, this.consume(partition));
      }
    }
    ownedPartitionsGauge.set(this.owned.size);
    this.claimError = undefined;
  }

  private async consume(partition: number): Promise<void> {
    const prefix = this.keys.partitionPrefix(this.options.topic, partition);
    let failures = 0;
    while (this.running && this.owned.has(partition)) {
      try {
        const page = await this.kv.range({ prefix }, { limit: this.options.fetchSize ?? FETCH_SIZE });
        if (page.kvs.length === 0) {
          await this.idle(partition);
          continue;
        }
        for (const kv of page.kvs) {
          const claimRevision = this.owned.get(partition);
          if (!this.running || claimRevision === undefined) break;
          await this.handle({ partition, key: kv.key, messageId: kv.key.slice(prefix.length), modRevision: kv.modRevision, value: kv.value, claimRevision });
        }
        failures = 0;
        this.partitionErrors.delete(partition);
      } catch (error) {
        failures++;
        this.partitionErrors.set(partition, errorMessage(error));
        const delayMs = Math.min(5_000, 100 * 2 ** failures);
        this.options.logger.warn({ err: error, partition, delayMs }, 'consuming partition failed; backing off');
        await this.checkClaim(partition);
        await sleep(delayMs);
      }
    }
    this.partitionErrors.delete(partition);
    this.loops.delete(partition);
  }

  /** After a failure: if the owner key no longer holds this consumer's claim, let the partition go. */
  private async checkClaim(partition: number): Promise<void> {
    const claimRevision = this.owned.get(partition);
    if (claimRevision === undefined) return;
    try {
      const owner = await this.kv.get(this.keys.owner(this.options.topic, partition));
      if (owner?.modRevision !== claimRevision) {
        this.owned.delete(partition);
        ownedPartitionsGauge.set(this.owned.size);
        this.options.logger.warn({ partition }, 'partition claimed by another consumer; letting it go');
      }
    } catch {
      // The store is unreachable: the claim stands until the lease says otherwise.
    }
  }

  private async handle(message: QueuedMessage): Promise<void> {
    try {
      await this.handler(message);
    } catch (error) {
      // Only a message that can never be applied is set aside. Anything else
      // (the store failing, a bug) would set aside good data: retry instead,
      // and let /readyz show the partition is stuck.
      if (!(error instanceof GputelError && POISON_CODES.has(error.code))) {
        handlerRetries.inc();
        throw error; // the partition loop backs off and fetches the message again
      }
      await this.deadLetter(message, error);
    }
  }

  private async deadLetter(message: QueuedMessage, error: unknown): Promise<void> {
    const reason = errorMessage(error);
    const record = {
      messageId: message.messageId,
      partition: message.partition,
      reason,
      failedAt: new Date().toISOString(),
      consumerId: this.options.consumerId,
      value: message.value.toString('base64'),
    };
    const result = await this.kv.txn({
      compare: [
        { key: message.key, target: 'modRevision', operator: '==', operand: message.modRevision },
        { key: this.keys.owner(this.options.topic, message.partition), target: 'modRevision', operator: '==', operand: message.claimRevision },
      ],
      success: [
        { type: 'put', key: this.keys.deadLetter(this.options.topic, message.messageId), value: Buffer.from(JSON.stringify(record)) },
        { type: 'delete', range: { start: message.key } },
      ],
    });
    if (!result.succeeded) {
      throw new GputelError('CONFLICT', `message ${message.messageId} or the claim on partition ${message.partition} changed before it could be dead-lettered`, { retryable: true });
    }
    deadLettered.inc();
    this.options.logger.error({ messageId: message.messageId, partition: message.partition, reason }, 'message moved to the dead-letter queue');
  }

  private idle(partition: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, IDLE_POLL_MS);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakers.set(partition, () => {
        this.wakers.delete(partition);
        done();
      });
    });
  }
}
