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
