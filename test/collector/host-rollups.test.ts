/**
 * Host rollups are added to exactly once whatever fails: each rollup records
 * the message that last added to it, so a replay adds nothing to one it
 * already wrote, and nothing is held back in memory for a later message.
 * The reviewer's scenario (130 hosts in one message, more than one
 * transaction holds, then a message failing once), crashes between the
 * rollup writes and the final transaction, and a message dead-lettered
 * after its first rollup transaction and replayed after a newer message,
 * on both store drivers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HostRollups } from '../../src/collector/host-rollups.js';
import { MessageProcessor } from '../../src/collector/message-processor.js';
import { OwnedPartitionCache } from '../../src/collector/owned-partition-cache.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore, TxnRequest } from '../../src/kv/kv-store.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { DeadLetterQueue } from '../../src/queue/dead-letter-queue.js';
import { UtilizationRollup, sumRollupWindow } from '../../src/store/utilization-rollup.js';
import { useEtcdStore } from '../support/etcd-store.js';
import { CLUSTER, MaintenanceFixture, T0, TOPIC, crashingStore, logger, type Sample } from '../support/maintenance-fixture.js';

const keys = new KeySpace('/gputel');
const HOSTS = Array.from({ length: 130 }, (_, i) => `host-${String(i).padStart(3, '0')}`);
const HOUR = 3_600_000;

function util(host: string, timestampMs: number, value: number): Sample {
  return { host, uuid: `GPU-${host}`, metric: 'DCGM_FI_DEV_GPU_UTIL', timestampMs, value };
}

/** Utilisation samples in each host's rollup around T0 (0 when it has none). */
async function rollupCounts(kv: KvStore, hosts: string[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const host of hosts) {
    const stored = await kv.get(keys.rollup(CLUSTER, host));
    const sums = stored ? sumRollupWindow(stored.value, host, T0 - HOUR, T0 + HOUR) : [];
    counts.set(host, sums.reduce((n, s) => n + s.count, 0));
  }
  return counts;
}

/** Hosts whose rollup does not hold `expected` samples, with what it holds. */
async function wrongCounts(kv: KvStore, hosts: string[], expected: number): Promise<string[]> {
  return [...(await rollupCounts(kv, hosts))].filter(([, count]) => count !== expected).map(([host, count]) => `${host}: ${count}`);
}

function isFinalCommit(request: TxnRequest): boolean {
  return request.success?.some((op) => op.type === 'delete') ?? false;
}

/** The rollup transactions of a message: they put rollup keys and delete nothing. */
function isRollupWrite(request: TxnRequest): boolean {
  return !isFinalCommit(request) && (request.success?.some((op) => op.type === 'put' && op.key.startsWith(keys.rollupsPrefix(CLUSTER))) ?? false);
}

