/**
 * The byte layout of a queued message: a MessagePack array whose sample
 * columns are raw little-endian typed-array bytes. A message of 20,000
 * samples is ~480 KB, decoded without a per-sample object.
 *
 *   [version=2, cluster, sourceId, gpus, metrics, sourceMetricNames,
 *    gpuIndex(u32[]), metricIndex(u32[]), timestampMs(f64[]), value(f64[]),
 *    correlationId]
 *
 * Version 1 is the same without correlationId (10 fields); messages of
 * version 1 still queued when a collector is upgraded decode with an empty
 * correlation id. The correlation id names the streamer flush the message
 * came from, so that log lines of the streamer and of the collector about
 * the same batch can be found together (docs/observability.md).
 *
 * where gpus is an array of
 *   [hostname, uuid, gpuId, device, modelName, driverVersion, container, pod, namespace, migInstanceId, migProfile].
 *
 * Decoding validates everything: a message off the queue is input from
 * another process, and a bad one must become a dead letter, not a crash.
 */
import { Packr } from 'msgpackr';
import { GputelError } from '../common/gputel-error.js';
import { alignedCopy, bytesOf } from '../common/typed-array-bytes.js';
import type { GpuLabels, TelemetryBatch } from './telemetry-batch.js';

export const MESSAGE_FORMAT_VERSION = 2;
/** Written by earlier versions: no correlation id. Still read. */
const MESSAGE_FORMAT_VERSION_1 = 1;
/** Longest correlation id accepted: it is copied into log lines and dead letters. */
export const MAX_CORRELATION_ID_CHARS = 128;
const packr = new Packr({ useRecords: false, variableMapSize: true });

/** Encodes a batch. The result shares no memory with the batch. */
export function encodeMessage(batch: TelemetryBatch): Buffer {
  const gpus = batch.gpus.map((g) => [
    g.hostname,
    g.uuid,
    g.gpuId,
    g.device,
    g.modelName,
    g.driverVersion,
    g.container,
    g.pod,
    g.namespace,
    g.migInstanceId,
    g.migProfile,
  ]);
  return packr.pack([
    MESSAGE_FORMAT_VERSION,
    batch.cluster,
    batch.sourceId,
    gpus,
    batch.metrics,
    batch.sourceMetricNames,
    bytesOf(batch.gpuIndex.subarray(0, batch.length)),
    bytesOf(batch.metricIndex.subarray(0, batch.length)),
    bytesOf(batch.timestampMs.subarray(0, batch.length)),
    bytesOf(batch.value.subarray(0, batch.length)),
    batch.correlationId ?? '',
  ]);
}

/**
 * A decoded value as a reason quotes it. Never String(): a MessagePack map
 * decodes to an object whose `toString` key may be a number, and String()
 * of it threw a TypeError out of decodeMessage (test/fuzz/message-codec.fuzz.ts).
 */
function shownValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 40));
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return 'an array';
  return value instanceof Uint8Array ? 'binary' : `a ${typeof value}`;
}

function bad(reason: string): GputelError {
  return new GputelError('BAD_MESSAGE', `queued message is malformed: ${reason}`);
}

function column<T extends Uint32Array | Float64Array>(
  raw: unknown,
  name: string,
  make: (buffer: ArrayBuffer) => T,
  elementBytes: number,
): T {
  if (!(raw instanceof Uint8Array)) throw bad(`column ${name} is not binary`);
  if (raw.byteLength % elementBytes !== 0) throw bad(`column ${name} has ${raw.byteLength} bytes, not a multiple of ${elementBytes}`);
  return make(alignedCopy(raw));
}

function text(value: unknown, what: string): string {
  if (typeof value !== 'string') throw bad(`${what} is not a string`);
  return value;
}

