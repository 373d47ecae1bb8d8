/**
 * The collector role: consumes the queue's partitions and applies every
 * message to the store (pivot, register, chunks, counters) exactly once.
 */
import { hostname } from 'node:os';
import type { Logger } from '../common/logger.js';
import type { Setting } from '../common/setting.js';
import type { ReadinessCheck } from '../common/ops-routes.js';
import type { KeySpace } from '../kv/key-space.js';
import type { KvStore } from '../kv/kv-store.js';
import { QUIET_MAINTENANCE_FACTOR } from '../queue/partition-worker.js';
import { QueueConsumer } from '../queue/queue-consumer.js';
import { DEFAULT_RETENTION_MS, PartitionMaintenance, type PartitionMaintenanceOptions } from '../store/maintenance/partition-maintenance.js';
import { clusterNewestSample } from '../store/maintenance/cluster-newest-sample.js';
import { reportUnreadable } from '../store/telemetry-reader.js';
import { MessageProcessor } from './message-processor.js';

export interface CollectorOptions {
  topic: string;
  /**
   * The cluster (--cluster) whose data this collector maintains even before
   * it applies a message of it: after a restart or a failover onto a quiet
   * fleet, compaction finishes and retention runs from the stored newest sample.
   */
  cluster?: string;
  partitions: number;
  consumerId?: string;
  /** Member and owner lease TTL in seconds (default 5). */
  leaseTtlSeconds?: number;
  /** Data older than the cluster's newest sample minus this is removed (default 7 days); a Setting follows live configuration. */
  retentionMs?: number | Setting<number>;
  /** How often each owned partition runs compaction and retention, between messages (default 30 s). */
  maintenanceIntervalMs?: number;
  /** Compaction window, grace and input-delete delay (for tests; defaults in chunk-compactor.ts). */
  compaction?: PartitionMaintenanceOptions['compaction'];
  logger: Logger;
}

/** Default interval of compaction and retention per owned partition. */
export const DEFAULT_MAINTENANCE_INTERVAL_MS = 30_000;

export class Collector {
  private readonly consumer: QueueConsumer;
  private stopping: Promise<void> | undefined;

  constructor(
    kv: KvStore,
    keys: KeySpace,
    options: CollectorOptions,
  ) {
    const consumerId = options.consumerId ?? `${hostname()}-${process.pid}`;
    const logger = options.logger.child({ role: 'collector', consumerId });
    const processor = new MessageProcessor(kv, keys, options.topic, logger);
    // The configured cluster's newest stored sample while this collector applies none of its messages:
    // read again at the pace of quiet maintenance, since other collectors' partitions move it on.
    const intervalMs = options.maintenanceIntervalMs ?? DEFAULT_MAINTENANCE_INTERVAL_MS;
    let storedNewest: { readAtMs: number; newestMs: Promise<number | undefined> } | undefined;
    const clustersToMaintain = async (): Promise<ReadonlyMap<string, number>> => {
      const applied = processor.clusterNewestSamples;
      const cluster = options.cluster;
      if (cluster === undefined || applied.has(cluster)) return applied;
      if (!storedNewest || Date.now() - storedNewest.readAtMs >= intervalMs * QUIET_MAINTENANCE_FACTOR) {
        const read = { readAtMs: Date.now(), newestMs: clusterNewestSample(kv, keys, cluster) };
        storedNewest = read;
        read.newestMs.catch(() => {
          if (storedNewest === read) storedNewest = undefined; // asked again next round
        });
      }
      const newestMs = await storedNewest.newestMs;
      return newestMs === undefined ? applied : new Map([...applied, [cluster, newestMs]]);
    };
    const maintenance = new PartitionMaintenance(kv, keys, {
      topic: options.topic,
      partitions: options.partitions,
      retentionMs: options.retentionMs ?? DEFAULT_RETENTION_MS,
      compaction: options.compaction,
      logger,
      onUnreadable: (key, error) => reportUnreadable(logger, key, error),
    });
    this.consumer = new QueueConsumer(kv, keys, (message) => processor.process(message), {
      topic: options.topic,
      partitions: options.partitions,
      consumerId,
      leaseTtlSeconds: options.leaseTtlSeconds,
      logger,
      maintenance: {
        intervalMs,
        run: async (partition, claimRevision, signal) => {
          try {
            const summary = await maintenance.run(partition, claimRevision, await clustersToMaintain(), signal);
            logger.debug({ partition, ...summary }, 'partition maintenance done');
            return summary.pending;
          } finally {
            // Its metadata, latest values and stats may have changed under the processor's cache.
            processor.forgetPartition(partition);
          }
        },
      },
    });
  }

  async start(): Promise<void> {
    await this.consumer.start();
  }

  /** Finishes the message in hand and releases its partitions. Safe before start and twice. */
  stop(): Promise<void> {
    this.stopping ??= this.consumer.stop();
    return this.stopping;
  }

  ownedPartitions(): number[] {
    return this.consumer.ownedPartitions();
  }

  readinessChecks(): ReadinessCheck[] {
    return [
      {
        name: 'queue consumer',
        check: async () => {
          if (this.consumer.problem) throw new Error(this.consumer.problem);
        },
      },
    ];
  }
}
