/**
 * The collector role: consumes the queue's partitions and applies every
 * message to the store (pivot, register, chunks, counters) exactly once.
 */
import { hostname } from 'node:os';
import type { Logger } from '../common/logger.js';
import type { ReadinessCheck } from '../common/ops-routes.js';
import type { KeySpace } from '../kv/key-space.js';
import type { KvStore } from '../kv/kv-store.js';
import { QueueConsumer } from '../queue/queue-consumer.js';
import { MessageProcessor } from './message-processor.js';

export interface CollectorOptions {
  topic: string;
  partitions: number;
  consumerId?: string;
  /** Member and owner lease TTL in seconds (default 5). */
  leaseTtlSeconds?: number;
  logger: Logger;
}

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
    this.consumer = new QueueConsumer(kv, keys, (message) => processor.process(message), {
      topic: options.topic,
      partitions: options.partitions,
      consumerId,
      leaseTtlSeconds: options.leaseTtlSeconds,
      logger,
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
