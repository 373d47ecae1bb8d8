/**
 * A partition with no messages reads an empty page and waits. When a read
 * fails (etcd away), its error is the collector's problem (its /readyz says
 * 503) only until a read works again: a new-user trial found the error of
 * an etcd restart kept for good on every quiet partition, the collector
 * "not ready" while it worked.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GputelError } from '../../src/common/gputel-error.js';
import { createLogger } from '../../src/common/logger.js';
import { KeySpace } from '../../src/kv/key-space.js';
import { QueueConsumer } from '../../src/queue/queue-consumer.js';
import { useEtcdStore } from '../support/etcd-store.js';
import { withOverrides } from '../support/kv-overrides.js';
import { waitFor } from '../support/wait-for.js';

describe('a quiet partition after a failed read', { timeout: 60_000 }, () => {
  const etcdStore = useEtcdStore();

  it('is a problem while its reads fail, and no longer once one works, with no message ever coming', async () => {
    const keys = new KeySpace('/quiet-recovery');
    const queue = keys.partitionPrefix('telemetry', 0);
    let failing = false;
    const kv = withOverrides(etcdStore.store, {
      range: async (range, options) => {
        if (failing && 'prefix' in range && range.prefix === queue) throw new GputelError('KV_UNAVAILABLE', 'injected: etcd away', { retryable: true });
        return etcdStore.store.range(range, options);
      },
    });
    const consumer = new QueueConsumer(kv, keys, async () => undefined, { topic: 'telemetry', partitions: 1, consumerId: 'c', logger: createLogger('silent'), leaseTtlSeconds: 3 });
    await consumer.start();
    try {
      await waitFor('the partition owned and read', 20_000, () => (consumer.problem === undefined ? true : undefined));
      failing = true;
      await waitFor('the failed read reported', 20_000, () => (consumer.problem?.includes('injected: etcd away') ? true : undefined));
      failing = false;
      // No message is ever queued: the next empty read is what must clear it (the worker retries within its backoff).
      await waitFor('the problem cleared by an empty read', 20_000, () => (consumer.problem === undefined ? true : undefined));
    } finally {
      await consumer.stop();
    }
    assert.equal(consumer.problem, undefined);
  });
});
