/**
 * Commits go on through store outages: retryable errors are retried without
 * a time limit (a backpressure wait does not count as failing), and while
 * they fail the streamer's readiness says why instead of the source failing.
 * Faults are injected around the embedded store's txn.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../src/common/logger.js';
import { GputelError } from '../../src/common/gputel-error.js';
import type { Source } from '../../src/ingest/source.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore, TxnRequest } from '../../src/kv/kv-store.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { QueueProducer } from '../../src/queue/queue-producer.js';
import { oneSampleBatch } from '../support/telemetry-batches.js';
import { Streamer } from '../../src/streamer/streamer.js';

const logger = createLogger('silent');

function isDepthRead(req: TxnRequest): boolean {
  return (req.compare ?? []).length === 0 && (req.success ?? []).every((op) => op.type === 'range');
}

test('a transient error right after a long backpressure wait is retried, not fatal', async () => {
  const real = await openKvStore({ dataDir: ':memory:' });
  const keys = new KeySpace('/g');
  let armed = false;
  let writes = 0;
  let fullUntil = 0;
  const kv: KvStore = Object.assign(Object.create(real) as KvStore, {
    txn: async (req: TxnRequest) => {
      if (armed && isDepthRead(req)) {
        // The partition stays full (collectors down) for a while, then drains.
        const count = Date.now() < fullUntil ? 1_000 : 0;
        return { succeeded: true, revision: 1, results: req.success!.map(() => ({ type: 'range', result: { kvs: [], count, revision: 1, more: false } })) };
      }
      if (armed && ++writes === 1) throw new GputelError('KV_UNAVAILABLE', 'etcdserver: leader changed', { retryable: true });
      return real.txn(req);
    },
  });
  try {
    const producer = new QueueProducer(kv, keys, { topic: 't', partitions: 1, highWatermark: 10, sourceId: 's', location: 'x', logger });
    await producer.resume();
    armed = true;
    // The retry deadline used to start before the backpressure wait, so a wait longer than it left no retry for
    // the error after it (the reviewer showed it with a 1 s deadline; there is no deadline now).
    fullUntil = Date.now() + 1_500;
    await producer.commit(new Map([[0, oneSampleBatch()]]), { byteOffset: 1, nextLineNumber: 2, rowsRead: 1, rowsRejected: 0 });
    assert.equal(writes, 2, 'the failed write was tried again');
    assert.equal(producer.committed.sequence, 1);
    assert.equal(producer.failing, undefined);
    const { count } = await real.range({ prefix: keys.partitionPrefix('t', 0) }, { countOnly: true });
    assert.equal(count, 1, 'one message in, one message on the queue');
  } finally {
    await real.close();
  }
});

test('while commits fail the streamer is not ready (naming why) and keeps retrying; once the store is back every row is committed', async () => {
  const real = await openKvStore({ dataDir: ':memory:' });
  const keys = new KeySpace('/g');
  let down = false;
  let failedWrites = 0;
  const checkpointKey = keys.checkpoint('t', 'outage');
  const kv: KvStore = Object.assign(Object.create(real) as KvStore, {
    txn: async (req: TxnRequest) => {
      // Only commits (they compare the checkpoint) fail: the claim and its lease stay, as when etcd drops requests briefly.
      if (down && (req.compare ?? []).some((c) => c.key === checkpointKey)) {
        failedWrites++;
        throw new GputelError('KV_UNAVAILABLE', 'etcd is unreachable at 127.0.0.1:1', { retryable: true });
      }
      return real.txn(req);
    },
  });
  const ROWS = 5;
  let yielded = 0;
  const source: Source = {
    id: 'outage', location: 'outage-source', resumable: false,
    async *read(_from, sink, signal) {
      for (let i = 0; i < ROWS && !signal.aborted; i++) {
        sink.row({ lineNumber: i + 1, timestampMs: Date.now(), metricName: 'DCGM_FI_DEV_GPU_TEMP', sourceMetricName: 'DCGM_FI_DEV_GPU_TEMP', gpuId: 0, device: 'nvidia0', uuid: 'GPU-1', modelName: 'm', hostname: 'h', container: '', pod: '', namespace: '', value: i, labelsRaw: '' });
        yielded++;
        yield { i };
      }
    },
  };
  const streamer = new Streamer(kv, keys, { source, cluster: 'default', topic: 't', partitions: 1, batchSamples: 1, highWatermark: 1_000, claimTtlSeconds: 60, logger });
  try {
    down = true;
    const run = streamer.run();
    const check = streamer.readinessCheck();
    let notReady: Error | undefined;
    for (let i = 0; i < 200 && notReady === undefined; i++) {
      await sleep(20);
      notReady = await check.check().then(() => undefined, (e: Error) => e);
    }
    assert.ok(notReady instanceof GputelError && notReady.code === 'KV_UNAVAILABLE', `readiness fails while commits fail: ${String(notReady)}`);
    assert.match(notReady.message, /etcd is unreachable at 127\.0\.0\.1:1/);
    // Several tries fail, far more than one; the source must not be marked failed.
    while (failedWrites < 4) await sleep(20);
    assert.equal(streamer.state, 'running');
    // Depth reads answered between the failed writes (reads work while writes fail, as under NOSPACE): the
    // streak goes on, counted from the first failure, and readiness keeps failing.
    const streak = (await check.check().then(() => undefined, (e: Error) => e))?.message ?? 'ready';
    assert.match(streak, new RegExp(`\\((?:[4-9]|\\d{2,}) tries\\)`), streak);
    down = false;
    const summary = await run;
    assert.equal(summary.failure, undefined);
    assert.equal(summary.goodRows, ROWS);
    await check.check();
    const { count } = await real.range({ prefix: keys.partitionPrefix('t', 0) }, { countOnly: true });
    assert.equal(count, ROWS, `${yielded} rows read, one message per row on the queue`);
  } finally {
    await streamer.stop();
    await real.close();
  }
});
