/**
 * The streamer role: a Source plus the queue producer. Whatever the source
 * (a file, stdin, a scrape, nvidia-smi, the simulator), its rows go through
 * the same steps here: the shared enrichment (row-enrichment.ts), the batch
 * accumulator, flushes at the positions the source yields (batch size, byte
 * bound, or rows waiting `flushIntervalMs`, also when the source has not
 * yielded since: then at its last position, if that covers every pending
 * row), and one transaction per flush holding the messages AND the
 * checkpoint with the source's position. A restart resumes after the last
 * committed flush. Commits ride out store outages (retried until stop;
 * `readinessCheck()` fails meanwhile, saying why).
 *
 * One streamer per source: the source id is claimed under a lease first
 * (source-claim.ts). A source that fails (unreadable, not a DCGM export)
 * ends the run with `failure` in the summary and on `readinessCheck()`.
 */
import { errorMessage, GputelError, type ErrorCode } from '../common/gputel-error.js';
import type { Logger } from '../common/logger.js';
import { counter, gauge } from '../common/metrics.js';
import type { ReadinessCheck } from '../common/ops-routes.js';
import type { DcgmRow, RejectedRow } from '../ingest/dcgm-row.js';
import { RowEnrichment } from '../ingest/row-enrichment.js';
import type { RowSink, Source, SourcePosition } from '../ingest/source.js';
import type { KeySpace } from '../kv/key-space.js';
import type { KvStore } from '../kv/kv-store.js';
import { QueueProducer, sourceLabels } from '../queue/queue-producer.js';
import { resumePositionOf } from '../queue/source-checkpoint.js';
import { BatchAccumulator } from './batch-accumulator.js';
import { SourceClaim } from './source-claim.js';
import { TokenBucket } from './token-bucket.js';
import { settingOf, type Setting } from '../common/setting.js';

const goodRowsTotal = counter('gputel_streamer_rows_total', 'Good rows read from sources and committed to the queue, by source', ['source']);
const rowsRejectedTotal = counter('gputel_streamer_rows_rejected_total', 'Rows refused by validation, by source (counted when the flush after them is committed)', ['source']);
const sourcesFailed = gauge('gputel_streamer_sources_failed', 'Sources of this process that stopped on an error (see /readyz for which and why)');

/** Flushes stay well under etcd's request limit whatever the batch size. */
const MAX_FLUSH_BYTES = 700_000;
/** Rejections kept for the summary, and logged one by one; later ones are logged as a count per flush. */
const REJECTIONS_KEPT = 100;
/** On stop, what is pending is committed if the queue takes it within this time; otherwise it is read again next run. */
const STOP_FLUSH_MS = 2_000;

export interface StreamerOptions {
  source: Source;
  cluster: string;
  topic: string;
  partitions: number;
  /** Samples per flush; a Setting follows live configuration (the next flush uses the new size). */
  batchSamples: number | Setting<number>;
  highWatermark: number;
  /** Default: half the high watermark. */
  lowWatermark?: number;
  /** Rows per second at most (0 or absent: unlimited); a Setting follows live configuration. */
  maxRowsPerSecond?: number | Setting<number>;
  /** Rows dated more than this ahead of the wall clock are rejected (default 1 h). */
  maxClockSkewMs?: number;
  /** Defaults to the source's id. */
  sourceId?: string;
  /** Longest a read row waits for its flush when the batch does not fill (live sources). Default 1 s; a Setting follows live configuration. */
  flushIntervalMs?: number | Setting<number>;
  /** Lease TTL of the source claim, in seconds (default 5). */
  claimTtlSeconds?: number;
  /** How long a claim held by another streamer is waited for before refusing (default TTL + 2 s). */
  claimWaitMs?: number;
  logger: Logger;
}

export interface StreamSummary {
  /** What the source reads (a path, 'stdin', URLs). */
  location: string;
  sourceId: string;
  /** False for a source that cannot resume (stdin, live): each run begins anew. */
  resumable: boolean;
  /** Byte where this run started in a file (0, or the committed offset it resumed from). */
  resumedFromByte: number;
  /** Data rows read in this run: good and rejected (headers and blank lines are not rows). */
  rowsRead: number;
  rowsRejected: number;
  /** Rows committed to the queue: rowsRead less rowsRejected (less rows of a flush a stop abandoned). */
  goodRows: number;
  /** Rows of this source rejected in all runs, this one included (a resumed run may reject none itself). */
  sourceRowsRejected: number;
  messages: number;
  seconds: number;
  rowsPerSecond: number;
  /** The first rejections of this run, with line numbers and reasons. */
  rejections: RejectedRow[];
  /** Why the source stopped, when it failed (unreadable, not a DCGM export, claimed by another streamer…). */
  failure?: string;
  /** The error code of the failure (BAD_INPUT: the source; BAD_CONFIG: the settings; CONFLICT: claimed elsewhere…). */
  failureCode?: ErrorCode;
}

