/**
 * The streamer role for a DCGM CSV file: parses it in pieces (never the whole
 * file), batches samples per partition and commits each flush together with
 * the file position. A restart resumes after the last committed flush; a
 * file already streamed to its end streams nothing again.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { errorMessage, GputelError } from '../common/gputel-error.js';
import type { Logger } from '../common/logger.js';
import { counter } from '../common/metrics.js';
import { DcgmCsvParser } from '../ingest/dcgm-csv-parser.js';
import type { RejectedRow } from '../ingest/dcgm-row.js';
import type { KeySpace } from '../kv/key-space.js';
import type { KvStore } from '../kv/kv-store.js';
import { fnv1a } from '../queue/partitioner.js';
import { QueueProducer } from '../queue/queue-producer.js';
import { BatchAccumulator } from './batch-accumulator.js';

const goodRowsTotal = counter('gputel_streamer_rows_total', 'Good rows read from sources and committed to the queue');
const rowsRejectedTotal = counter('gputel_streamer_rows_rejected_total', 'Rows refused by validation');

/** Flushes stay well under etcd's request limit whatever the batch size. */
const MAX_FLUSH_BYTES = 700_000;
const READ_PIECE_BYTES = 256 * 1024;
const PARSE_SLICE_BYTES = 16 * 1024;
/** Rejections kept for the summary; every one is logged regardless. */
const REJECTIONS_KEPT = 100;

export interface FileStreamerOptions {
  file: string;
  cluster: string;
  topic: string;
  partitions: number;
  batchSamples: number;
  highWatermark: number;
  /** Defaults to the file's name plus a hash of its absolute path. */
  sourceId?: string;
  logger: Logger;
}

export interface StreamSummary {
  file: string;
  sourceId: string;
  /** Where this run started (0, or the committed offset it resumed from). */
  resumedFromByte: number;
  /** Data rows read in this run: good and rejected (headers and blank lines are not rows). */
  rowsRead: number;
  rowsRejected: number;
  /** Rows committed to the queue: rowsRead less rowsRejected. */
  goodRows: number;
  /** Rows of this source rejected in all runs, this one included (a resumed run may reject none itself). */
  sourceRowsRejected: number;
  messages: number;
  seconds: number;
  rowsPerSecond: number;
  /** The first rejections of this run, with line numbers and reasons. */
  rejections: RejectedRow[];
}

/** A stable source id for a file: readable, and distinct for files of one name in different folders. */
export function fileSourceId(file: string): string {
  const path = resolve(file);
  return `file-${basename(path)}-${fnv1a(path).toString(16).padStart(8, '0')}`;
}

export class FileStreamer {
  private stopped = false;

  constructor(
    private readonly kv: KvStore,
    private readonly keys: KeySpace,
    private readonly options: FileStreamerOptions,
  ) {}

  /** Asks a running stream to stop after the flush in progress; the checkpoint keeps its place. */
  stop(): void {
    this.stopped = true;
  }

  /** Streams the file to its end (or until stop) and resolves with what it did. */
  async run(): Promise<StreamSummary> {
    const { file, cluster, topic, partitions, batchSamples } = this.options;
    const sourceId = this.options.sourceId ?? fileSourceId(file);
    const logger = this.options.logger.child({ role: 'streamer', sourceId });
    const size = await stat(file).then(
      (s) => s.size,
      (error: NodeJS.ErrnoException) => {
        throw new GputelError('BAD_INPUT', `cannot read ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
      },
    );
    const producer = new QueueProducer(this.kv, this.keys, {
      topic,
      partitions,
      highWatermark: this.options.highWatermark,
      sourceId,
      location: resolve(file),
      logger,
    });
    const start = await producer.resume();
    if (start.byteOffset > size) {
      throw new GputelError(
        'BAD_INPUT',
        `${file} has ${size} bytes but source ${sourceId} was committed up to byte ${start.byteOffset}: the file was replaced or truncated; stream it under a new --source-id`,
      );
    }
    if (start.byteOffset > 0) logger.info({ byteOffset: start.byteOffset, line: start.nextLineNumber }, 'resuming after the last committed flush');

    const startedAt = performance.now();
    const accumulator = new BatchAccumulator(cluster, sourceId, partitions);
    const rejections: RejectedRow[] = [];
    let goodRows = 0;
    let rowsRejected = 0;
    const reject = (rejected: RejectedRow): void => {
      rowsRejected++;
      if (rejections.length < REJECTIONS_KEPT) rejections.push(rejected);
      logger.warn({ file, line: rejected.lineNumber, reason: rejected.reason }, 'row rejected');
    };
    const parser = new DcgmCsvParser({
      startOffset: start.byteOffset,
      startLineNumber: start.nextLineNumber,
      headerSeen: start.byteOffset > 0,
      onRow: (row) => {
        try {
          accumulator.add(row);
        } catch (error) {
          reject({ lineNumber: row.lineNumber, byteOffset: -1, reason: errorMessage(error) });
          return;
        }
        goodRows++;
      },
      onReject: reject,
    });

    let committedRead = 0;
    let committedRejected = 0;
    const flush = async (): Promise<void> => {
      await producer.commit(accumulator.take(), {
        byteOffset: parser.committedOffset,
        nextLineNumber: parser.nextLineNumber,
        rowsRead: start.rowsRead + goodRows,
        rowsRejected: start.rowsRejected + rowsRejected,
      });
      goodRowsTotal.inc(goodRows - committedRead);
      rowsRejectedTotal.inc(rowsRejected - committedRejected);
      committedRead = goodRows;
      committedRejected = rowsRejected;
    };

    const stream = createReadStream(file, { start: start.byteOffset, highWaterMark: READ_PIECE_BYTES });
    try {
      for await (const piece of stream) {
        // Parse in slices so that a flush comes within ~30 rows of the batch size.
        for (let offset = 0; offset < (piece as Buffer).length && !this.stopped; offset += PARSE_SLICE_BYTES) {
          parser.push((piece as Buffer).subarray(offset, offset + PARSE_SLICE_BYTES));
          if (accumulator.samples >= batchSamples || accumulator.estimatedBytes >= MAX_FLUSH_BYTES) await flush();
        }
        if (this.stopped) break;
      }
      if (!this.stopped) parser.end();
      if (parser.committedOffset > producer.committed.byteOffset || accumulator.samples > 0) await flush();
    } finally {
      stream.destroy();
    }

    const seconds = (performance.now() - startedAt) / 1000;
    return {
      file,
      sourceId,
      resumedFromByte: start.byteOffset,
      rowsRead: goodRows + rowsRejected,
      rowsRejected,
      goodRows,
      sourceRowsRejected: producer.committed.rowsRejected,
      messages: producer.committed.messages - start.messages,
      seconds,
      rowsPerSecond: seconds > 0 ? (goodRows + rowsRejected) / seconds : 0,
      rejections,
    };
  }
}
