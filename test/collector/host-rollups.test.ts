/**
 * The rollups of a message's final transaction: only changed ones, within
 * the room left, and those that did not fit go first next time.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HostRollups } from '../../src/collector/host-rollups.js';
import { OwnedPartitionCache } from '../../src/collector/owned-partition-cache.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore } from '../../src/kv/kv-store.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { sumRollupWindow } from '../../src/store/utilization-rollup.js';

const T0 = Date.parse('2026-03-02T00:00:00Z');
const keys = new KeySpace('/gputel');

describe('host rollups of a message', () => {
  let kv: KvStore;
  before(async () => {
    kv = await openKvStore({ dataDir: ':memory:' });
  });
  after(() => kv.close());

  /** One message under `cache`: a sample for each host, committed with room for `maxOps` rollups; returns the hosts written. */
  async function message(cache: OwnedPartitionCache, hosts: string[], atMs: number, maxOps: number): Promise<string[]> {
    const rollups = new HostRollups(cache, keys, 'default');
    for (const host of hosts) (await rollups.adder(host, 'GPU-1'))(atMs, 10);
    const commit = rollups.commit(maxOps, 1_000_000);
    const result = await kv.txn({ compare: commit.compares, success: commit.puts });
    assert.ok(result.succeeded);
    for (const { key, rollup } of commit.written) cache.written(key, rollup, result.revision);
    return commit.written.map(({ key }) => key.slice(keys.rollupsPrefix('default').length));
  }

  async function storedCount(host: string): Promise<number> {
    const stored = await kv.get(keys.rollup('default', host));
    return stored ? sumRollupWindow(stored.value, host, 0, Number.MAX_SAFE_INTEGER)[0].count : 0;
  }

  it('writes what fits, keeps the rest for the next message and writes those first then', async () => {
    const cache = new OwnedPartitionCache(kv, 1);
    assert.deepEqual(await message(cache, ['h1', 'h2', 'h3'], T0, 2), ['h1', 'h2']);
    assert.equal(await storedCount('h3'), 0);
    assert.deepEqual(await message(cache, ['h1', 'h2', 'h3'], T0 + 10_000, 2), ['h3', 'h1'], 'the deferred host first');
    assert.equal(await storedCount('h3'), 2, 'its deferred sample is written with the new one');
    assert.deepEqual(await message(cache, ['h1', 'h2', 'h3'], T0 + 20_000, 3), ['h2', 'h1', 'h3']);
    assert.deepEqual(await Promise.all(['h1', 'h2', 'h3'].map(storedCount)), [3, 3, 3], 'every sample in, once');
  });

  it('keeps a hostname with a slash inside its own rollup key', () => {
    assert.equal(keys.rollup('default', 'rack/7'), '/gputel/clusters/default/rollups/rack%2F7');
    assert.ok(keys.rollup('default', 'h').startsWith(keys.rollupsPrefix('default')));
  });

  it('writes nothing for a host none of whose samples were new', async () => {
    const cache = new OwnedPartitionCache(kv, 2);
    const rollups = new HostRollups(cache, keys, 'default');
    await rollups.adder('h9', 'GPU-1');
    assert.deepEqual(rollups.commit(10, 1_000_000).puts, []);
  });
});

describe('host rollups across partition maintenance', () => {
  it('keeps a deferred rollup in the cache when maintenance drops the rest of it', async () => {
    const kv = await openKvStore({ dataDir: ':memory:' });
    try {
      const cache = new OwnedPartitionCache(kv, 1);
      const rollups = new HostRollups(cache, keys, 'default');
      for (const host of ['h1', 'h2']) (await rollups.adder(host, 'GPU-1'))(T0, 10);
      const commit = rollups.commit(1, 1_000_000);
      assert.equal(commit.written.length, 1, 'one rollup fits, the other is deferred');
      await cache.read(keys.latest('default', 'h1'), (bytes) => bytes);
      cache.retainOnly((key) => key.startsWith(keys.rollupsPrefix('default')));
      const next = new HostRollups(cache, keys, 'default');
      await next.adder('h2', 'GPU-1');
      const deferred = next.commit(10, 1_000_000);
      assert.deepEqual(deferred.written.map(({ key }) => key), [keys.rollup('default', 'h2')], 'the deferred sample is still there to write');
    } finally {
      await kv.close();
    }
  });
});
