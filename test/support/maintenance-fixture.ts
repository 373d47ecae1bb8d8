/**
 * A store filled through the real MessageProcessor, one partition owned by
 * the test, for compaction and retention tests: messages are queued and
 * applied as a collector would (or left half-applied, as a crash would), and
 * what readers see is snapshotted to compare before and after maintenance.
 */
import { MessageProcessor } from '../../src/collector/message-processor.js';
import { GputelError } from '../../src/common/gputel-error.js';
import { createLogger } from '../../src/common/logger.js';
import type { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore, TxnRequest } from '../../src/kv/kv-store.js';
import { encodeMessage } from '../../src/queue/message-codec.js';
import { messageId } from '../../src/queue/message-id.js';
import type { QueuedMessage } from '../../src/queue/queued-message.js';
import { TelemetryBatchBuilder } from '../../src/queue/telemetry-batch.js';
import { decodeGpuMetadata, decodePartitionStats, type PartitionStats } from '../../src/store/gpu-records.js';
import { PartitionMaintenance, type PartitionMaintenanceOptions } from '../../src/store/maintenance/partition-maintenance.js';
import { readTelemetry } from '../../src/store/telemetry-reader.js';
import { withOverrides } from './kv-overrides.js';

export const TOPIC = 'telemetry';
export const CLUSTER = 'default';
export const logger = createLogger('silent');

export interface Sample {
  host: string;
  uuid: string;
  metric: string;
  timestampMs: number;
  value: number;
  pod?: string;
}

/** A KvStore whose transactions fail once `fail(request)` says so: a crash at that point (nothing of that txn applied). */
export function crashingStore(kv: KvStore, fail: (request: TxnRequest) => boolean): KvStore {
  return withOverrides(kv, {
    txn: async (request: TxnRequest) => {
      if (fail(request)) throw new GputelError('KV_UNAVAILABLE', 'injected crash', { retryable: true });
      return kv.txn(request);
    },
  });
}

export class MaintenanceFixture {
  readonly processor: MessageProcessor;
  claimRevision = 0;
  private sequence = 0;

  constructor(
    readonly kv: KvStore,
    readonly keys: KeySpace,
  ) {
    this.processor = new MessageProcessor(kv, keys, TOPIC, logger);
  }

  /** Claims partition 0 (the only one) for this test. */
  async claim(): Promise<void> {
    this.claimRevision = (await this.kv.put(this.keys.owner(TOPIC, 0), Buffer.from('test'))).revision;
  }

  maintenance(options: Partial<PartitionMaintenanceOptions> = {}): PartitionMaintenance {
    return new PartitionMaintenance(this.kv, this.keys, { topic: TOPIC, partitions: 1, retentionMs: 7 * 86_400_000, logger, compaction: { inputDeleteDelayMs: 0 }, ...options });
  }

  /** One maintenance round over the cluster, counting back from its newest sample, then the processor's cache dropped, as the collector does. */
  async round(maintenance: PartitionMaintenance): ReturnType<PartitionMaintenance['run']> {
    try {
      return await maintenance.run(0, this.claimRevision, this.processor.clusterNewestSamples);
    } finally {
      this.processor.forgetPartition(0);
    }
  }

  /** Queues a message of `samples` on partition 0. */
  async queue(samples: Sample[]): Promise<QueuedMessage> {
    const builder = new TelemetryBatchBuilder(CLUSTER, 'test');
    for (const s of samples) {
      const gpu = builder.gpuSlot(`${s.host}/${s.uuid}/${s.pod ?? ''}`, () => ({
        hostname: s.host, uuid: s.uuid, gpuId: 0, device: 'nvidia0', modelName: 'm', driverVersion: '', container: '', pod: s.pod ?? '', namespace: '', migInstanceId: '', migProfile: '',
      }));
      builder.add(gpu, builder.metricSlot(s.metric), s.timestampMs, s.value);
    }
    const id = messageId(1_000 + this.sequence, 'abcdef01', this.sequence);
    this.sequence++;
    const key = this.keys.message(TOPIC, 0, id);
    const { revision } = await this.kv.put(key, encodeMessage(builder.take()));
    return { partition: 0, key, messageId: id, modRevision: revision, value: (await this.kv.get(key))!.value, claimRevision: this.claimRevision };
  }

  /** Queues and applies a message. */
  async apply(samples: Sample[]): Promise<void> {
    await this.processor.process(await this.queue(samples));
  }

