/**
 * Puts batches on the queue. Every commit writes the messages of one flush
 * AND the source checkpoint in one transaction that compares the previous
 * checkpoint, so a retry after an unknown outcome is idempotent and a
 * restarted producer resumes exactly where the last commit ended.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelayMs } from '../common/backoff.js';
import { lowWatermarkInEffect } from '../common/config.js';
import type { Logger } from '../common/logger.js';
import { GputelError } from '../common/gputel-error.js';
import { BoundedLabelValues } from '../common/bounded-label.js';
import { counter, gauge } from '../common/metrics.js';
import type { KeySpace } from '../kv/key-space.js';
import { timestampSegment } from '../kv/key-space.js';
import { MAX_REQUEST_BYTES, MAX_TXN_OPS, type Compare, type KvStore, type TxnOp } from '../kv/kv-store.js';
import { encodeMessage } from './message-codec.js';
import { fnv1a } from '../common/fnv1a.js';
import { decodeCheckpoint, emptyCheckpoint, encodeCheckpoint, type SourceCheckpoint } from './source-checkpoint.js';
import type { TelemetryBatch } from './telemetry-batch.js';
import { ensureTopicPartitions } from './topic-config.js';

const messagesCommitted = counter('gputel_streamer_messages_total', 'Messages committed to the queue (produced), by source', ['source']);
const samplesCommitted = counter('gputel_streamer_samples_total', 'Samples committed to the queue, by source', ['source']);
const commitRetries = counter('gputel_streamer_commit_retries_total', 'Commits retried after a retryable store error');
const backpressureWaiting = gauge('gputel_streamer_backpressure', '1 while the producer waits for a partition below its high watermark');
const backpressureSeconds = counter('gputel_streamer_backpressure_seconds_total', 'Time spent waiting on backpressure');

export interface QueueProducerOptions {
  topic: string;
  partitions: number;
  /** A partition this deep (in messages) makes commits to it wait... */
  highWatermark: number;
  /** ...until every partition of the commit is below this depth (default: half the high watermark). */
  lowWatermark?: number;
  sourceId: string;
  location: string;
  logger: Logger;
}

/** Distinct `source` label values a process exports (see bounded-label.ts); shared with the streamer's row counters. */
export const sourceLabels = new BoundedLabelValues(100);

/** Longest wait between two tries of a commit while the store is down. */
const MAX_RETRY_DELAY_MS = 5_000;

/** Why commits are failing right now (for readiness): set at the first failure, cleared by the next success. */
export interface ProducerFailure {
  since: number;
  attempts: number;
  error: unknown;
}

export class QueueProducer {
  private checkpoint: SourceCheckpoint;
  private checkpointRevision = 0;
  private lastIdMs = 0;
  private readonly sourceTag: string;
  private failingNow: ProducerFailure | undefined;
  private readonly sourceLabel: string;

  constructor(
    private readonly kv: KvStore,
    private readonly keys: KeySpace,
    private readonly options: QueueProducerOptions,
  ) {
    this.checkpoint = emptyCheckpoint(options.sourceId, options.location);
    this.sourceTag = fnv1a(options.sourceId).toString(16).padStart(8, '0');
    this.sourceLabel = sourceLabels.valueOf(options.sourceId);
  }

  /** Reads the stored checkpoint of the source; resolves to the state a new commit continues from. */
  async resume(): Promise<SourceCheckpoint> {
    await ensureTopicPartitions(this.kv, this.keys, this.options.topic, this.options.partitions);
    const key = this.keys.checkpoint(this.options.topic, this.options.sourceId);
    const stored = await this.kv.get(key);
    if (stored) {
      this.checkpoint = decodeCheckpoint(stored.value, key);
      this.checkpointRevision = stored.modRevision;
    }
    return { ...this.checkpoint };
  }

  /** Set while retryable store errors keep commits from going through (they are retried until they succeed or stop). */
  get failing(): ProducerFailure | undefined {
    return this.failingNow;
  }

  get committed(): SourceCheckpoint {
    return { ...this.checkpoint };
  }

