/**
 * A GraphQL subscription's source: the records of a record-stream
 * subscription as an async iterator, one record per event. mercurius pulls
 * the next record only once the previous one is handed to the socket, so a
 * client that reads slowly lets records queue here: the queue is bounded,
 * and when it is full the oldest records are dropped (counted and logged),
 * so one slow client costs bounded memory and never holds up the stream.
 */
import type { Logger } from '../../common/logger.js';
import { counter } from '../../common/metrics.js';
import type { RecordFilter, StreamedRecord } from '../../store/record-stream.js';
import type { FleetQuery } from '../../store/fleet-query.js';

/** Records queued per subscription at most: 1,000 is over a minute of one GPU at 10 Hz, or a whole 8-GPU host's burst many times over. */
export const MAX_QUEUED_RECORDS = 1000;

const recordsDropped = counter('gputel_gateway_graphql_records_dropped_total', 'Records dropped from GraphQL subscriptions whose client read too slowly');

/**
 * Subscribes to the records `filter` selects; resolves (once the stream
 * follows the store) with an iterator that ends when `return()` is called,
 * which also ends the record-stream subscription and calls `onEnd`. Throws
 * what subscribeRecords throws (GPU_NOT_FOUND, BAD_REQUEST, KV_CLOSED,
 * KV_UNAVAILABLE).
 */
export async function recordFeed(
  query: Pick<FleetQuery, 'subscribeRecords'>,
  filter: RecordFilter,
  logger: Logger,
  options: { maxQueued?: number; onEnd?: () => void } = {},
): Promise<AsyncIterableIterator<StreamedRecord>> {
  const maxQueued = options.maxQueued ?? MAX_QUEUED_RECORDS;
  const queue: StreamedRecord[] = [];
  let head = 0;
  let waiting: ((result: IteratorResult<StreamedRecord>) => void) | undefined;
  let done = false;
  let droppedSinceLog = 0;

  const unsubscribe = await query.subscribeRecords(filter, (records) => {
    for (const record of records) {
      if (done) return;
      if (waiting) {
        const resolve = waiting;
        waiting = undefined;
        resolve({ value: record, done: false });
        continue;
      }
      queue.push(record);
      if (queue.length - head > maxQueued) {
        head++;
        droppedSinceLog++;
        recordsDropped.inc();
      }
    }
    // Compact the consumed prefix now and then instead of shifting per record.
    if (head > maxQueued) {
      queue.splice(0, head);
      head = 0;
    }
    if (droppedSinceLog > 0) {
      logger.warn({ dropped: droppedSinceLog }, 'GraphQL subscriber too slow: oldest queued records dropped');
      droppedSinceLog = 0;
    }
  });

  const finish = (): Promise<IteratorResult<StreamedRecord>> => {
    if (!done) {
      done = true;
      unsubscribe();
      options.onEnd?.();
      queue.length = 0;
      head = 0;
      waiting?.({ value: undefined, done: true });
      waiting = undefined;
    }
    return Promise.resolve({ value: undefined, done: true });
  };

  const iterator: AsyncIterableIterator<StreamedRecord> = {
    next(): Promise<IteratorResult<StreamedRecord>> {
      if (head < queue.length) {
        const value = queue[head++];
        if (head === queue.length) {
          queue.length = 0;
          head = 0;
        }
        return Promise.resolve({ value, done: false });
      }
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
    return: finish,
    throw: finish,
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}