function exactlyOnceSuite(open: () => Promise<KvStore>, close: (kv: KvStore) => Promise<void>): void {
  let kv: KvStore;
  let fixture: MaintenanceFixture;
  before(async () => {
    kv = await open();
  });
  after(() => close(kv));

  async function markCount(): Promise<number> {
    return (await kv.range({ prefix: keys.clusterPrefix(CLUSTER) + 'rollup-marks/' }, { countOnly: true })).count;
  }

  /** A fresh cluster and claim for each test: everything under a new root. */
  async function fresh(): Promise<void> {
    await kv.delete({ prefix: '/gputel/' });
    fixture = new MaintenanceFixture(kv, keys);
    await fixture.claim();
  }

  it("adds every host's sample once when a message touches more hosts than one transaction holds and the next message fails once", async () => {
    await fresh();
    await fixture.apply(HOSTS.map((h) => util(h, T0, 50)));
    assert.deepEqual(await wrongCounts(kv, HOSTS, 1), [], 'all 130 rollups written by the message itself, none deferred');

    // Another host's message fails once (its key rewritten under it, as any retryable failure): the cache is dropped.
    const stale = await fixture.queue([util('other', T0 + 10_000, 10)]);
    await kv.put(stale.key, stale.value);
    await assert.rejects(fixture.processor.process(stale), { code: 'CONFLICT' });
    const current = (await kv.get(stale.key))!;
    await fixture.processor.process({ ...stale, modRevision: current.modRevision, value: current.value });

    await fixture.apply(HOSTS.map((h) => util(h, T0 + 20_000, 50)));
    assert.deepEqual(await wrongCounts(kv, HOSTS, 2), [], 'both samples of every host, once');
    assert.deepEqual(await wrongCounts(kv, ['other'], 1), []);
    assert.equal((await fixture.stats()).samples, HOSTS.length * 2 + 1, 'samples in: 261, counted once');
  });

  it('adds nothing twice when a crash falls between the rollup writes and the final transaction', async () => {
    await fresh();
    // The first attempt writes the rollups that need transactions of their own, then its final transaction fails.
    let rollupWrites = 0;
    let crashes = 1;
    const crashing = crashingStore(kv, (request) => {
      if (isRollupWrite(request)) rollupWrites++;
      if (!isFinalCommit(request) || crashes === 0) return false;
      crashes--;
      return true;
    });
    const processor = new MessageProcessor(crashing, keys, TOPIC, logger);
    const message = await fixture.queue(HOSTS.map((h) => util(h, T0, 50)));
    await assert.rejects(processor.process(message), { code: 'KV_UNAVAILABLE' });
    assert.ok(rollupWrites >= 1, 'some rollups were written before the final transaction');
    const written = [...(await rollupCounts(kv, HOSTS)).values()].filter((count) => count === 1).length;
    assert.ok(written > 0 && written < HOSTS.length, `part of the rollups are written (${written}), the rest ride in the failed final transaction`);
    assert.equal((await fixture.stats()).samples, 0, 'nothing counted yet');

    // Replayed by the same processor (its cache dropped by the failure) and, after a second crash, by a restarted one.
    await processor.process(message);
    assert.deepEqual(await wrongCounts(kv, HOSTS, 1), [], 'the replay added only what the crash left out');
    assert.equal((await fixture.stats()).samples, HOSTS.length);

    const second = await fixture.queue(HOSTS.map((h) => util(h, T0 + 10_000, 20)));
    crashes = 1;
    await assert.rejects(processor.process(second), { code: 'KV_UNAVAILABLE' });
    await new MessageProcessor(kv, keys, TOPIC, logger).process(second);
    assert.deepEqual(await wrongCounts(kv, HOSTS, 2), [], 'a restarted collector adds nothing twice either');
    assert.equal((await fixture.stats()).samples, HOSTS.length * 2, 'samples in: 260, counted once');
  });

  it('adds nothing twice when a crash falls between two rollup transactions', async () => {
    await fresh();
    let seen = 0;
    const crashing = crashingStore(kv, (request) => isRollupWrite(request) && ++seen === 2);
    const message = await fixture.queue([...HOSTS, ...HOSTS.map((h) => `${h}-b`)].map((h) => util(h, T0, 30)));
    await assert.rejects(new MessageProcessor(crashing, keys, TOPIC, logger).process(message), { code: 'KV_UNAVAILABLE' });
    await fixture.processor.process(message);
    const all = [...HOSTS, ...HOSTS.map((h) => `${h}-b`)];
    assert.deepEqual(await wrongCounts(kv, all, 1), []);
    assert.equal((await fixture.stats()).samples, all.length);
    assert.equal(await markCount(), 0, 'the final transaction deleted the marks');
  });

  it('adds nothing twice when a message dead-lettered after its first rollup transaction is replayed after a newer one', async () => {
    await fresh();
    const crashing = crashingStore(kv, isFinalCommit);
    const message = await fixture.queue(HOSTS.map((h) => util(h, T0, 50)));
    await assert.rejects(new MessageProcessor(crashing, keys, TOPIC, logger).process(message), { code: 'KV_UNAVAILABLE' });
    assert.ok(await markCount() > 0, 'the rollups written before the final transaction are marked');
    // Set aside, as the worker does after five non-retryable failures in a row; the partition moves on.
    const deadLetters = new DeadLetterQueue(kv, keys, TOPIC);
    const moved = await deadLetters.add(
      { messageId: message.messageId, partition: 0, reason: 'test', failedAt: new Date().toISOString(), consumerId: 'test', key: message.key, value: message.value },
      message.key,
      [],
    );
    assert.ok(moved);
    await fixture.apply(HOSTS.map((h) => util(h, T0 + 10_000, 20)));

    assert.equal((await deadLetters.replay(1)).replayed, 1);
    const replayed = (await kv.get(message.key))!;
    const again = { ...message, modRevision: replayed.modRevision, value: replayed.value };
    // This collector applied a message since its last failure, so it does not read marks: the mark's compare stops it.
    const before = await rollupCounts(kv, HOSTS);
    await assert.rejects(fixture.processor.process(again), { code: 'CONFLICT' }, 'a write past the mark is refused');
    assert.deepEqual(await rollupCounts(kv, HOSTS), before, 'nothing added by the refused attempt');
    await fixture.processor.process(again); // the worker's retry, which reads the mark
    assert.deepEqual(await wrongCounts(kv, HOSTS, 2), [], "each host holds the dead-lettered message's sample and the newer one, once");
    assert.equal((await fixture.stats()).messages, 2);
    assert.equal((await fixture.stats()).samples, HOSTS.length * 2, 'samples in: 260, counted once');
    assert.equal(await markCount(), 0, 'the replay deleted the marks');
  });
}

