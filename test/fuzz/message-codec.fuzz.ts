/**
 * Fuzz target: the queue message codec. Contract under fuzz: any batch
 * round-trips exactly; any bytes off the queue decode to a batch that is
 * whole (columns of one length, indexes inside the dictionaries, whole
 * non-negative times, finite values) or throw GputelError BAD_MESSAGE, so a
 * bad message becomes a dead letter and never crashes a collector.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { decodeMessage, encodeMessage } from '../../src/queue/message-codec.js';
import { TelemetryBatchBuilder, type GpuLabels, type TelemetryBatch } from '../../src/queue/telemetry-batch.js';
import { applyEdits, byteEdits } from './byte-edits.js';
import { fuzzProperty, resultOrTypedError, type FuzzTarget } from './fuzz-target.js';
import { wellFormedText } from './hostile-text.js';

const packr = new Packr({ useRecords: false, variableMapSize: true });

/** MessagePack bytes of `value`; an empty array's bytes for the few values MessagePack cannot hold (a BigInt past 64 bits). */
function packed(value: unknown): Buffer {
  try {
    return packr.pack(value);
  } catch {
    return packr.pack([]);
  }
}

const label = wellFormedText(12);
const gpuLabels: fc.Arbitrary<GpuLabels> = fc.record({
  hostname: label.filter((s) => s !== ''),
  uuid: label.filter((s) => s !== ''),
  gpuId: fc.nat(),
  device: label, modelName: label, driverVersion: label, container: label, pod: label, namespace: label, migInstanceId: label, migProfile: label,
}).map((labels) => ({ ...labels }));

const batchArbitrary: fc.Arbitrary<TelemetryBatch> = fc
  .record({
    cluster: label,
    sourceId: label,
    gpus: fc.array(gpuLabels, { minLength: 1, maxLength: 4 }),
    metrics: fc.uniqueArray(fc.tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.string({ maxLength: 10 })), { minLength: 1, maxLength: 5, selector: ([m]) => m }),
    samples: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 2 ** 53 - 1 }), fc.double({ noNaN: true, noDefaultInfinity: true })), { maxLength: 60 }),
    correlationId: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
  })
  .map(({ cluster, sourceId, gpus, metrics, samples, correlationId }) => {
    const builder = new TelemetryBatchBuilder(cluster, sourceId, Math.max(1, samples.length));
    const gpuSlots = gpus.map((gpu, i) => builder.gpuSlot(String(i), () => gpu));
    const metricSlots = metrics.map(([name, source]) => builder.metricSlot(name, source));
    for (const [g, m, t, v] of samples) builder.add(gpuSlots[g % gpuSlots.length], metricSlots[m % metricSlots.length], t, v);
    return { ...builder.take(), ...(correlationId === undefined ? {} : { correlationId }) };
  });

/** What every decoded batch must be, whatever bytes it came from. */
function checkWhole(batch: TelemetryBatch): void {
  const { length } = batch;
  for (const column of [batch.gpuIndex, batch.metricIndex, batch.timestampMs, batch.value]) assert.equal(column.length, length);
  assert.equal(batch.metrics.length, batch.sourceMetricNames.length);
  for (let i = 0; i < length; i++) {
    assert.ok(batch.gpuIndex[i] < batch.gpus.length);
    assert.ok(batch.metricIndex[i] < batch.metrics.length);
    assert.ok(Number.isInteger(batch.timestampMs[i]) && batch.timestampMs[i] >= 0);
    assert.ok(Number.isFinite(batch.value[i]));
  }
  for (const gpu of batch.gpus) assert.ok(gpu.hostname !== '' && gpu.uuid !== '' && Number.isInteger(gpu.gpuId) && gpu.gpuId >= 0);
  assert.equal(typeof batch.cluster, 'string');
  assert.equal(typeof batch.correlationId, 'string');
}

function decodeChecked(bytes: Buffer): void {
  const batch = resultOrTypedError(() => decodeMessage(bytes), ['BAD_MESSAGE']);
  if (batch !== undefined) checkWhole(batch);
}

/** MessagePack values shaped like a message, with any field replaced: the decoder's checks one by one. */
const messageShaped = fc
  .tuple(batchArbitrary, fc.nat(11), fc.anything({ maxDepth: 2, withTypedArray: true, withBigInt: true }), fc.boolean())
  .map(([batch, field, replacement, truncate]) => {
    const raw = packr.unpack(encodeMessage(batch)) as unknown[];
    if (truncate) raw.length = field;
    else raw[field] = replacement;
    return packed(raw);
  });

export const messageCodecTarget: FuzzTarget = {
  name: 'message-codec',
  properties: [
    fuzzProperty('every batch round-trips exactly', batchArbitrary, (batch) => {
      const decoded = decodeMessage(encodeMessage(batch));
      assert.deepEqual(decoded.gpus, batch.gpus);
      assert.deepEqual(decoded.metrics, batch.metrics);
      assert.deepEqual(decoded.sourceMetricNames, batch.sourceMetricNames);
      assert.equal(decoded.length, batch.length);
      assert.deepEqual([...decoded.gpuIndex], [...batch.gpuIndex.subarray(0, batch.length)]);
      assert.deepEqual([...decoded.metricIndex], [...batch.metricIndex.subarray(0, batch.length)]);
      assert.deepEqual([...decoded.timestampMs], [...batch.timestampMs.subarray(0, batch.length)]);
      for (let i = 0; i < batch.length; i++) assert.ok(Object.is(decoded.value[i], batch.value[i]));
      assert.equal(decoded.correlationId, batch.correlationId ?? '');
    }),
    fuzzProperty('edited message bytes: a whole batch or BAD_MESSAGE', batchArbitrary, byteEdits, (batch, edits) => {
      decodeChecked(applyEdits(encodeMessage(batch), edits));
    }),
    fuzzProperty('a message with any field replaced: a whole batch or BAD_MESSAGE', messageShaped, decodeChecked),
    fuzzProperty('any bytes or MessagePack value: a whole batch or BAD_MESSAGE', fc.oneof(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), fc.anything({ maxDepth: 3, withTypedArray: true, withBigInt: true, withMap: true, withSet: true }).map(packed)), decodeChecked),
  ],
};