  /**
   * Commits the batches (one message per partition) with the new source
   * position. Waits while a partition is over the high watermark (until it is
   * below the low one). Throws CONFLICT when another producer advanced the
   * same source's checkpoint, and the signal's reason (an AbortError) when
   * `signal` aborts a wait: nothing of this commit is then written.
   * Resolves to the commit's correlation id: it is in every message of the
   * commit and in the producer's log lines about it (docs/observability.md).
   */
  async commit(
    batches: Map<number, TelemetryBatch>,
    position: {
      byteOffset: number;
      nextLineNumber: number;
      rowsRead: number;
      rowsRejected: number;
      /** The source's opaque position (see source-checkpoint.ts). */
      position?: Readonly<Record<string, unknown>> | null;
    },
    signal?: AbortSignal,
  ): Promise<string> {
    const partitions = [...batches.keys()].sort((a, b) => a - b);
    if (partitions.length + 1 > MAX_TXN_OPS) {
      throw new GputelError('INTERNAL', `a flush touching ${partitions.length} partitions cannot fit one transaction`);
    }
    const commitId = randomUUID();
    const next: SourceCheckpoint = {
      ...this.checkpoint,
      ...position,
      sequence: this.checkpoint.sequence + 1,
      messages: this.checkpoint.messages + partitions.length,
      updatedAt: new Date().toISOString(),
      partitions,
      commitId,
    };
    const ops: TxnOp[] = [];
    // A message key is only ever created, never overwritten: ids of two sources could collide (a 32-bit tag of the source id).
    const created: Compare[] = [];
    let bytes = 0;
    let samples = 0;
    const idMs = this.nextIdMs();
    // The commit id names this flush in every try: a retry after an unknown outcome keeps it, so the log lines of
    // all tries and the collector's lines about the messages carry the same id.
    const correlationId = commitId;
    const messageIds: string[] = [];
    partitions.forEach((partition, i) => {
      const batch = batches.get(partition)!;
      const value = encodeMessage({ ...batch, correlationId });
      bytes += value.length;
      samples += batch.length;
      const messageId = `${timestampSegment(idMs)}-${this.sourceTag}-${String(this.checkpoint.messages + i).padStart(12, '0')}`;
      const key = this.keys.message(this.options.topic, partition, messageId);
      messageIds.push(messageId);
      ops.push({ type: 'put', key, value });
      created.push({ key, target: 'createRevision', operator: '==', operand: 0 });
    });
    const checkpointKey = this.keys.checkpoint(this.options.topic, this.options.sourceId);
    ops.push({ type: 'put', key: checkpointKey, value: encodeCheckpoint(next) });
    if (bytes > MAX_REQUEST_BYTES) {
      throw new GputelError('INTERNAL', `a flush of ${bytes} bytes is over the ${MAX_REQUEST_BYTES}-byte request limit; lower --batch-samples`);
    }

    // Retryable errors (etcd down, a leader change, a timeout) are retried
    // without limit, with capped backoff and jitter, until stop aborts
    // `signal`: the issue asks that no process needs a restart after etcd
    // comes back. A time limit here used to count backpressure waits as
    // failing time and failed the source on the first error after one.
    // While failing, `failing` says why, for the streamer's readiness.
    for (let attempt = 0; ; attempt++) {
      try {
        signal?.throwIfAborted();
        await this.waitForCapacity(partitions, signal);
        const result = await this.kv.txn({
          compare: [{ key: checkpointKey, target: 'modRevision', operator: '==', operand: this.checkpointRevision }, ...created],
          success: ops,
        });
        this.failingNow = undefined;
        if (result.succeeded) {
          this.checkpointRevision = result.revision;
          break;
        }
        // The compare failed: either an earlier attempt of THIS commit went
        // through (unknown outcome), or another producer owns the source, or
        // a message key of this commit already exists.
        const stored = await this.kv.get(checkpointKey);
        const storedCheckpoint = stored ? decodeCheckpoint(stored.value, checkpointKey) : undefined;
        if (stored && storedCheckpoint?.sequence === next.sequence && storedCheckpoint.commitId === next.commitId) {
          this.checkpointRevision = stored.modRevision;
          break;
        }
        if ((stored?.modRevision ?? 0) === this.checkpointRevision) {
          throw new GputelError(
            'CONFLICT',
            `a message key of this commit already exists (written by another streamer under colliding ids, or another streamer of source ${this.options.sourceId}); run one streamer per source`,
          );
        }
        throw new GputelError(
          'CONFLICT',
          `source ${this.options.sourceId} was advanced by another streamer (checkpoint sequence ${storedCheckpoint?.sequence ?? 'deleted'}, expected ${this.checkpoint.sequence}); run one streamer per source`,
        );
      } catch (error) {
        if (!(error instanceof GputelError && error.retryable)) {
          this.failingNow = undefined;
          throw error;
        }
        this.failingNow = { since: this.failingNow?.since ?? Date.now(), attempts: (this.failingNow?.attempts ?? 0) + 1, error };
        commitRetries.inc();
        const delayMs = backoffDelayMs(attempt, { initialMs: 50, maxMs: MAX_RETRY_DELAY_MS });
        this.options.logger.warn({ err: error, attempt, delayMs, correlationId }, 'queue commit failed; retrying until the store is back');
        try {
          await sleep(delayMs, undefined, { signal });
        } catch (abortError) {
          this.failingNow = undefined;
          throw abortError;
        }
      }
    }
    this.checkpoint = next;
    messagesCommitted.inc({ source: this.sourceLabel }, partitions.length);
    samplesCommitted.inc({ source: this.sourceLabel }, samples);
    // Debug: a live source flushes every second or faster. Failures above are logged at warn with the same id.
    this.options.logger.debug({ correlationId, partitions, messageIds, samples, sequence: next.sequence }, 'batch committed to the queue');
    return correlationId;
  }

