/**
 * The store health monitor puts etcd's database size, alarms and reachability
 * on /metrics; a poll never throws, and stop is safe before start and twice.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { metricsRegistry } from '../../src/common/metrics.js';
import { EtcdKvStore } from '../../src/kv/etcd-kv-store.js';
import { StoreHealthMonitor } from '../../src/store/maintenance/store-health-monitor.js';
import { startEtcd, type EtcdProcess } from '../support/etcd-process.js';

async function gaugeValue(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = (await metricsRegistry.getMetricsAsJSON()).find((m) => m.name === name);
  return metric?.values.find((v) => Object.entries(labels).every(([k, value]) => v.labels[k] === value))?.value;
}

describe('store health monitor', { timeout: 60_000 }, () => {
  let etcd: EtcdProcess;
  let kv: EtcdKvStore;
  before(async () => {
    etcd = await startEtcd();
    kv = await EtcdKvStore.connect({ endpoints: etcd.endpoints, requestTimeoutMs: 2_000 });
  });
  after(async () => {
    await kv?.close();
    await etcd?.stop();
  });

  it('exports size, in-use size, revision and no alarm; up is 0 while etcd is down and 1 again after', async () => {
    const monitor = new StoreHealthMonitor(kv, pino({ level: 'silent' }), 60_000);
    await kv.put('/monitor/a', Buffer.alloc(10_000, 1));
    await monitor.poll();
    assert.equal(await gaugeValue('gputel_etcd_up'), 1);
    assert.ok((await gaugeValue('gputel_etcd_db_size_bytes'))! > 0);
    assert.ok((await gaugeValue('gputel_etcd_db_size_in_use_bytes'))! > 0);
    assert.equal(await gaugeValue('gputel_etcd_alarm', { alarm: 'NOSPACE' }), 0);
    assert.ok((await gaugeValue('gputel_etcd_revision'))! >= 2);
    await etcd.restart(async () => {
      await monitor.poll(); // never throws
      assert.equal(await gaugeValue('gputel_etcd_up'), 0);
    });
    for (let i = 0; i < 50 && (await gaugeValue('gputel_etcd_up')) !== 1; i++) {
      await monitor.poll();
      if ((await gaugeValue('gputel_etcd_up')) !== 1) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(await gaugeValue('gputel_etcd_up'), 1);
    await monitor.stop();
  });

  it('polls from start to stop; stop is safe before start and twice', async () => {
    const never = new StoreHealthMonitor(kv, pino({ level: 'silent' }));
    await never.stop();
    await never.stop();
    const monitor = new StoreHealthMonitor(kv, pino({ level: 'silent' }), 50);
    monitor.start();
    for (let i = 0; i < 100 && monitor.last === undefined; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(monitor.last !== undefined && monitor.last.revision > 0);
    await monitor.stop();
    await monitor.stop();
  });
});