export type StreamerState = 'idle' | 'running' | 'done' | 'failed' | 'stopped';

/** How far a run has read, for progress displays (the summary's counters, as of the source's last yield). */
export interface StreamProgress {
  /** Data rows read in this run, good and rejected. */
  rowsRead: number;
  /** Byte of a file the source has read up to (0 for a source without bytes). */
  byteOffset: number;
  /** Byte where this run started (the committed offset it resumed from). */
  resumedFromByte: number;
  /** When reading began (performance.now()), after the source was claimed. */
  startedAtMs: number;
}

export class Streamer {
  private readonly controller = new AbortController();
  private running: Promise<StreamSummary> | undefined;
  private stateNow: StreamerState = 'idle';
  private failure: string | undefined;
  private failureCode: ErrorCode | undefined;
  private producer: QueueProducer | undefined;
  private progressNow: StreamProgress | undefined;
  readonly sourceId: string;

  constructor(
    private readonly kv: KvStore,
    private readonly keys: KeySpace,
    private readonly options: StreamerOptions,
  ) {
    this.sourceId = options.sourceId ?? options.source.id;
  }

  get state(): StreamerState {
    return this.stateNow;
  }

  /**
   * Streams the source until it ends (a file read once), fails, or stop() is
   * called, and resolves with what it did; never rejects: a failure is in
   * `summary.failure`. Calling it again returns the same run.
   */
  run(): Promise<StreamSummary> {
    this.running ??= this.runOnce();
    return this.running;
  }

  /** Stops a run: aborts the source, a backpressure or rate wait, and a claim wait; resolves when the run has ended. Safe before run and twice. */
  async stop(): Promise<void> {
    this.controller.abort(new GputelError('INTERNAL', 'the streamer was stopped'));
    if (this.running) await this.running;
    else if (this.stateNow === 'idle') this.stateNow = 'stopped';
  }

  /** How far the current run has read; undefined before it reads (and once it ended, the last value). Updated at each yield of the source, not per row. */
  progress(): StreamProgress | undefined {
    return this.progressNow;
  }

  /**
   * For /readyz: fails, naming the source and the reason, once the source
   * failed, and while commits to the queue fail (the store is down; they are
   * retried until it is back, and the check passes again by itself).
   */
  readinessCheck(): ReadinessCheck {
    return {
      name: `source ${this.options.source.location}`,
      check: async () => {
        if (this.failure !== undefined) throw new GputelError('BAD_INPUT', this.failure);
        const failing = this.producer?.failing;
        if (failing !== undefined) {
          const seconds = Math.round((Date.now() - failing.since) / 1000);
          throw new GputelError(
            'KV_UNAVAILABLE',
            `commits to the queue have failed for ${seconds} s (${failing.attempts} tries): ${errorMessage(failing.error)}; retrying until the store answers again`,
            { retryable: true },
          );
        }
      },
    };
  }

