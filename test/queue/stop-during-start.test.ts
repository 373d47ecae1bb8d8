/**
 * stop() called while start() is still running (a collector asked to shut
 * down as it starts): whatever step start() is at, nothing is left behind
 * (no watch, no lease, no interval timer doing store calls afterwards).
 * stop() used to clean up only what existed when it ran, and start() then
 * went on to create watches, a lease and timers that nobody ended.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../src/common/logger.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore, Lease, Watcher } from '../../src/kv/kv-store.js';
import { QueueConsumer } from '../../src/queue/queue-consumer.js';
import { useEtcdStore } from '../support/etcd-store.js';

const TOPIC = 'telemetry';

/** The real store, counting calls, open watches and unrevoked leases, calling `onCall` as each call starts. */
function tracked(store: KvStore, onCall: (n: number) => void): { kv: KvStore; calls: () => number; openWatches: () => number; openLeases: () => number } {
  let calls = 0;
  let watches = 0;
  let leases = 0;
  const count = (): void => onCall(++calls);
  const kv: KvStore = Object.assign(Object.create(store) as KvStore, {
    get: (...args: Parameters<KvStore['get']>) => (count(), store.get(...args)),
    range: (...args: Parameters<KvStore['range']>) => (count(), store.range(...args)),
    put: (...args: Parameters<KvStore['put']>) => (count(), store.put(...args)),
    delete: (...args: Parameters<KvStore['delete']>) => (count(), store.delete(...args)),
    txn: (...args: Parameters<KvStore['txn']>) => (count(), store.txn(...args)),
    watch: async (...args: Parameters<KvStore['watch']>): Promise<Watcher> => {
      count();
      const watcher = await store.watch(...args);
      watches++;
      let cancelled = false;
      return {
        cancel: async () => {
          if (!cancelled) watches--;
          cancelled = true;
          await watcher.cancel();
        },
      };
    },
    grantLease: async (ttl: number): Promise<Lease> => {
      count();
      const lease = await store.grantLease(ttl);
      leases++;
      let revoked = false;
      return {
        id: lease.id,
        onLost: (handler) => lease.onLost(handler),
        revoke: async () => {
          if (!revoked) leases--;
          revoked = true;
          await lease.revoke();
        },
      };
    },
  });
  return { kv, calls: () => calls, openWatches: () => watches, openLeases: () => leases };
}

describe('stop() during start()', { timeout: 60_000 }, () => {
  const etcdStore = useEtcdStore();

  it('leaves no watch, lease or timer behind, whichever etcdStore.store call start() is at', async () => {
    // Store calls of one start() are well under 20: stopping at each of them covers every await in start().
    for (let stopAt = 1; stopAt <= 20; stopAt++) {
      const keys = new KeySpace(`/stop-${stopAt}`);
      let stopped: Promise<void> | undefined;
      const probe = tracked(etcdStore.store, (n) => {
        if (n === stopAt) stopped = consumer.stop();
      });
      const consumer = new QueueConsumer(probe.kv, keys, async () => undefined, { topic: TOPIC, partitions: 2, consumerId: 'c', logger: createLogger('silent'), leaseTtlSeconds: 3 });
      await consumer.start();
      await (stopped ?? consumer.stop());
      const callsAfterStop = probe.calls();
      await sleep(1_300); // longer than the reconcile and registration timers' period (1 s)
      assert.equal(probe.openWatches(), 0, `stop at call ${stopAt}: open watches`);
      assert.equal(probe.openLeases(), 0, `stop at call ${stopAt}: unrevoked leases`);
      assert.equal(probe.calls(), callsAfterStop, `stop at call ${stopAt}: etcdStore.store calls after stop (a timer left running)`);
      assert.equal((await etcdStore.store.range({ prefix: keys.membersPrefix(TOPIC) })).count, 0, `stop at call ${stopAt}: member key left`);
    }
  });

  it('stop() right after start() ends cleanly', async () => {
    const keys = new KeySpace('/stop-now');
    const probe = tracked(etcdStore.store, () => undefined);
    const consumer = new QueueConsumer(probe.kv, keys, async () => undefined, { topic: TOPIC, partitions: 2, consumerId: 'c', logger: createLogger('silent'), leaseTtlSeconds: 3 });
    const started = consumer.start();
    await consumer.stop();
    await started;
    const callsAfterStop = probe.calls();
    await sleep(1_300);
    assert.equal(probe.openWatches(), 0);
    assert.equal(probe.openLeases(), 0);
    assert.equal(probe.calls(), callsAfterStop);
  });
});
