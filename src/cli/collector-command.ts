/** `gputel collector`: consumes the queue into the store until stopped. */
import { Command } from 'commander';
import { startRoleServer } from '../common/role-server.js';
import { Collector } from '../collector/collector.js';
import { QUEUE_ROLE_GROUPS, configFrom, requireEtcd, withCommonOptions } from './common-options.js';
import { openRoleRuntime } from './role-runtime.js';

export function collectorCommand(): Command {
  return withCommonOptions(new Command('collector'), [...QUEUE_ROLE_GROUPS, 'collector'], { etcdRequired: true })
    .description('consume the queue: pivot, register GPUs and hosts, store chunks')
    .option('--consumer-id <id>', 'name of this collector in the consumer group (default host-pid)')
    .action(async (options: Record<string, unknown>) => {
      const config = configFrom(options, { port: 0 });
      requireEtcd(config, 'collector');
      const runtime = await openRoleRuntime(config, 'collector');
      const collector = new Collector(runtime.kv, runtime.keys, {
        topic: config.topic,
        cluster: config.cluster,
        partitions: config.partitions,
        consumerId: options.consumerId as string | undefined,
        leaseTtlSeconds: config.leaseTtlSeconds,
        retentionMs: runtime.settings.setting('retentionMs'),
        logger: runtime.logger,
      });
      const server = await startRoleServer({ host: config.host, port: config.port, logger: runtime.logger, settings: runtime.settings, checks: () => [{ name: `store (${runtime.kv.driver})`, check: () => runtime.kv.ping() }, ...collector.readinessChecks()] });
      runtime.onStop(() => server.close());
      runtime.onStop(() => collector.stop());
      await collector.start();
      runtime.logger.info({ partitions: collector.ownedPartitions(), address: server.server.address() }, 'collector consuming');
    });
}
