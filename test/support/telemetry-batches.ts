/** Tiny telemetry batches for queue tests. */
import { TelemetryBatchBuilder, type TelemetryBatch } from '../../src/queue/telemetry-batch.js';

/** One sample: GPU-1 on host h, temperature 1 at t = 1000 ms. */
export function oneSampleBatch(): TelemetryBatch {
  const builder = new TelemetryBatchBuilder('default', 's');
  const gpu = builder.gpuSlot('g', () => ({ hostname: 'h', uuid: 'GPU-1', gpuId: 0, device: 'nvidia0', modelName: 'm', driverVersion: '', container: '', pod: '', namespace: '', migInstanceId: '', migProfile: '' }));
  builder.add(gpu, builder.metricSlot('DCGM_FI_DEV_GPU_TEMP'), 1000, 1);
  return builder.take();
}
