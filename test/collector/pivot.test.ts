import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pivot } from '../../src/collector/pivot.js';
import { TelemetryBatchBuilder, type GpuLabels } from '../../src/queue/telemetry-batch.js';

function labels(overrides: Partial<GpuLabels>): GpuLabels {
  return { hostname: 'h1', uuid: 'GPU-1', gpuId: 0, device: 'nvidia0', modelName: 'm', driverVersion: 'd', container: '', pod: '', namespace: '', migInstanceId: '', migProfile: '', ...overrides };
}

describe('pivot', () => {
  it('makes one record per GPU per timestamp with NaN for metrics not sampled then', () => {
    const b = new TelemetryBatchBuilder('c', 's');
    const gpu = b.gpuSlot('g', () => labels({}));
    const util = b.metricSlot('DCGM_FI_DEV_GPU_UTIL');
    const temp = b.metricSlot('DCGM_FI_DEV_GPU_TEMP');
    b.add(gpu, util, 2000, 50);
    b.add(gpu, util, 1000, 40);
    b.add(gpu, temp, 1000, 33);
    const [block] = pivot(b.take());
    assert.deepEqual([...block.chunk.timestampsMs], [1000, 2000]);
    assert.deepEqual(block.chunk.metrics, ['DCGM_FI_DEV_GPU_TEMP', 'DCGM_FI_DEV_GPU_UTIL']);
    assert.deepEqual([...block.chunk.columns[0]], [33, NaN]);
    assert.deepEqual([...block.chunk.columns[1]], [40, 50]);
    assert.equal(block.samples, 3);
  });

  it('keeps MIG instances of one UUID apart', () => {
    const b = new TelemetryBatchBuilder('c', 's');
    const m1 = b.gpuSlot('1', () => labels({ migInstanceId: '1', migProfile: '1g.10gb' }));
    const m2 = b.gpuSlot('2', () => labels({ migInstanceId: '2', migProfile: '1g.10gb' }));
    const util = b.metricSlot('DCGM_FI_DEV_GPU_UTIL');
    b.add(m1, util, 1000, 10);
    b.add(m2, util, 1000, 90);
    const blocks = pivot(b.take());
    assert.deepEqual(blocks.map((x) => [x.gpuKey, x.chunk.columns[0][0]]), [['GPU-1:mig1', 10], ['GPU-1:mig2', 90]]);
  });

  it('records the pod attribution of each record and one sample per duplicate row', () => {
    const b = new TelemetryBatchBuilder('c', 's');
    const idle = b.gpuSlot('idle', () => labels({}));
    const busy = b.gpuSlot('busy', () => labels({ container: 'trainer', pod: 'job-1', namespace: 'ml' }));
    const util = b.metricSlot('DCGM_FI_DEV_GPU_UTIL');
    b.add(idle, util, 1000, 0);
    b.add(busy, util, 2000, 99);
    b.add(busy, util, 2000, 99);
    const [block] = pivot(b.take());
    assert.equal(block.chunk.attributions[block.chunk.attributionIndex[0]].pod, '');
    assert.equal(block.chunk.attributions[block.chunk.attributionIndex[1]].pod, 'job-1');
    assert.equal(block.samples, 2);
    assert.equal(block.labels.pod, 'job-1', 'labels of the newest record');
  });
});