function decodeGpu(raw: unknown, slot: number): GpuLabels {
  if (!Array.isArray(raw) || raw.length !== 11) throw bad(`gpu ${slot} is not an array of 11 labels`);
  const gpuId = raw[2];
  if (typeof gpuId !== 'number' || !Number.isInteger(gpuId) || gpuId < 0) throw bad(`gpu ${slot} has gpu_id ${shownValue(gpuId)}`);
  const labels: GpuLabels = {
    hostname: text(raw[0], `gpu ${slot} hostname`),
    uuid: text(raw[1], `gpu ${slot} uuid`),
    gpuId,
    device: text(raw[3], `gpu ${slot} device`),
    modelName: text(raw[4], `gpu ${slot} modelName`),
    driverVersion: text(raw[5], `gpu ${slot} driver version`),
    container: text(raw[6], `gpu ${slot} container`),
    pod: text(raw[7], `gpu ${slot} pod`),
    namespace: text(raw[8], `gpu ${slot} namespace`),
    migInstanceId: text(raw[9], `gpu ${slot} MIG instance`),
    migProfile: text(raw[10], `gpu ${slot} MIG profile`),
  };
  if (labels.hostname === '' || labels.uuid === '') throw bad(`gpu ${slot} has an empty hostname or uuid`);
  return labels;
}

/** Decodes and validates a message. Throws BAD_MESSAGE (not retryable) for anything malformed. */
export function decodeMessage(bytes: Buffer): TelemetryBatch {
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch (error) {
    throw bad(`not MessagePack (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!Array.isArray(raw)) throw bad('not an array');
  const fields = raw[0] === MESSAGE_FORMAT_VERSION_1 ? 10 : 11;
  if (raw[0] !== MESSAGE_FORMAT_VERSION && raw[0] !== MESSAGE_FORMAT_VERSION_1) {
    throw bad(`format version ${shownValue(raw[0])} is not ${MESSAGE_FORMAT_VERSION_1} or ${MESSAGE_FORMAT_VERSION}`);
  }
  // Format 2 may grow fields at its end (read by later collectors, ignored here), so only too few are refused.
  if (fields === 10 ? raw.length !== fields : raw.length < fields) throw bad(`not an array of ${fields === 10 ? '' : 'at least '}${fields} fields (format version ${shownValue(raw[0])})`);
  // The correlation id only labels log lines: one that is not a short string is dropped, never the samples with it.
  const correlationId = fields === 11 && typeof raw[10] === 'string' && raw[10].length <= MAX_CORRELATION_ID_CHARS ? raw[10] : '';
  const cluster = text(raw[1], 'cluster');
  const sourceId = text(raw[2], 'source id');
  if (!Array.isArray(raw[3]) || !Array.isArray(raw[4]) || !Array.isArray(raw[5])) throw bad('dictionaries are not arrays');
  const gpus = raw[3].map(decodeGpu);
  const metrics = raw[4].map((m, i) => text(m, `metric ${i}`));
  const sourceMetricNames = raw[5].map((m, i) => text(m, `source metric name ${i}`));
  if (sourceMetricNames.length !== metrics.length) throw bad('metric dictionaries differ in length');
  const gpuIndex = column(raw[6], 'gpuIndex', (b) => new Uint32Array(b), 4);
  const metricIndex = column(raw[7], 'metricIndex', (b) => new Uint32Array(b), 4);
  const timestampMs = column(raw[8], 'timestampMs', (b) => new Float64Array(b), 8);
  const value = column(raw[9], 'value', (b) => new Float64Array(b), 8);
  const length = value.length;
  if (gpuIndex.length !== length || metricIndex.length !== length || timestampMs.length !== length) {
    throw bad('sample columns differ in length');
  }
  for (let i = 0; i < length; i++) {
    if (gpuIndex[i] >= gpus.length) throw bad(`sample ${i} names gpu ${gpuIndex[i]} of ${gpus.length}`);
    if (metricIndex[i] >= metrics.length) throw bad(`sample ${i} names metric ${metricIndex[i]} of ${metrics.length}`);
    const t = timestampMs[i];
    if (!Number.isInteger(t) || t < 0) throw bad(`sample ${i} has timestamp ${t}`);
    if (!Number.isFinite(value[i])) throw bad(`sample ${i} has value ${value[i]}`);
  }
  return { cluster, sourceId, gpus, metrics, sourceMetricNames, gpuIndex, metricIndex, timestampMs, value, length, correlationId };
}
