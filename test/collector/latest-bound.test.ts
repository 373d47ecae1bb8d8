/**
 * `latest/{host}` stays bounded: one host reporting thousands of GPUs (an
 * aggregator) used to grow it past etcd's request limit, and then every
 * message of its partition failed for good (KV_REQUEST_TOO_LARGE).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { boundLatest, LATEST_MAX_BYTES, LATEST_MAX_LAG_MS } from '../../src/collector/latest-bound.js';
import { MessageProcessor } from '../../src/collector/message-processor.js';
import { createLogger } from '../../src/common/logger.js';
import { EtcdKvStore } from '../../src/kv/etcd-kv-store.js';
import { KeySpace } from '../../src/kv/key-space.js';
import { encodeMessage } from '../../src/queue/message-codec.js';
import { TelemetryBatchBuilder } from '../../src/queue/telemetry-batch.js';
import { decodeLatestHost, decodePartitionStats, type LatestHost } from '../../src/store/gpu-records.js';
import { startEtcd, type EtcdProcess } from '../support/etcd-process.js';

function gpu(lastSeenMs: number): LatestHost['gpus'][string] {
  return { lastSeenMs, values: { DCGM_FI_DEV_GPU_UTIL: 1 }, container: '', pod: '', namespace: '' };
}

describe('latest values of a host stay bounded', { timeout: 60_000 }, () => {
  it('drops GPUs far behind the host, then the oldest until under the byte budget', () => {
    const latest: LatestHost = { hostname: 'h', gpus: { old: gpu(0), a: gpu(LATEST_MAX_LAG_MS + 10), b: gpu(LATEST_MAX_LAG_MS + 20), c: gpu(LATEST_MAX_LAG_MS + 30) } };
    assert.deepEqual(boundLatest(latest), { stale: 1, overBudget: 0 });
    assert.deepEqual(Object.keys(latest.gpus), ['a', 'b', 'c']);
    const budget = Buffer.byteLength(JSON.stringify({ hostname: 'h', gpus: { b: latest.gpus.b, c: latest.gpus.c } }));
    assert.deepEqual(boundLatest(latest, budget), { stale: 0, overBudget: 1 });
    assert.deepEqual(Object.keys(latest.gpus), ['b', 'c']);
    assert.ok(Buffer.byteLength(JSON.stringify(latest)) <= budget);
  });

  describe('on etcd', () => {
    let etcd: EtcdProcess;
    let kv: EtcdKvStore;
    before(async () => {
      etcd = await startEtcd();
      kv = await EtcdKvStore.connect({ endpoints: etcd.endpoints });
    });
    after(async () => {
      await kv?.close();
      await etcd?.stop();
    });

    it('applies every message of a host with 2,800 GPUs, and counts each sample once', async () => {
      const keys = new KeySpace('/g');
      const processor = new MessageProcessor(kv, keys, 'telemetry', createLogger('silent'));
      const claimRevision = (await kv.put(keys.owner('telemetry', 0), Buffer.from('c'))).revision;
      const messages = 4;
      const gpus = 700;
      const metrics = 30;
      for (let m = 0; m < messages; m++) {
        const builder = new TelemetryBatchBuilder('default', 'test');
        for (let g = 0; g < gpus; g++) {
          const uuid = `GPU-${m}-${g}-aaaaaaaa-bbbb-cccc`;
          const slot = builder.gpuSlot(uuid, () => ({ hostname: 'aggregator', uuid, gpuId: g, device: `nvidia${g}`, modelName: 'NVIDIA H100 80GB HBM3', driverVersion: '550', container: '', pod: '', namespace: '', migInstanceId: '', migProfile: '' }));
          for (let k = 0; k < metrics; k++) builder.add(slot, builder.metricSlot(`DCGM_FI_DEV_METRIC_${k}`), 1_700_000_000_000 + m, 1234.5 + k);
        }
        const id = `${String(1_700_000_000_000 + m)}-0000abcd-${String(m + 1).padStart(12, '0')}`;
        const key = keys.message('telemetry', 0, id);
        await kv.put(key, encodeMessage(builder.take()));
        const stored = (await kv.get(key))!;
        await processor.process({ partition: 0, key, messageId: id, modRevision: stored.modRevision, value: stored.value, claimRevision });
        assert.equal(await kv.get(key), undefined, `message ${m} applied and deleted`);
        const latest = (await kv.get(keys.latest('default', 'aggregator')))!;
        assert.ok(latest.value.length <= LATEST_MAX_BYTES, `latest is ${latest.value.length} bytes`);
        // The newest GPUs are the ones kept.
        assert.ok(Object.keys(decodeLatestHost(latest.value).gpus).length > 0);
      }
      const stats = decodePartitionStats((await kv.get(keys.partitionStats('default', 'telemetry', 0)))!.value);
      assert.equal(stats.samples, messages * gpus * metrics);
      assert.equal(stats.messages, messages);
    });
  });
});