  private async runOnce(): Promise<StreamSummary> {
    const { source, cluster, topic, partitions } = this.options;
    // Settings, not numbers: each is read where it is used, so a live change applies from the next row on.
    const batchSamples = settingOf(this.options.batchSamples);
    const sourceId = this.sourceId;
    const signal = this.controller.signal;
    const logger = this.options.logger.child({ role: 'streamer', sourceId });
    // Reset once the source is claimed: rows/s measures reading, not waiting for a dead predecessor's claim to lapse.
    let startedAt = performance.now();
    this.stateNow = 'running';

    const rejections: RejectedRow[] = [];
    let goodRows = 0;
    let rowsRejected = 0;
    let resumedFromByte = 0;
    let messagesBefore = 0;
    let producer: QueueProducer | undefined;
    let claim: SourceClaim | undefined;
    const summary = (): StreamSummary => {
      const seconds = (performance.now() - startedAt) / 1000;
      return {
        location: source.location,
        sourceId,
        resumable: source.resumable,
        resumedFromByte,
        rowsRead: goodRows + rowsRejected,
        rowsRejected,
        goodRows,
        sourceRowsRejected: producer ? producer.committed.rowsRejected : rowsRejected,
        messages: producer ? producer.committed.messages - messagesBefore : 0,
        seconds,
        rowsPerSecond: seconds > 0 ? (goodRows + rowsRejected) / seconds : 0,
        rejections,
        failure: this.failure,
        failureCode: this.failureCode,
      };
    };

    if (signal.aborted) {
      // Stopped before its turn (sources streamed in turn): nothing read, nothing claimed.
      this.stateNow = 'stopped';
      return summary();
    }
    try {
      claim = await SourceClaim.acquire(this.kv, this.keys, {
        topic,
        sourceId,
        location: source.location,
        ttlSeconds: this.options.claimTtlSeconds,
        waitMs: this.options.claimWaitMs,
        logger,
        signal,
      });
      producer = new QueueProducer(this.kv, this.keys, {
        topic,
        partitions,
        highWatermark: this.options.highWatermark,
        lowWatermark: this.options.lowWatermark,
        sourceId,
        location: source.location,
        logger,
      });
      this.producer = producer;
      const start = await producer.resume();
      startedAt = performance.now();
      const progress: StreamProgress = { rowsRead: 0, byteOffset: 0, resumedFromByte: 0, startedAtMs: startedAt };
      this.progressNow = progress;
      messagesBefore = start.messages;
      const stored = resumePositionOf(start);
      // A source that cannot resume starts anew; the checkpoint still orders its commits.
      const from = source.resumable ? stored : null;
      if (stored !== null && !source.resumable) logger.info({ location: source.location }, 'this source cannot resume: reading it anew');

      const accumulator = new BatchAccumulator(cluster, sourceId, partitions);
      const enrichment = new RowEnrichment({ maxClockSkewMs: this.options.maxClockSkewMs });
      let unloggedRejections = 0;
      let lastUnlogged: RejectedRow | undefined;
      const reject = (rejected: RejectedRow): void => {
        rowsRejected++;
        if (rejections.length < REJECTIONS_KEPT) {
          rejections.push(rejected);
          logger.warn({ location: source.location, line: rejected.lineNumber, reason: rejected.reason }, 'row rejected');
        } else {
          // A file of bad rows must not become a log line per row: counted, and summed up at the next flush.
          unloggedRejections++;
          lastUnlogged = rejected;
        }
      };
      const sink: RowSink = {
        row: (row: DcgmRow) => {
          const reason = enrichment.apply(row);
          if (reason !== undefined) {
            reject({ lineNumber: row.lineNumber, byteOffset: -1, reason });
            return;
          }
          try {
            accumulator.add(row);
          } catch (error) {
            reject({ lineNumber: row.lineNumber, byteOffset: -1, reason: errorMessage(error) });
            return;
          }
          goodRows++;
        },
        reject,
      };

      let committedGood = 0;
      let committedRejected = 0;
      const sourceLabel = sourceLabels.valueOf(sourceId);
      let committedPosition = JSON.stringify(from);
      let pendingSince = 0;
      const flush = async (position: SourcePosition, flushSignal: AbortSignal): Promise<void> => {
        // Counted before the commit: a live source may deliver more rows while it is in flight.
        const good = goodRows;
        const rejected = rowsRejected;
        const batches = accumulator.take();
        const correlationId = await producer!.commit(
          batches,
          {
            byteOffset: numberIn(position, 'byteOffset', 0),
            nextLineNumber: numberIn(position, 'nextLineNumber', 1),
            rowsRead: start.rowsRead + good,
            rowsRejected: start.rowsRejected + rejected,
            position,
          },
          flushSignal,
        );
        goodRowsTotal.inc({ source: sourceLabel }, good - committedGood);
        rowsRejectedTotal.inc({ source: sourceLabel }, rejected - committedRejected);
        if (unloggedRejections > 0) {
          logger.warn(
            { location: source.location, rows: unloggedRejections, lastLine: lastUnlogged?.lineNumber, lastReason: lastUnlogged?.reason, correlationId },
            `more rows rejected (the first ${REJECTIONS_KEPT} of a run are logged one by one)`,
          );
          unloggedRejections = 0;
        }
        committedGood = good;
        committedRejected = rejected;
        committedPosition = JSON.stringify(position);
      };

      const maxRowsPerSecond = settingOf(this.options.maxRowsPerSecond ?? 0);
      let bucket: TokenBucket | undefined;
      const flushIntervalMs = settingOf(this.options.flushIntervalMs ?? 1_000);
      let position: SourcePosition = from;
      let delivered = 0;
      /** Rows (good and rejected) that `position`, the last yielded one, covers. */
      let deliveredAtYield = 0;
      let first = true;
      let abandoned = false;
      const flushAt = async (at: SourcePosition): Promise<void> => {
        pendingSince = 0;
        try {
          await flush(at, signal);
        } catch (error) {
          // A flush cut short by stop wrote nothing; nothing after it may be committed either.
          if (signal.aborted) abandoned = true;
          throw error;
        }
      };
      // The source gets its own signal so that it also ends when this loop
      // fails while a read is in flight (a flush on the timer, below).
      const sourceController = new AbortController();
      const stopSource = (): void => sourceController.abort(signal.reason);
      signal.addEventListener('abort', stopSource, { once: true });
      const iterator = source.read(from, sink, sourceController.signal)[Symbol.asyncIterator]();
      let pendingNext: Promise<IteratorResult<SourcePosition>> | undefined;
      let waitForYield = false;
      try {
        for (;;) {
          pendingNext ??= iterator.next();
          // A live source (scrape, nvidia-smi) yields once per interval: rows
          // waiting for a flush must not wait for the next yield, so the
          // wait for it is raced against what is left of flushIntervalMs.
          const result = pendingSince !== 0 && !waitForYield
            ? await within(pendingNext, flushIntervalMs.value - (performance.now() - pendingSince))
            : await pendingNext;
          if (result === undefined) {
            // The flush interval passed first. The last yielded position
            // covers no row delivered after that yield (source.ts), so flush
            // now only when there are none; otherwise the source is mid-way
            // through delivering rows and yields soon: wait for that yield.
            // (Splitting the pending rows at the yield would need a second
            // accumulator for a case that lasts one read.)
            if (goodRows + rowsRejected === deliveredAtYield) await flushAt(position);
            else waitForYield = true;
            continue;
          }
          pendingNext = undefined;
          waitForYield = false;
          if (result.done === true) break;
          const next = result.value;
          position = next;
          const deliveredNow = goodRows + rowsRejected;
          deliveredAtYield = deliveredNow;
          if (first) {
            first = false;
            // Where the source really started (it may start a different file over): its first position, if no row came before it.
            if (deliveredNow === 0) resumedFromByte = numberIn(next, 'byteOffset', 0);
            progress.resumedFromByte = resumedFromByte;
          }
          progress.rowsRead = deliveredNow;
          progress.byteOffset = numberIn(next, 'byteOffset', progress.byteOffset);
          if (deliveredNow > delivered) {
            const rate = maxRowsPerSecond.value;
            if (rate > 0) {
              bucket ??= new TokenBucket(rate);
              bucket.setRate(rate);
              await bucket.take(deliveredNow - delivered, signal);
            }
            if (pendingSince === 0) pendingSince = performance.now();
            delivered = deliveredNow;
          }
          const due = accumulator.samples >= batchSamples.value || accumulator.estimatedBytes >= MAX_FLUSH_BYTES ||
            (pendingSince !== 0 && performance.now() - pendingSince >= flushIntervalMs.value);
          if (due) await flushAt(next);
        }
      } catch (error) {
        if (!signal.aborted) throw error;
      } finally {
        signal.removeEventListener('abort', stopSource);
        sourceController.abort(signal.reason);
        await pendingNext?.catch(() => undefined);
        await iterator.return?.(undefined)?.catch(() => undefined);
      }
      if (!abandoned && (goodRows + rowsRejected > committedGood + committedRejected || JSON.stringify(position) !== committedPosition)) {
        await flush(position, signal.aborted ? AbortSignal.timeout(STOP_FLUSH_MS) : signal).catch((error: unknown) => {
          if (!signal.aborted) throw error;
          logger.warn({ err: error }, 'the last rows read before stop were not committed; the next run reads them again');
        });
      }
      this.stateNow = signal.aborted ? 'stopped' : 'done';
    } catch (error) {
      if (signal.aborted && !(error instanceof GputelError && error.code !== 'INTERNAL')) {
        this.stateNow = 'stopped';
      } else {
        this.failure = errorMessage(error);
        this.failureCode = error instanceof GputelError ? error.code : 'INTERNAL';
        this.stateNow = 'failed';
        sourcesFailed.inc();
        logger.error({ err: error, location: source.location }, 'the source failed');
      }
    } finally {
      await claim?.release().catch((error: unknown) => logger.warn({ err: error }, 'releasing the source claim failed; it expires with its lease'));
    }
    return summary();
  }
}

/** What `promise` resolves to if it settles within `ms`, else undefined. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  if (ms <= 0) return undefined;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, ms, undefined);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A number field of a position, or the fallback (positions are the source's own JSON). */
function numberIn(position: SourcePosition, field: string, fallback: number): number {
  const value = position?.[field];
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : fallback;
}
