/**
 * Store-side holes a review found: a stored value that is not valid JSON (or
 * not the shape gputel writes) in latest/, GPU or host metadata or the
 * partition stats is overwritten, logged and counted, never a partition
 * retried forever; duplicate samples with different values are counted.
 * Real MessageProcessor on the in-memory embedded store.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { MessageProcessor } from '../../src/collector/message-processor.js';
import { createLogger } from '../../src/common/logger.js';
import { metricsRegistry } from '../../src/common/metrics.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore } from '../../src/kv/kv-store.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { encodeMessage } from '../../src/queue/message-codec.js';
import type { QueuedMessage } from '../../src/queue/queue-consumer.js';
import { TelemetryBatchBuilder } from '../../src/queue/telemetry-batch.js';
import { decodeGpuMetadata, decodeHostMetadata, decodeLatestHost, decodePartitionStats } from '../../src/store/gpu-records.js';

const UUID = 'GPU-aaaaaaaa-1111';
const HOST = 'h1';
const UTIL = 'DCGM_FI_DEV_GPU_UTIL';
const TEMP = 'DCGM_FI_DEV_GPU_TEMP';

async function metricValue(name: string): Promise<number> {
  const metric = (await metricsRegistry.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
}

describe('collector: corrupt stored values and conflicting duplicates', () => {
  let kv: KvStore;
  const keys = new KeySpace('/gputel');
  let processor: MessageProcessor;
  let claimRevision: number;
  let sequence = 0;

  beforeEach(async () => {
    kv = await openKvStore({ dataDir: ':memory:' });
    processor = new MessageProcessor(kv, keys, 'telemetry', createLogger('silent'));
    claimRevision = (await kv.put(keys.owner('telemetry', 0), Buffer.from('test-consumer'))).revision;
  });
  afterEach(async () => {
    await kv.close();
  });

  /** Queues one message of (metric, timestamp, value) samples of one GPU on partition 0, and returns it as delivered. */
  async function queue(samples: [string, number, number][]): Promise<QueuedMessage> {
    const builder = new TelemetryBatchBuilder('default', 'test');
    const gpu = builder.gpuSlot('g', () => ({ hostname: HOST, uuid: UUID, gpuId: 0, device: 'nvidia0', modelName: 'm', driverVersion: '', container: '', pod: '', namespace: '', migInstanceId: '', migProfile: '' }));
    for (const [metric, timestampMs, value] of samples) builder.add(gpu, builder.metricSlot(metric), timestampMs, value);
    const messageId = `${String(++sequence).padStart(13, '0')}-test-000000000000`;
    const key = keys.message('telemetry', 0, messageId);
    await kv.put(key, encodeMessage(builder.take()));
    const stored = (await kv.get(key))!;
    return { partition: 0, key, messageId, modRevision: stored.modRevision, value: stored.value, claimRevision };
  }

  const stats = async () => decodePartitionStats((await kv.get(keys.partitionStats('default', 'telemetry', 0)))!.value);

  for (const [what, key, corrupt] of [
    ['latest values that are not JSON', () => keys.latest('default', HOST), '{"hostname": "h1", "gpus": {'],
    ['latest values of the wrong shape', () => keys.latest('default', HOST), '{"hostname":"h1","gpus":null}'],
    ['GPU metadata that is not JSON', () => keys.gpuMetadata('default', HOST, UUID), 'garbage'],
    ['host metadata that is JSON null', () => keys.hostMetadata('default', HOST), 'null'],
    ['partition stats that are not JSON', () => keys.partitionStats('default', 'telemetry', 0), '{"samples": 12'],
  ] as const) {
    it(`overwrites ${what}, counts it, and stores the message`, async () => {
      await kv.put(key(), Buffer.from(corrupt));
      const repairedBefore = await metricValue('gputel_collector_repaired_values_total');
      const message = await queue([[UTIL, 1_000, 5], [TEMP, 1_000, 40]]);
      await processor.process(message);
      assert.equal(await kv.get(message.key), undefined, 'the message was applied and deleted');
      assert.equal(await metricValue('gputel_collector_repaired_values_total'), repairedBefore + 1);
      // Every record is readable again.
      decodeLatestHost((await kv.get(keys.latest('default', HOST)))!.value);
      decodeGpuMetadata((await kv.get(keys.gpuMetadata('default', HOST, UUID)))!.value);
      decodeHostMetadata((await kv.get(keys.hostMetadata('default', HOST)))!.value);
      assert.deepEqual(await stats(), { samples: 2, records: 1, messages: 1 });
      assert.deepEqual(decodeLatestHost((await kv.get(keys.latest('default', HOST)))!.value).gpus[UUID].values, { [UTIL]: 5, [TEMP]: 40 });
    });
  }

  it('counts duplicates with different values within a message and across messages, not equal ones', async () => {
    const conflictsBefore = await metricValue('gputel_collector_conflicting_duplicates_total');
    // Within one message: UTIL at 1000 twice with two values, TEMP twice with the same value.
    await processor.process(await queue([[UTIL, 1_000, 5], [UTIL, 1_000, 6], [TEMP, 1_000, 40], [TEMP, 1_000, 40]]));
    assert.deepEqual(await stats(), { samples: 2, records: 1, messages: 1, conflictingDuplicates: 1 });
    // Across messages: TEMP at 1000 again with another value, UTIL again with the stored value, and one new sample.
    await processor.process(await queue([[TEMP, 1_000, 41], [UTIL, 1_000, 6], [UTIL, 2_000, 7]]));
    assert.deepEqual(await stats(), { samples: 3, records: 2, messages: 2, conflictingDuplicates: 2 });
    assert.equal(await metricValue('gputel_collector_conflicting_duplicates_total'), conflictsBefore + 2);
  });

  it('dead-letters nothing and keeps stats in their old shape when there is no conflict', async () => {
    await processor.process(await queue([[UTIL, 1_000, 5]]));
    assert.deepEqual(JSON.parse((await kv.get(keys.partitionStats('default', 'telemetry', 0)))!.value.toString()), { samples: 1, records: 1, messages: 1 });
  });

  it('refuses a message id that would reach into another key with BAD_KEY (a poison message)', async () => {
    const message = await queue([[UTIL, 1_000, 5]]);
    await assert.rejects(processor.process({ ...message, messageId: '0000000000001-x/../../queue' }), { code: 'BAD_KEY' });
    assert.equal((await kv.range({ prefix: keys.clusterPrefix('default') }, { countOnly: true })).count, 0, 'nothing written');
  });
});
