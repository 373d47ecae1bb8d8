/**
 * A topic's partition count, recorded by the first streamer or collector that
 * uses the topic. Every later one must agree: a streamer routing to 32
 * partitions while collectors consume 16 would strand half the data silently.
 */
import { GputelError } from '../common/gputel-error.js';
import type { KeySpace } from '../kv/key-space.js';
import type { KvStore } from '../kv/kv-store.js';

interface TopicConfig {
  partitions: number;
}

/** Records the topic's partition count, or checks it against the recorded one; throws BAD_CONFIG on a mismatch. */
export async function ensureTopicPartitions(kv: KvStore, keys: KeySpace, topic: string, partitions: number): Promise<void> {
  const key = keys.topicConfig(topic);
  const result = await kv.txn({
    compare: [{ key, target: 'createRevision', operator: '==', operand: 0 }],
    success: [{ type: 'put', key, value: Buffer.from(JSON.stringify({ partitions } satisfies TopicConfig)) }],
    failure: [{ type: 'range', range: { start: key } }],
  });
  if (result.succeeded) return;
  const stored = result.results[0]?.type === 'range' ? result.results[0].result.kvs[0] : undefined;
  const recorded = stored ? (JSON.parse(stored.value.toString('utf8')) as Partial<TopicConfig>).partitions : undefined;
  if (recorded !== partitions) {
    throw new GputelError(
      'BAD_CONFIG',
      `topic "${topic}" has ${recorded} partitions (recorded at ${key}), but this process was started with --partitions ${partitions}: ` +
        `start it with --partitions ${recorded}, or use another --topic or --root`,
    );
  }
}

/** The topic's recorded partition count; undefined when nothing has used the topic yet. Throws BAD_CONFIG for an unreadable record. */
export async function readTopicPartitions(kv: KvStore, keys: KeySpace, topic: string): Promise<number | undefined> {
  const key = keys.topicConfig(topic);
  const stored = await kv.get(key);
  if (!stored) return undefined;
  let partitions: unknown;
  try {
    partitions = (JSON.parse(stored.value.toString('utf8')) as Partial<TopicConfig>).partitions;
  } catch {
    partitions = undefined;
  }
  if (!Number.isInteger(partitions) || (partitions as number) < 1) {
    throw new GputelError('BAD_CONFIG', `the topic record at ${key} does not hold a partition count; delete it and start a streamer or collector again`);
  }
  return partitions as number;
}
