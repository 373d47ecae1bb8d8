/**
 * A message that fails the same way every time with an error a retry cannot
 * heal (here KV_REQUEST_TOO_LARGE) used to be retried forever, stalling every
 * host of its partition. Now it is dead-lettered after MAX_SAME_FAILURES
 * tries with its reason; an error a retry may heal is still retried.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GputelError } from '../../src/common/gputel-error.js';
import { createLogger } from '../../src/common/logger.js';
import { KeySpace } from '../../src/kv/key-space.js';
import { DeadLetterQueue } from '../../src/queue/dead-letter-queue.js';
import { messageId } from '../../src/queue/message-id.js';
import { MAX_SAME_FAILURES } from '../../src/queue/partition-worker.js';
import { QueueConsumer } from '../../src/queue/queue-consumer.js';
import { useEtcdStore } from '../support/etcd-store.js';
import { waitFor } from '../support/wait-for.js';

const TOPIC = 'telemetry';

describe('a message failing the same way every time', { timeout: 60_000 }, () => {
  const etcdStore = useEtcdStore();

  it('is dead-lettered with its reason after a few tries, and the partition goes on; failures that say nothing about the message are retried', async () => {
    const keys = new KeySpace('/repeated');
    const tooLarge = messageId(Date.now(), '0000abcd', 1);
    const flaky = messageId(Date.now(), '0000abcd', 2);
    const good = messageId(Date.now(), '0000abcd', 3);
    const attempts = new Map<string, number>();
    const handled: string[] = [];
    const consumer = new QueueConsumer(etcdStore.store, keys, async (message) => {
      const attempt = (attempts.get(message.messageId) ?? 0) + 1;
      attempts.set(message.messageId, attempt);
      if (message.messageId === tooLarge) throw new GputelError('KV_REQUEST_TOO_LARGE', 'injected: the write is over the request limit');
      // More failures in a row than a message-made error is allowed, none of them about the message: etcd away
      // (retryable), and an error the driver did not recognise (KV_FAILED, e.g. a gRPC stream reset of a restart).
      if (message.messageId === flaky && attempt <= MAX_SAME_FAILURES + 1) {
        throw attempt % 2 === 1
          ? new GputelError('KV_FAILED', 'injected: 13 INTERNAL: an unrecognised failure')
          : new GputelError('KV_UNAVAILABLE', 'injected: etcd away', { retryable: true });
      }
      await etcdStore.store.delete({ start: message.key });
      handled.push(message.messageId);
    }, { topic: TOPIC, partitions: 1, consumerId: 'c', logger: createLogger('silent'), leaseTtlSeconds: 3 });
    for (const id of [tooLarge, flaky, good]) await etcdStore.store.put(keys.message(TOPIC, 0, id), Buffer.from(`bytes of ${id}`));
    await consumer.start();
    try {
      await waitFor('the messages after it are handled', 45_000, () => (handled.length === 2 ? true : undefined));
    } finally {
      await consumer.stop();
    }
    assert.deepEqual(handled, [flaky, good]);
    assert.equal(attempts.get(tooLarge), MAX_SAME_FAILURES);
    assert.equal(attempts.get(flaky), MAX_SAME_FAILURES + 2);
    const letters = await new DeadLetterQueue(etcdStore.store, keys, TOPIC).list();
    assert.deepEqual(letters.map((letter) => letter.record.messageId), [tooLarge]);
    assert.match(letters[0].record.reason, new RegExp(`failed ${MAX_SAME_FAILURES} times in a row with KV_REQUEST_TOO_LARGE.*over the request limit`));
    const shown = await new DeadLetterQueue(etcdStore.store, keys, TOPIC).get(tooLarge);
    assert.equal(shown?.record.value.toString(), `bytes of ${tooLarge}`);
    // In and out: every message is either handled or dead-lettered, none left queued.
    assert.equal((await etcdStore.store.range({ prefix: keys.partitionPrefix(TOPIC, 0) })).count, 0);
  });
});