describe('a rollup mark that does not decode', () => {
  it('is reported, its message applied and the mark deleted', async () => {
    const kv = await openKvStore({ dataDir: ':memory:' });
    try {
      const fixture = new MaintenanceFixture(kv, keys);
      await fixture.claim();
      const message = await fixture.queue(['h1', 'h2'].map((h) => util(h, T0, 40)));
      const mark = keys.rollupMark(CLUSTER, TOPIC, 0, message.messageId);
      await kv.put(mark, Buffer.from('not json'));
      await fixture.processor.process({ ...message, modRevision: (await kv.get(message.key))!.modRevision });
      assert.deepEqual(await wrongCounts(kv, ['h1', 'h2'], 1), []);
      assert.equal(await kv.get(mark), undefined);
    } finally {
      await kv.close();
    }
  });
});

describe('host rollups exactly once, embedded store', () => {
  exactlyOnceSuite(() => openKvStore({ dataDir: ':memory:' }), (kv) => kv.close());
});

describe('host rollups exactly once, etcd', () => {
  const etcd = useEtcdStore();
  exactlyOnceSuite(async () => etcd.store, async () => undefined);
});

describe('host rollups of a message', () => {
  let kv: KvStore;
  before(async () => {
    kv = await openKvStore({ dataDir: ':memory:' });
  });
  after(() => kv.close());

  it('batches changed rollups by hostname within the operations and bytes given, each stamped with the message', async () => {
    const rollups = new HostRollups(new OwnedPartitionCache(kv, 1), keys, 'default', 'm1', 'mark');
    for (const host of ['h3', 'h1', 'h2', 'h4', 'h5']) (await rollups.adder(host, 'GPU-1'))(T0, 10);
    const byOps = rollups.batches(2, 1_000_000);
    assert.deepEqual(byOps.map((batch) => batch.written.map(({ key }) => key.slice(keys.rollupsPrefix('default').length))), [['h1', 'h2'], ['h3', 'h4'], ['h5']]);
    for (const batch of byOps) {
      assert.equal(batch.compares.length, batch.puts.length, 'each put compares its rollup');
      for (const op of batch.puts) assert.equal(op.type === 'put' && UtilizationRollup.decode(op.value, op.key).lastMessageId, 'm1');
    }
    const oneSize = byOps[0].bytes / 2;
    // Each later batch also counts the mark's entries of the hosts before it (8 bytes each).
    assert.equal(rollups.batches(100, oneSize * 2 + 4 * 8).length, 3, 'two rollups a batch by bytes');
  });

  it('writes nothing for a host none of whose samples were new', async () => {
    const rollups = new HostRollups(new OwnedPartitionCache(kv, 2), keys, 'default', 'm1', 'mark');
    await rollups.adder('h9', 'GPU-1');
    assert.deepEqual(rollups.batches(10, 1_000_000), []);
  });

  it("adds nothing to a rollup that carries the message's own id, and adds to one of another message or of the old format", async () => {
    const write = async (host: string, id: string | undefined): Promise<void> => {
      const rollup = new UtilizationRollup();
      rollup.add('GPU-1', T0, 10);
      rollup.lastMessageId = id;
      await kv.put(keys.rollup('default', host), rollup.encode().bytes);
    };
    await write('own', 'm2');
    await write('other', 'm1');
    // Version 1 (before rollups carried an id): format byte 1, no id field.
    const unstamped = new UtilizationRollup();
    unstamped.add('GPU-1', T0, 10);
    const v2 = unstamped.encode().bytes;
    assert.equal(v2[1], 0, 'an empty id is one zero byte');
    const v1 = Buffer.concat([Buffer.from([1]), v2.subarray(2)]);
    assert.deepEqual(sumRollupWindow(v1, 'old', T0, T0 + HOUR), [{ gpuKey: 'GPU-1', count: 1, sum: 10 }], 'summaries read version 1 as before');
    assert.equal(UtilizationRollup.decode(v1, 'old').lastMessageId, undefined);
    await kv.put(keys.rollup('default', 'old'), v1);

    const rollups = new HostRollups(new OwnedPartitionCache(kv, 3), keys, 'default', 'm2', 'mark');
    for (const host of ['own', 'other', 'old']) (await rollups.adder(host, 'GPU-1'))(T0 + 10_000, 20);
    const [batch] = rollups.batches(10, 1_000_000);
    assert.deepEqual(batch.written.map(({ key }) => key), [keys.rollup('default', 'old'), keys.rollup('default', 'other')]);
    for (const op of batch.puts) {
      assert.ok(op.type === 'put');
      assert.deepEqual(sumRollupWindow(op.value, op.key, T0, T0 + HOUR), [{ gpuKey: 'GPU-1', count: 2, sum: 30 }]);
    }
  });

  it('keeps a hostname with a slash inside its own rollup key', () => {
    assert.equal(keys.rollup('default', 'rack/7'), '/gputel/clusters/default/rollups/rack%2F7');
    assert.ok(keys.rollup('default', 'h').startsWith(keys.rollupsPrefix('default')));
  });
});
