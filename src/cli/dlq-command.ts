/** `gputel dlq list|show|replay|purge`: the dead-letter queue of a topic. */
import { Command } from 'commander';
import { GputelError } from '../common/gputel-error.js';
import type { GputelConfig } from '../common/config.js';
import { DeadLetterQueue, type ReplayResult, type StoredDeadLetter } from '../queue/dead-letter-queue.js';
import { readTopicPartitions } from '../queue/topic-config.js';
import { withClientStore } from './client-store.js';
import { configFrom, withCommonOptions, type OptionGroup } from './common-options.js';
import { EXIT } from './exit-codes.js';
import { formatTable, outputFormat, printable } from './output-format.js';
import { progressSettingsOf, reportProgress, withProgressOptions, type ProgressSnapshot, type ProgressTask } from './progress-reporter.js';

function partitionOption(raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  const partition = Number(raw);
  if (!Number.isInteger(partition) || partition < 0) throw new GputelError('BAD_CONFIG', `--partition ${JSON.stringify(raw)}: use a partition number (0, 1, …)`);
  return partition;
}

/** The --partition option, checked against the topic's partition count. */
async function partitionOf(raw: unknown, partitions: () => Promise<number>): Promise<number | undefined> {
  const partition = partitionOption(raw);
  if (partition === undefined) return undefined;
  const count = await partitions();
  if (partition >= count) throw new GputelError('BAD_CONFIG', `--partition ${partition}: the topic has ${count} partitions (0 to ${count - 1})`);
  return partition;
}

/** One dead letter as the JSON output shows it (the message bytes only with `show`). */
function letterJson(letter: StoredDeadLetter, withValue: boolean): Record<string, unknown> {
  const { record } = letter;
  return {
    id: record.messageId,
    partition: record.partition,
    reason: record.reason,
    failed_at: record.failedAt,
    consumer_id: record.consumerId,
    ...(record.key === undefined ? {} : { key: record.key }),
    bytes: letter.bytes,
    ...(record.truncatedFrom === undefined ? {} : { truncated_from: record.truncatedFrom }),
    ...(record.correlationId === undefined ? {} : { correlation_id: record.correlationId }),
    ...(withValue ? { value_base64: record.value.toString('base64') } : {}),
  };
}

/** A dlq subcommand with the store's options and the queue's (the partition count checks --partition). */
function subcommand(name: string, description: string, groups: OptionGroup[] = ['topic', 'partitions']): Command {
  return withCommonOptions(new Command(name), groups).description(description);
}

async function withQueue<T>(
  options: Record<string, unknown>,
  use: (dlq: DeadLetterQueue, partitions: () => Promise<number>, config: GputelConfig) => Promise<T>,
): Promise<T> {
  const config = configFrom(options, { logLevel: 'warn' });
  return withClientStore(config, (kv, keys) =>
    use(new DeadLetterQueue(kv, keys, config.topic), async () => (await readTopicPartitions(kv, keys, config.topic)) ?? config.partitions, config),
  );
}

/**
 * Replays with progress: the letters handled of all the topic's (a count
 * taken first; with --partition the share is unknown, so no percentage).
 */
async function replayWithProgress(dlq: DeadLetterQueue, partitions: number, partition: number | undefined, settings: { enabled: boolean; intervalMs: number }, topic: string): Promise<ReplayResult> {
  const total = partition === undefined && settings.enabled ? await dlq.count() : undefined;
  let snapshot: ProgressSnapshot | undefined;
  const task: ProgressTask = { label: `dead letters of topic ${topic}`, unit: 'dead letters', snapshot: () => snapshot };
  const stopProgress = reportProgress([task], settings);
  try {
    const startedAtMs = performance.now();
    snapshot = { count: 0, done: 0, startDone: 0, total, startedAtMs };
    return await dlq.replay(partitions, partition, (result) => {
      const handled = result.replayed + result.skipped.length;
      snapshot = { count: handled, done: handled, startDone: 0, total, startedAtMs };
    });
  } finally {
    stopProgress();
  }
}

export function dlqCommand(): Command {
  const list = subcommand('list', 'dead letters with their reason')
    .option('--partition <n>', 'only this partition')
    .option('--output <format>', 'json or table (default: table on a terminal, else json)')
    .action(async (options: Record<string, unknown>) => {
      const format = outputFormat(options.output);
      const letters = await withQueue(options, async (dlq, partitions) => dlq.list(await partitionOf(options.partition, partitions)));
      if (format === 'json') {
        process.stdout.write(JSON.stringify(letters.map((letter) => letterJson(letter, false))) + '\n');
      } else {
        process.stdout.write(
          `${letters.length} dead letter(s)\n` +
            (letters.length === 0 ? '' : formatTable(['ID', 'PARTITION', 'FAILED AT', 'REASON'], letters.map(({ record }) => [record.messageId, record.partition, record.failedAt, printable(record.reason, 120)]))),
        );
      }
    });
  const show = subcommand('show', 'one dead letter, with its reason and the message bytes (base64)', ['topic'])
    .argument('<id>', 'the id gputel dlq list shows')
    .action(async (id: string, options: Record<string, unknown>) => {
      const letter = await withQueue(options, (dlq) => dlq.get(id));
      if (!letter) throw new GputelError('NOT_FOUND', `no dead letter ${printable(id, 80)}; gputel dlq list shows the ids`);
      process.stdout.write(JSON.stringify(letterJson(letter, true), null, 2) + '\n');
    });
  const replay = withProgressOptions(subcommand('replay', 'put dead letters back on their partition (fix what made them fail first, or they fail again)'))
    .option('--partition <n>', 'only this partition')
    .action(async (options: Record<string, unknown>) => {
      const result = await withQueue(options, async (dlq, partitions, config) =>
        replayWithProgress(dlq, await partitions(), await partitionOf(options.partition, partitions), progressSettingsOf(options, config), config.topic),
      );
      for (const skipped of result.skipped) process.stderr.write(`not replayed ${printable(skipped.messageId, 80)}: ${skipped.reason}\n`);
      process.stdout.write(`replayed ${result.replayed} dead letter(s)${result.skipped.length > 0 ? `, ${result.skipped.length} not replayed` : ''}\n`);
      if (result.skipped.length > 0) process.exitCode = EXIT.FAILED;
    });
  const purge = subcommand('purge', 'delete dead letters')
    .option('--partition <n>', 'only this partition')
    .action(async (options: Record<string, unknown>) => {
      const deleted = await withQueue(options, async (dlq, partitions) => dlq.purge(await partitionOf(options.partition, partitions)));
      process.stdout.write(`purged ${deleted} dead letter(s)\n`);
    });
  return new Command('dlq').description('the dead-letter queue: messages that could not be stored, with the reason').addCommand(list).addCommand(show).addCommand(replay).addCommand(purge);
}