  /** Queues a message and applies it up to a crash just before its commit: chunks written, message still queued, nothing counted. */
  async applyUntilCommit(samples: Sample[]): Promise<QueuedMessage> {
    const message = await this.queue(samples);
    const crashing = crashingStore(this.kv, (request) => request.success?.some((op) => op.type === 'delete' && 'start' in op.range && op.range.start === message.key) ?? false);
    await new MessageProcessor(crashing, this.keys, TOPIC, logger).process(message).then(
      () => Promise.reject(new Error('the commit was expected to crash')),
      () => undefined,
    );
    return message;
  }

  async stats(): Promise<PartitionStats> {
    const stored = await this.kv.get(this.keys.partitionStats(CLUSTER, TOPIC, 0));
    return stored ? decodePartitionStats(stored.value) : { samples: 0, records: 0, messages: 0 };
  }

  /** Every GPU's records as readers see them, as comparable text. */
  async snapshot(): Promise<string> {
    const index = await this.kv.range({ prefix: this.keys.gpuIndexPrefix(CLUSTER) }, { keysOnly: true });
    const gpus: unknown[] = [];
    for (const { key } of index.kvs) {
      const [gpuKey, hostname] = key.slice(this.keys.gpuIndexPrefix(CLUSTER).length).split('/');
      const metadata = decodeGpuMetadata((await this.kv.get(this.keys.gpuMetadata(CLUSTER, hostname, gpuKey)))!.value);
      const page = await readTelemetry(this.kv, this.keys, CLUSTER, metadata, { startMs: 0, endMs: 10 ** 13 - 1, limit: Number.MAX_SAFE_INTEGER });
      gpus.push([hostname, gpuKey, page.records.map((r) => [r.timestampMs, [...r.values].sort(), r.attribution.pod])]);
    }
    return JSON.stringify(gpus);
  }

  /** Samples and records readers see, counted from a snapshot. */
  async readableCounts(): Promise<{ samples: number; records: number }> {
    const gpus = JSON.parse(await this.snapshot()) as [string, string, [number, unknown[], string][]][];
    let samples = 0;
    let records = 0;
    for (const [, , recordList] of gpus) {
      records += recordList.length;
      for (const [, values] of recordList) samples += values.length;
    }
    return { samples, records };
  }

  /** Chunk keys of one GPU. */
  async chunkKeys(host: string, uuid: string): Promise<string[]> {
    return (await this.kv.range({ prefix: this.keys.gpuDataPrefix(CLUSTER, host, uuid) }, { keysOnly: true })).kvs.map((kv) => kv.key);
  }
}

export const T0 = Date.parse('2026-01-01T00:00:00Z');
const METRICS = ['DCGM_FI_DEV_GPU_UTIL', 'DCGM_FI_DEV_GPU_TEMP', 'DCGM_FI_DEV_POWER_USAGE'];

/**
 * A fleet's samples at 10 s from T0 for `hours`: hosts × GPUs × 3 metrics,
 * power absent at every 7th timestamp, the pod changing every hour; cut
 * into messages of 37 timestamps (so chunks straddle window edges).
 */
export function fleetMessages(options: { hosts: string[]; gpus: number; hours: number; fromMs?: number; recordsPerMessage?: number }): Sample[][] {
  const fromMs = options.fromMs ?? T0;
  const count = (options.hours * 3_600_000) / 10_000;
  const perMessage = options.recordsPerMessage ?? 37;
  const messages: Sample[][] = [];
  for (let first = 0; first < count; first += perMessage) {
    const samples: Sample[] = [];
    for (let i = first; i < Math.min(count, first + perMessage); i++) {
      const timestampMs = fromMs + i * 10_000;
      for (const host of options.hosts) {
        for (let g = 0; g < options.gpus; g++) {
          METRICS.forEach((metric, m) => {
            if (m === 2 && i % 7 === 0) return;
            samples.push({ host, uuid: `GPU-${host}-${g}`, metric, timestampMs, value: ((i * 7 + g * 13 + m * 31) % 100) + 0.5 * m, pod: `pod-${Math.floor((timestampMs - T0) / 3_600_000)}` });
          });
        }
      }
    }
    messages.push(samples);
  }
  return messages;
}

/** Distinct (GPU, metric, timestamp) samples and (GPU, timestamp) records. */
export function distinctCounts(messages: Sample[][]): { samples: number; records: number } {
  const samples = new Set<string>();
  const records = new Set<string>();
  for (const message of messages) {
    for (const s of message) {
      samples.add(`${s.host}/${s.uuid}/${s.metric}/${s.timestampMs}`);
      records.add(`${s.host}/${s.uuid}/${s.timestampMs}`);
    }
  }
  return { samples: samples.size, records: records.size };
}
