/**
 * Consumes one owned partition: fetches its messages in key (= production)
 * order and hands them to the handler one at a time, until drained.
 *
 * - `drain()` aborts the worker's signal: the message in hand is finished,
 *   no new one is started, and the promise resolves when the loop has ended.
 *   Only then may the claim be released, so a partition is never worked by
 *   its old and new owner at once in the ordinary course (fencing covers the
 *   rest).
 * - A poison message (the handler throws BAD_MESSAGE, BAD_KEY or BAD_INPUT)
 *   goes to the dead-letter queue with the reason, and the partition goes on.
 *   So does a key whose id is not a message id: it is never put into another
 *   key as it is.
 * - An error that follows from the message and that a retry cannot help (a
 *   write over etcd's limits, a bug) failing the same message
 *   MAX_SAME_FAILURES times in a row also sets the message aside with the
 *   reason: a deterministic failure must not stall every host of the
 *   partition. Errors that say nothing about the message (the store away, an
 *   error the driver did not recognise) never count.
 * - Any other error is retried after a backoff with jitter (so collectors
 *   that failed together do not retry together). After each failure the
 *   claim is checked: if another member owns the partition now, the worker
 *   ends and says so.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, GputelError, isRetryable, type ErrorCode } from '../common/gputel-error.js';
import type { Logger } from '../common/logger.js';
import { counter, histogram } from '../common/metrics.js';
import type { KeySpace } from '../kv/key-space.js';
import type { Compare, KeyValue, KvStore } from '../kv/kv-store.js';
import type { DeadLetterQueue } from './dead-letter-queue.js';
import { isMessageId, messageId, messageIdTimeMs } from './message-id.js';
import type { PartitionClaims } from './partition-claims.js';
import { fnv1a } from '../common/fnv1a.js';
import type { MessageHandler, QueuedMessage } from './queued-message.js';

const deadLettered = counter('gputel_collector_dead_letters_total', 'Messages moved to the dead-letter queue');
const malformedKeys = counter('gputel_collector_malformed_queue_keys_total', 'Queue keys whose id is not a message id (dead-lettered under a new id)');
const repeatedFailures = counter(
  'gputel_collector_repeated_failure_dead_letters_total',
  'Messages dead-lettered after failing the same way (not retryable) several times in a row',
);
const handlerRetries = counter('gputel_collector_retries_total', 'Message handlings retried after a retryable error');
const messageLagSeconds = histogram(
  'gputel_collector_message_lag_seconds',
  'Time from a message being produced (its id) to the collector having applied it: the consumer lag each message saw',
  [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
  ['topic'],
);

/** Errors that say the message itself is bad: the same message fails the same way every time. */
const POISON_CODES = new Set<ErrorCode>(['BAD_MESSAGE', 'BAD_KEY', 'BAD_INPUT']);
/** Messages are up to ~0.7 MB: fetching a few at a time keeps a response near a few MB. */
const DEFAULT_FETCH_SIZE = 4;
/** An idle partition looks again this often even without a wake-up (a wake-up can be missed while the watch reconnects). */
const IDLE_POLL_MS = 1_000;
const MAX_BACKOFF_MS = 5_000;
/** A message that fails this often in a row with an error a retry cannot help is dead-lettered. */
export const MAX_SAME_FAILURES = 5;
/** A partition that applied nothing is maintained every this many maintenance intervals (5 min at the default 30 s). */
export const QUIET_MAINTENANCE_FACTOR = 10;
/**
 * Failures that can follow from the message itself (it makes a request over
 * etcd's limits, or trips a bug): only these count towards setting a message
 * aside. Anything else that is not retryable (KV_FAILED: an error the driver
 * did not recognise, a permission, the store closed at shutdown) says nothing
 * about the message, and is retried for as long as it takes.
 */
const MESSAGE_FAILURE_CODES = new Set<ErrorCode>(['KV_REQUEST_TOO_LARGE', 'KV_TOO_MANY_OPS', 'BAD_REQUEST', 'INTERNAL']);

export interface PartitionWorkerOptions {
  kv: KvStore;
  keys: KeySpace;
  topic: string;
  partition: number;
  /** Revision of the claim this worker works under (its fencing token). */
  claimRevision: number;
  memberId: string;
  handler: MessageHandler;
  claims: PartitionClaims;
  deadLetters: DeadLetterQueue;
  logger: Logger;
  fetchSize?: number;
  /** Called when the worker ended because another member owns the partition now. */
  onClaimLost: (worker: PartitionWorker) => void;
  /** Background work of the partition's owner, run between messages (see PartitionMaintenanceHook). */
  maintenance?: PartitionMaintenanceHook;
}

/**
 * Work only a partition's owner may do on the data of its hosts (chunk
 * compaction, retention). The worker runs it between messages, never beside
 * one, so it never races the writes of a message: at most once per
 * `intervalMs` after it applied messages, and every QUIET_MAINTENANCE_FACTOR
 * intervals when it applied none. A failure is logged and tried again at the
 * next interval.
 */
