/**
 * The etcd history compactor on a real etcd: one elected instance compacts
 * to the revision of one interval ago, another takes over when it stops and
 * goes on from the mark the first left, and a lost lease is granted again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { GputelError } from '../../src/common/gputel-error.js';
import { EtcdKvStore } from '../../src/kv/etcd-kv-store.js';
import { KeySpace } from '../../src/kv/key-space.js';
import { SettingValue } from '../../src/common/setting.js';
import { HistoryCompactor } from '../../src/store/maintenance/history-compactor.js';
import { startEtcd, type EtcdProcess } from '../support/etcd-process.js';

const logger = pino({ level: 'silent' });

describe('etcd history compactor', { timeout: 60_000 }, () => {
  let etcd: EtcdProcess;
  let kv: EtcdKvStore;
  let otherKv: EtcdKvStore;
  before(async () => {
    etcd = await startEtcd();
    kv = await EtcdKvStore.connect({ endpoints: etcd.endpoints });
    otherKv = await EtcdKvStore.connect({ endpoints: etcd.endpoints });
  });
  after(async () => {
    await kv?.close();
    await otherKv?.close();
    await etcd?.stop();
  });

  const watchFails = async (fromRevision: number): Promise<boolean> => {
    try {
      const watcher = await kv.watch({ prefix: '/history/' }, { fromRevision, onEvent: () => undefined });
      await watcher.cancel();
      return false;
    } catch (error) {
      if (error instanceof GputelError && error.code === 'KV_COMPACTED') return true;
      throw error;
    }
  };

  it('one instance is elected and compacts to the revision it remembered one interval before, never newer', async () => {
    const keys = new KeySpace('/elect1');
    let clock = 1_000_000;
    const now = (): number => clock;
    const first = new HistoryCompactor(kv, keys, { intervalMs: 60_000, instanceId: 'first', logger, now });
    const second = new HistoryCompactor(otherKv, keys, { intervalMs: 60_000, instanceId: 'second', logger, now });
    try {
      const early = (await kv.put('/history/a', Buffer.from('1'))).revision;
      assert.equal(await first.tick(), 60_000);
      assert.equal(await second.tick(), 30_000, 'one that is not the leader tries again within 30 s');
      assert.equal(first.isLeader, true);
      assert.equal(second.isLeader, false);
      // The first tick only remembers the revision: nothing is compacted yet.
      assert.equal(await watchFails(early), false);
      const late = (await kv.put('/history/a', Buffer.from('2'))).revision;
      clock += 20_000;
      assert.equal(await first.tick(), 40_000, 'the mark is not one interval old yet: it waits for the rest');
      assert.equal(await watchFails(early), false);
      clock += 40_000;
      await first.tick();
      assert.equal(await watchFails(early), true, 'history before the mark is compacted');
      assert.equal(await watchFails(late), false, 'history since the previous tick is kept');
      assert.deepEqual((await kv.get('/history/a'))?.value, Buffer.from('2'));
    } finally {
      await first.stop();
      await second.stop();
    }
  });

  it('another instance takes over when the leader stops, and stop is safe before start and twice', async () => {
    const keys = new KeySpace('/elect2');
    const first = new HistoryCompactor(kv, keys, { intervalMs: 200, instanceId: 'first', logger });
    const second = new HistoryCompactor(otherKv, keys, { intervalMs: 200, instanceId: 'second', logger });
    const never = new HistoryCompactor(kv, keys, { intervalMs: 200, instanceId: 'never', logger });
    await never.stop();
    await never.stop();
    first.start();
    for (let i = 0; i < 50 && !first.isLeader; i++) await sleep(50);
    assert.equal(first.isLeader, true);
    second.start();
    await sleep(600);
    assert.equal(second.isLeader, false, 'only one leader');
    await first.stop();
    await first.stop();
    for (let i = 0; i < 100 && !second.isLeader; i++) await sleep(50);
    assert.equal(second.isLeader, true, 'the second took over after the first gave up its lease');
    const holder = await kv.get(keys.historyCompactorLeader());
    assert.equal(holder?.value.toString(), 'second');
    await second.stop();
    assert.equal(await kv.get(keys.historyCompactorLeader()), undefined, 'stop revokes the lease and its key');
  });

  it('a live interval change ends the wait in progress: compaction paused at 0 starts within the new interval', async () => {
    const keys = new KeySpace('/elect4');
    const intervalMs = new SettingValue(0);
    const compactor = new HistoryCompactor(kv, keys, { intervalMs, instanceId: 'live', logger });
    compactor.start();
    try {
      await sleep(200);
      assert.equal(compactor.isLeader, false, 'paused: it does not even campaign');
      await kv.put('/history/live', Buffer.from('1'));
      const revision = await kv.revision();
      intervalMs.set(100);
      // The first round remembers a revision, the next compacts to it: a few rounds of 100 ms, not an hour.
      for (let i = 0; i < 40 && !(await watchFails(revision)); i++) await sleep(50);
      assert.equal(compactor.isLeader, true);
      assert.equal(await watchFails(revision), true, 'history up to the remembered revision is compacted');
    } finally {
      await compactor.stop();
    }
  });

  it('a new leader compacts to the mark its predecessor left once it has seen it for an interval, as a follower too', async () => {
    // What the soak found: leaders that each lived less than an interval, each remembering its own revision, never compacted.
    const keys = new KeySpace('/elect5');
    let clock = 5_000_000;
    const now = (): number => clock;
    const first = new HistoryCompactor(kv, keys, { intervalMs: 60_000, instanceId: 'first', logger, now });
    const second = new HistoryCompactor(otherKv, keys, { intervalMs: 60_000, instanceId: 'second', logger, now });
    try {
      const early = (await kv.put('/history/c', Buffer.from('1'))).revision;
      await first.tick();
      // A follower's round notes the mark (and says when it will try to lead again).
      assert.equal(await second.tick(), 30_000);
      await first.stop();
      const late = (await kv.put('/history/c', Buffer.from('2'))).revision;
      clock += 45_000;
      assert.equal(await second.tick(), 15_000, 'elected, it waits for the rest of the interval it has seen the mark');
      assert.equal(second.isLeader, true);
      assert.equal(await watchFails(early), false);
      clock += 15_000;
      await second.tick();
      assert.equal(await watchFails(early), true, 'compacted to the first leader\'s mark');
      assert.equal(await watchFails(late), false);
      const mark = JSON.parse(String((await kv.get(keys.historyCompactionMark()))?.value)) as { revision: number; atMs: number };
      assert.equal(mark.atMs, clock, 'and left a mark of its own for whoever leads next');
      assert.ok(mark.revision >= late);
    } finally {
      await first.stop();
      await second.stop();
    }
  });

  it('a leader that never saw the mark trusts its time only when it is two intervals old: another host\'s clock may be behind', async () => {
    const keys = new KeySpace('/elect7');
    let clock = 7_000_000;
    // The first host's clock is 61 s behind: by the second's, its fresh mark looks over an interval old.
    const behind = new HistoryCompactor(kv, keys, { intervalMs: 60_000, instanceId: 'behind', logger, now: () => clock - 61_000 });
    const second = new HistoryCompactor(otherKv, keys, { intervalMs: 60_000, instanceId: 'second', logger, now: () => clock });
    try {
      const early = (await kv.put('/history/d', Buffer.from('1'))).revision;
      await behind.tick();
      await behind.stop();
      clock += 2_000;
      await second.tick();
      assert.equal(second.isLeader, true);
      assert.equal(await watchFails(early), false, 'not compacted to a mark 2 s old');
      clock += 60_000;
      await second.tick();
      assert.equal(await watchFails(early), true, 'compacted once it has seen the mark for an interval');
    } finally {
      await behind.stop();
      await second.stop();
    }
  });

  it('a stored mark gputel cannot have written (a revision past the store\'s) is replaced, never compacted to', async () => {
    const keys = new KeySpace('/elect8');
    const compactor = new HistoryCompactor(kv, keys, { intervalMs: 60_000, instanceId: 'solo', logger, now: () => 8_000_000 });
    try {
      await kv.put(keys.historyCompactionMark(), Buffer.from(JSON.stringify({ revision: 10_000_000, atMs: 0 })));
      await compactor.tick();
      assert.equal(compactor.isLeader, true);
      const mark = JSON.parse(String((await kv.get(keys.historyCompactionMark()))?.value)) as { revision: number; atMs: number };
      assert.ok(mark.revision <= (await kv.revision()) && mark.atMs === 8_000_000, JSON.stringify(mark));
    } finally {
      await compactor.stop();
    }
  });

  it('a leader that lost the key does not move the mark', async () => {
    const keys = new KeySpace('/elect6');
    let clock = 9_000_000;
    const compactor = new HistoryCompactor(kv, keys, { intervalMs: 60_000, instanceId: 'solo', logger, now: () => clock });
    try {
      await compactor.tick();
      const before = (await kv.get(keys.historyCompactionMark()))!.value.toString();
      // Another instance took the key meanwhile (its lease expired and it was taken again).
      await kv.delete({ start: keys.historyCompactorLeader() });
      await kv.put(keys.historyCompactorLeader(), Buffer.from('someone else'));
      clock += 60_000;
      await compactor.tick();
      assert.equal(compactor.isLeader, false);
      assert.equal((await kv.get(keys.historyCompactionMark()))!.value.toString(), before);
    } finally {
      await compactor.stop();
    }
  });

  it('a compaction that someone else already did further is no failure', async () => {
    const keys = new KeySpace('/elect3');
    let clock = 2_000_000;
    const compactor = new HistoryCompactor(kv, keys, { intervalMs: 60_000, instanceId: 'solo', logger, now: () => clock });
    try {
      await compactor.tick();
      await kv.put('/history/b', Buffer.from('1'));
      await kv.compact(await kv.revision());
      clock += 60_000;
      await compactor.tick();
      assert.equal(compactor.isLeader, true);
    } finally {
      await compactor.stop();
    }
  });

  it('the leader campaigns again with a new lease after its lease was lost', async () => {
    const keys = new KeySpace('/elect4');
    const compactor = new HistoryCompactor(kv, keys, { intervalMs: 60_000, instanceId: 'solo', logger, leaseTtlSeconds: 2 });
    try {
      await compactor.tick();
      assert.equal(compactor.isLeader, true);
      const holder = await kv.get(keys.historyCompactorLeader());
      // What an outage longer than the TTL leaves behind: etcd no longer knows the lease.
      const leaseId = holder!.lease;
      const etcdLeaseRevoke = await fetch(`${etcd.endpoints[0]}/v3/lease/revoke`, { method: 'POST', body: JSON.stringify({ ID: leaseId }) });
      assert.equal(etcdLeaseRevoke.ok, true);
      for (let i = 0; i < 100 && compactor.isLeader; i++) await sleep(50);
      assert.equal(compactor.isLeader, false, 'the lost lease ends leadership');
      await compactor.tick();
      assert.equal(compactor.isLeader, true);
      const again = await kv.get(keys.historyCompactorLeader());
      assert.notEqual(again?.lease, leaseId, 'a new lease was granted');
    } finally {
      await compactor.stop();
    }
  });
});
