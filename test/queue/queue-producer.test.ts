/**
 * The producer never overwrites a queued message: message ids of two sources
 * could collide (the source's tag is a 32-bit hash), so every message key of
 * a commit must not exist yet.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../src/common/logger.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore, TxnRequest } from '../../src/kv/kv-store.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { QueueProducer } from '../../src/queue/queue-producer.js';
import { oneSampleBatch } from '../support/telemetry-batches.js';

const logger = createLogger('silent');

test('a commit whose message key already exists is refused with CONFLICT, and the queued message is left as it was', async () => {
  const real = await openKvStore({ dataDir: ':memory:' });
  const keys = new KeySpace('/g');
  const queued = keys.partitionPrefix('t', 0);
  let collided: string | undefined;
  // Another writer creates the very key this commit is about to write, just before it.
  const kv: KvStore = Object.assign(Object.create(real) as KvStore, {
    txn: async (request: TxnRequest) => {
      const put = request.success?.find((op) => op.type === 'put' && op.key.startsWith(queued));
      if (put?.type === 'put' && collided === undefined) {
        collided = put.key;
        await real.put(put.key, Buffer.from('another source'));
      }
      return real.txn(request);
    },
  });
  try {
    const producer = new QueueProducer(kv, keys, { topic: 't', partitions: 1, highWatermark: 10, sourceId: 's', location: 'x', logger });
    await producer.resume();
    await assert.rejects(
      producer.commit(new Map([[0, oneSampleBatch()]]), { byteOffset: 1, nextLineNumber: 2, rowsRead: 1, rowsRejected: 0 }),
      (error: Error & { code?: string }) => error.code === 'CONFLICT' && /message key of this commit already exists/.test(error.message),
    );
    assert.equal((await real.get(collided!))?.value.toString(), 'another source');
    assert.equal(producer.committed.sequence, 0, 'nothing was committed');
  } finally {
    await real.close();
  }
});
