/**
 * Rows of a live source are committed within flushIntervalMs even when the
 * source yields seldom (scrape and nvidia-smi yield once per interval), and
 * only rows covered by a yielded position are committed with it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { abortableDelay } from '../../src/ingest/abortable-delay.js';
import { createLogger } from '../../src/common/logger.js';
import type { DcgmRow } from '../../src/ingest/dcgm-row.js';
import type { Source } from '../../src/ingest/source.js';
import { KeySpace } from '../../src/kv/key-space.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { decodeMessage } from '../../src/queue/message-codec.js';
import { decodeCheckpoint } from '../../src/queue/source-checkpoint.js';
import { Streamer } from '../../src/streamer/streamer.js';

function row(value: number): DcgmRow {
  return { lineNumber: 0, timestampMs: Date.now(), metricName: 'DCGM_FI_DEV_GPU_TEMP', sourceMetricName: 'DCGM_FI_DEV_GPU_TEMP', gpuId: 0, device: 'nvidia0', uuid: 'GPU-1', modelName: 'm', hostname: 'h', container: '', pod: '', namespace: '', value, labelsRaw: '' };
}

/**
 * Yields once after its first row and then not again until stopped (a scrape
 * interval longer than the test); `uncovered` rows are delivered after that
 * yield with no yield covering them.
 */
function seldomYieldingSource(uncovered: number): Source {
  return {
    id: 'live', location: 'live', resumable: false,
    async *read(_from, sink, signal) {
      sink.row(row(1));
      yield { tick: 1 };
      for (let i = 0; i < uncovered; i++) sink.row(row(100 + i));
      await abortableDelay(600_000, signal);
    },
  };
}

async function runUntilCommitted(uncovered: number): Promise<{ values: number[]; checkpointPosition: unknown; summaryGood: number }> {
  const kv = await openKvStore({ dataDir: ':memory:' });
  const keys = new KeySpace('/g');
  const streamer = new Streamer(kv, keys, { source: seldomYieldingSource(uncovered), cluster: 'default', topic: 't', partitions: 1, batchSamples: 10_000, highWatermark: 100, flushIntervalMs: 200, logger: createLogger('silent') });
  const run = streamer.run();
  try {
    // Bounded wait (not a speed assertion): the source never yields again, so before the fix nothing was ever committed before stop.
    let count = 0;
    for (let i = 0; i < 40 && count === 0; i++) {
      await sleep(50);
      count = (await kv.range({ prefix: keys.partitionPrefix('t', 0) }, { countOnly: true })).count;
    }
    await sleep(300); // a timer flush of the uncovered rows, if any, would land by now
    const { kvs } = await kv.range({ prefix: keys.partitionPrefix('t', 0) });
    const values = kvs.flatMap(({ value }) => [...decodeMessage(value).value]);
    const stored = await kv.get(keys.checkpoint('t', 'live'));
    const checkpointPosition = stored ? decodeCheckpoint(stored.value, 'checkpoint').position : undefined;
    await streamer.stop();
    const summary = await run;
    return { values, checkpointPosition, summaryGood: summary.goodRows };
  } finally {
    await streamer.stop();
    await kv.close();
  }
}

test('a row of a source that yields once per long interval is committed after flushIntervalMs, without waiting for the next yield', async () => {
  const { values, checkpointPosition, summaryGood } = await runUntilCommitted(0);
  assert.deepEqual(values, [1], 'one row in, one on the queue before the source yields again');
  assert.deepEqual(checkpointPosition, { tick: 1 });
  assert.equal(summaryGood, 1);
});

test('rows delivered after the last yield are not committed with its position', async () => {
  const { values, checkpointPosition } = await runUntilCommitted(3);
  // The covered row waits with the uncovered ones for the next yield (none comes): nothing is committed under { tick: 1 }
  // that it does not cover.
  assert.deepEqual(values, []);
  assert.equal(checkpointPosition, undefined);
});