export interface PartitionMaintenanceHook {
  intervalMs: number;
  /** Resolves to true when work is left for a later run (which then comes after the interval even with no new message). */
  run(partition: number, claimRevision: number, signal: AbortSignal): Promise<boolean>;
}

export class PartitionWorker {
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  /** A wake-up arrived while the worker was busy: the next idle() returns at once. */
  private wokenWhileBusy = false;
  private lastError: string | undefined;
  /** The message that failed last without a retry being able to help, and how often in a row. */
  private failing: { key: string; modRevision: number; count: number } | undefined;
  /**
   * Messages applied since maintenance last ran, and when it did. A new
   * owner counts as having applied one: it runs a round after the interval
   * even if no message comes (a quiet partition taken over mid-compaction).
   */
  private appliedSinceMaintenance = 1;
  private maintainedAtMs = Date.now();
  /** The message being handled, for the log line of a failure the loop catches. */
  private inHand: QueuedMessage | undefined;

  constructor(private readonly options: PartitionWorkerOptions) {}

  get partition(): number {
    return this.options.partition;
  }

  get claimRevision(): number {
    return this.options.claimRevision;
  }

  /** Why the partition is not moving; undefined while it is. */
  get problem(): string | undefined {
    return this.lastError;
  }

  /** Whether drain() was called (or the worker ended by itself). */
  get draining(): boolean {
    return this.abort.signal.aborted;
  }

  /** Starts the loop. Idempotent. */
  start(): void {
    this.loop ??= this.run();
  }

  /** Looks for new messages now instead of at the next poll. */
  wake(): void {
    if (this.wakeUp) this.wakeUp();
    else this.wokenWhileBusy = true;
  }

  /** Finishes the message in hand and ends; resolves when the loop has ended. Idempotent, safe before start. */
  drain(): Promise<void> {
    this.abort.abort();
    this.wake();
    return this.loop ?? Promise.resolve();
  }

