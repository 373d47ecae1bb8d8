/** `gputel queue status`: the consumer group and every partition's owner, depth and oldest message. */
import { Command } from 'commander';
import { readQueueStatus, type QueueStatus } from '../queue/queue-status.js';
import { withClientStore } from './client-store.js';
import { configFrom, withCommonOptions } from './common-options.js';
import { formatAge, formatTable, outputFormat, printable } from './output-format.js';

/** The table people read: members and their partitions, then one line per partition. */
export function formatQueueStatus(topic: string, status: QueueStatus): string {
  const queued = status.partitions.reduce((sum, p) => sum + p.depth, 0);
  const unowned = status.partitions.filter((p) => p.owner === null).length;
  const head = `topic ${topic}: ${status.members.length} member(s), ${status.partitions.length} partitions (${unowned} unowned), ${queued} message(s) queued\n\n`;
  const members = formatTable(
    ['MEMBER', 'COUNT', 'PARTITIONS'],
    status.members.map((m) => [printable(m.id, 60), m.partitions.length, m.partitions.join(',') || '-']),
  );
  const partitions = formatTable(
    ['PARTITION', 'OWNER', 'DEPTH', 'OLDEST'],
    status.partitions.map((p) => [p.partition, p.owner === null ? '-' : printable(p.owner, 60), p.depth, p.oldest_age_ms === null ? '-' : formatAge(p.oldest_age_ms)]),
  );
  return `${head}${members}\n${partitions}`;
}

export function queueCommand(): Command {
  const status = withCommonOptions(new Command('status'), ['topic'])
    .description('members of the consumer group, and every partition: owner, depth, age of the oldest message')
    .option('--output <format>', 'json or table (default: table on a terminal, else json)')
    .action(async (options: Record<string, unknown>) => {
      const format = outputFormat(options.output);
      const config = configFrom(options, { logLevel: 'warn' });
      const result = await withClientStore(config, (kv, keys) => readQueueStatus(kv, keys, config.topic));
      process.stdout.write(format === 'json' ? JSON.stringify(result) + '\n' : formatQueueStatus(config.topic, result));
    });
  return new Command('queue').description('inspect the queue').addCommand(status);
}