  /** Message ids start with a millisecond clock that never goes backwards within this producer. */
  private nextIdMs(): number {
    this.lastIdMs = Math.max(Date.now(), this.lastIdMs);
    return this.lastIdMs;
  }

  /**
   * Waits while a partition is at the high watermark; once waiting, goes on
   * only when every partition is under the low watermark, so that a producer
   * does not wake for each message a collector takes (hysteresis).
   */
  private async waitForCapacity(partitions: number[], signal: AbortSignal | undefined): Promise<void> {
    let waitedSince: number | undefined;
    const { highWatermark } = this.options;
    const lowWatermark = lowWatermarkInEffect(this.options.lowWatermark ?? 0, highWatermark);
    try {
      await this.waitUntilBelow(partitions, highWatermark, lowWatermark, signal, () => {
        waitedSince = Date.now();
        backpressureWaiting.set(1);
        this.options.logger.info({ partitions, highWatermark, lowWatermark }, 'a partition is at its high watermark; waiting for collectors to bring it under the low watermark');
      });
    } finally {
      if (waitedSince !== undefined) {
        backpressureSeconds.inc((Date.now() - waitedSince) / 1000);
        backpressureWaiting.set(0);
      }
    }
  }

  private async waitUntilBelow(partitions: number[], highWatermark: number, lowWatermark: number, signal: AbortSignal | undefined, onWait: () => void): Promise<void> {
    let limit = highWatermark;
    let waiting = false;
    for (let waitMs = 20; ; waitMs = Math.min(waitMs * 2, 1_000)) {
      const depths = await this.kv.txn({
        success: partitions.map((p) => ({
          type: 'range' as const,
          range: { prefix: this.keys.partitionPrefix(this.options.topic, p) },
          options: { countOnly: true },
        })),
      });
      // A depth read that answers does not end a failure streak: reads can work while writes fail (etcd's
      // NOSPACE alarm). Only a commit that goes through does (above).
      const full = depths.results.some((r) => r.type === 'range' && r.result.count >= limit);
      if (!full) return;
      if (!waiting) {
        waiting = true;
        limit = lowWatermark;
        onWait();
      }
      await sleep(waitMs, undefined, { signal });
    }
  }
}