  private async run(): Promise<void> {
    const { kv, keys, topic, partition } = this.options;
    const prefix = keys.partitionPrefix(topic, partition);
    const signal = this.abort.signal;
    const fetchSize = this.options.fetchSize ?? DEFAULT_FETCH_SIZE;
    let failures = 0;
    while (!signal.aborted) {
      this.inHand = undefined;
      try {
        // Cleared before the read: a wake-up from here on may be for a message the read does not see.
        this.wokenWhileBusy = false;
        const page = await kv.range({ prefix }, { limit: fetchSize });
        if (page.kvs.length === 0) {
          // The read worked: a quiet partition is moving too. (Cleared only after a page with messages, the error of
          // an etcd outage stayed on every partition without traffic, and the collector's /readyz said 503 for good.)
          failures = 0;
          this.lastError = undefined;
          await this.maintain();
          await this.idle();
          continue;
        }
        for (const entry of page.kvs) {
          if (signal.aborted) break;
          await this.handle(entry, entry.key.slice(prefix.length));
        }
        failures = 0;
        this.lastError = undefined;
        await this.maintain();
        // A short page was the whole backlog: rather than fetch an empty page
        // next, wait for a wake-up (or take the one that came meanwhile).
        if (page.kvs.length < fetchSize) await this.idle();
      } catch (error) {
        failures++;
        this.lastError = errorMessage(error);
        if (!(await this.claimHolds())) {
          this.options.logger.warn({ partition }, 'partition claimed by another collector; letting it go');
          this.abort.abort();
          this.options.onClaimLost(this);
          break;
        }
        // Full jitter over the upper half: collectors that failed together spread their retries.
        const delayMs = Math.round(Math.min(MAX_BACKOFF_MS, 100 * 2 ** failures) * (0.5 + Math.random() / 2));
        // A cast: TypeScript narrowed inHand to undefined at the top of the loop, not seeing handle() set it.
        const failed = this.inHand as QueuedMessage | undefined;
        this.options.logger.warn(
          { err: error, partition, delayMs, messageId: failed?.messageId, correlationId: failed?.correlationId },
          'consuming partition failed; backing off',
        );
        await sleep(delayMs, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  private async handle(entry: KeyValue, id: string): Promise<void> {
    if (!isMessageId(id)) {
      await this.deadLetterMalformedKey(entry, id);
      return;
    }
    const message: QueuedMessage = {
      partition: this.options.partition,
      key: entry.key,
      messageId: id,
      modRevision: entry.modRevision,
      value: entry.value,
      claimRevision: this.options.claimRevision,
    };
    this.inHand = message;
    try {
      await this.options.handler(message);
      this.inHand = undefined;
      this.failing = undefined;
      this.appliedSinceMaintenance++;
      const producedAtMs = messageIdTimeMs(id);
      if (producedAtMs !== undefined) messageLagSeconds.observe({ topic: this.options.topic }, Math.max(0, Date.now() - producedAtMs) / 1000);
    } catch (error) {
      if (error instanceof GputelError && POISON_CODES.has(error.code)) {
        await this.deadLetter(entry, id, errorMessage(error), message.correlationId);
        return;
      }
      // A failure a retry may heal (the store away, a conflict) is retried for
      // as long as it takes: setting good data aside would lose it. One that
      // cannot heal is retried a few times (the cause may be outside the
      // message: an operator lowering a limit), then set aside.
      const count = this.countFailure(entry, error);
      if (count < MAX_SAME_FAILURES) {
        handlerRetries.inc();
        throw error;
      }
      const code = error instanceof GputelError ? error.code : 'INTERNAL';
      const reason = `failed ${count} times in a row with ${code}, which a retry does not heal: ${errorMessage(error)}`;
      await this.deadLetter(entry, id, reason, message.correlationId);
      this.failing = undefined;
      repeatedFailures.inc();
    }
  }

  /** Counts a failure of `entry` that a retry cannot heal; resolves to how many in a row (0 for one a retry may heal). */
  private countFailure(entry: KeyValue, error: unknown): number {
    const fromMessage = !isRetryable(error) && (!(error instanceof GputelError) || MESSAGE_FAILURE_CODES.has(error.code));
    if (!fromMessage) {
      // "In a row" means with nothing else in between: a failure of another kind starts the count again.
      this.failing = undefined;
      return 0;
    }
    const same = this.failing?.key === entry.key && this.failing.modRevision === entry.modRevision;
    this.failing = { key: entry.key, modRevision: entry.modRevision, count: same ? this.failing!.count + 1 : 1 };
    return this.failing.count;
  }

  /**
   * A key under the partition whose last segment is not a message id (written
   * by hand, or by something that is not gputel): it is set aside under a new,
   * valid id, so it neither stalls the partition nor reaches into other keys.
   * A replay puts it back under that id.
   */
  private async deadLetterMalformedKey(entry: KeyValue, id: string): Promise<void> {
    malformedKeys.inc();
    const newId = messageId(Date.now(), fnv1a(entry.key).toString(16).padStart(8, '0'), entry.modRevision);
    this.options.logger.warn({ partition: this.options.partition, key: entry.key, deadLetterId: newId }, 'a queue key does not end in a message id; dead-lettering it');
    await this.deadLetter(entry, newId, `the queue key ends in "${JSON.stringify(id).slice(1, -1).slice(0, 80)}", which is not a message id ({13-digit ms}-{8 hex}-{12 digits}); set aside under a new id`);
  }

  private async deadLetter(entry: KeyValue, id: string, reason: string, correlationId?: string): Promise<void> {
    const { partition, topic, keys } = this.options;
    const guards: Compare[] = [
      { key: entry.key, target: 'modRevision', operator: '==', operand: entry.modRevision },
      { key: keys.owner(topic, partition), target: 'modRevision', operator: '==', operand: this.options.claimRevision },
    ];
    const moved = await this.options.deadLetters.add(
      {
        messageId: id,
        partition,
        reason,
        failedAt: new Date().toISOString(),
        consumerId: this.options.memberId,
        key: entry.key,
        value: entry.value,
        ...(correlationId ? { correlationId } : {}),
      },
      entry.key,
      guards,
    );
    if (!moved) {
      throw new GputelError('CONFLICT', `message ${id} or the claim on partition ${partition} changed before it could be dead-lettered`, { retryable: true });
    }
    deadLettered.inc();
    this.options.logger.error({ messageId: id, partition, reason, correlationId }, 'message moved to the dead-letter queue');
  }

  /** Runs the maintenance hook when it is due; its failure is logged, never the partition's problem. */
  private async maintain(): Promise<void> {
    const hook = this.options.maintenance;
    const signal = this.abort.signal;
    if (!hook || signal.aborted) return;
    const sinceMs = Date.now() - this.maintainedAtMs;
    // A quiet partition is maintained too, less often: the cluster's newest sample moves with other partitions'
    // data, and retention must reach hosts that stopped sending.
    if (sinceMs < hook.intervalMs || (this.appliedSinceMaintenance === 0 && sinceMs < hook.intervalMs * QUIET_MAINTENANCE_FACTOR)) return;
    this.maintainedAtMs = Date.now();
    const applied = this.appliedSinceMaintenance;
    this.appliedSinceMaintenance = 0;
    try {
      if (await hook.run(this.options.partition, this.options.claimRevision, signal)) this.appliedSinceMaintenance = Math.max(1, this.appliedSinceMaintenance);
    } catch (error) {
      this.appliedSinceMaintenance += applied; // due again at the next interval
      this.options.logger.warn({ err: error, partition: this.options.partition }, `partition maintenance failed (${errorMessage(error)}); it runs again in ${hook.intervalMs} ms`);
    }
  }

  /** After a failure: whether this worker's claim still holds. A store that cannot answer leaves it standing. */
  private async claimHolds(): Promise<boolean> {
    try {
      return await this.options.claims.holds(this.options.partition, this.options.claimRevision);
    } catch {
      return true;
    }
  }

  private idle(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, IDLE_POLL_MS);
      this.wakeUp = done;
      if (this.abort.signal.aborted || this.wokenWhileBusy) done();
    });
  }
}
