import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pack } from 'msgpackr';
import { decodeMessage, encodeMessage } from '../../src/queue/message-codec.js';
import { TelemetryBatchBuilder, type GpuLabels } from '../../src/queue/telemetry-batch.js';

const GPU: GpuLabels = {
  hostname: 'gpu-node-01',
  uuid: 'GPU-1',
  gpuId: 0,
  device: 'nvidia0',
  modelName: 'NVIDIA H100 80GB HBM3',
  driverVersion: '535.129.03',
  container: '',
  pod: '',
  namespace: '',
  migInstanceId: '',
  migProfile: '',
};

function sampleBatch(samples: number) {
  const builder = new TelemetryBatchBuilder('default', 'file-x', 2);
  const gpu = builder.gpuSlot('a', () => GPU);
  const temp = builder.metricSlot('DCGM_FI_DEV_GPU_TEMP', 'dcgm_gpu_temp');
  const power = builder.metricSlot('DCGM_FI_DEV_POWER_USAGE');
  for (let i = 0; i < samples; i++) builder.add(gpu, i % 2 ? temp : power, 1_700_000_000_000 + 1000 * i, i * 1.25);
  return builder.take();
}

describe('message codec', () => {
  it('round-trips a batch exactly, dictionaries and every sample', () => {
    const batch = sampleBatch(1000);
    const decoded = decodeMessage(encodeMessage(batch));
    assert.deepEqual(decoded.gpus, [GPU]);
    assert.deepEqual(decoded.metrics, ['DCGM_FI_DEV_GPU_TEMP', 'DCGM_FI_DEV_POWER_USAGE']);
    assert.deepEqual(decoded.sourceMetricNames, ['dcgm_gpu_temp', '']);
    assert.equal(decoded.length, 1000);
    assert.deepEqual([...decoded.value], [...batch.value]);
    assert.deepEqual([...decoded.timestampMs], [...batch.timestampMs]);
    assert.deepEqual([...decoded.metricIndex], [...batch.metricIndex]);
  });

  it('takes about 24 bytes a sample', () => {
    const bytes = encodeMessage(sampleBatch(10_000)).length;
    assert.ok(bytes < 10_000 * 25, `${bytes} bytes`);
  });

  it('refuses bytes that are not a message with BAD_MESSAGE', () => {
    for (const bytes of [Buffer.from('garbage'), pack({ a: 1 }), pack([2, 'x']), pack([1, 'c', 's', [], [], [], Buffer.alloc(3), Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0)])]) {
      assert.throws(() => decodeMessage(bytes), { code: 'BAD_MESSAGE' });
    }
  });

  it('refuses a sample that points outside the dictionaries', () => {
    const encoded = encodeMessage(sampleBatch(2));
    const tampered = pack([1, 'default', 's', [Object.values(GPU)], ['m'], [''], Buffer.from(new Uint32Array([5]).buffer), Buffer.from(new Uint32Array([0]).buffer), Buffer.from(new Float64Array([1]).buffer), Buffer.from(new Float64Array([1]).buffer)]);
    assert.ok(encoded.length > 0);
    assert.throws(() => decodeMessage(tampered), /names gpu 5 of 1/);
  });

  it('carries the correlation id of the flush that queued the batch', () => {
    const decoded = decodeMessage(encodeMessage({ ...sampleBatch(4), correlationId: 'flush-0f3a' }));
    assert.equal(decoded.correlationId, 'flush-0f3a');
    assert.equal(decoded.length, 4);
  });

  it('reads a message of format 1, written before correlation ids, with an empty one', () => {
    const gpu = Object.values(GPU);
    const version1 = pack([
      1, 'default', 'file-x', [gpu], ['DCGM_FI_DEV_GPU_TEMP'], [''],
      Buffer.from(new Uint32Array([0, 0]).buffer), Buffer.from(new Uint32Array([0, 0]).buffer),
      Buffer.from(new Float64Array([1_700_000_000_000, 1_700_000_001_000]).buffer), Buffer.from(new Float64Array([41, 42]).buffer),
    ]);
    const decoded = decodeMessage(version1);
    assert.equal(decoded.correlationId, '');
    assert.equal(decoded.length, 2);
    assert.deepEqual([...decoded.value], [41, 42]);
    assert.deepEqual(decoded.gpus, [GPU]);
  });

  it('drops a correlation id that is not a short string (not the samples), ignores fields a later format 2 adds, and refuses too few fields', () => {
    const fields = (version: number, extra: unknown[]) => pack([version, 'default', 's', [], [], [], Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0), ...extra]);
    assert.equal(decodeMessage(fields(2, [7])).correlationId, '');
    assert.equal(decodeMessage(fields(2, ['x'.repeat(200)])).correlationId, '');
    assert.equal(decodeMessage(fields(2, ['c-1', 'a field of a later producer'])).correlationId, 'c-1');
    assert.throws(() => decodeMessage(fields(2, [])), /not an array of at least 11 fields/);
    assert.throws(() => decodeMessage(fields(1, ['x'])), /not an array of 10 fields/);
  });

  it('refuses a message whose fields are maps that cannot be printed as BAD_MESSAGE, not a TypeError', () => {
    for (const version of [{ toString: 0 }, { valueOf: 1, toString: 'x' }]) {
      assert.throws(() => decodeMessage(pack([version, 'c', 's', [], [], []])), { code: 'BAD_MESSAGE' });
    }
    const gpu = ['h', 'u', { toString: 0 }, '', '', '', '', '', '', '', ''];
    assert.throws(() => decodeMessage(pack([2, 'c', 's', [gpu], [], [], new Uint8Array(0), new Uint8Array(0), new Uint8Array(0), new Uint8Array(0), ''])), { code: 'BAD_MESSAGE' });
  });
});
