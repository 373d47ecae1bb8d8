/**
 * What `gputel queue status` shows: the consumer group's members and the
 * partitions each owns, and every partition's owner, depth and the age of
 * its oldest message (from the message id's production time).
 */
import { GputelError } from '../common/gputel-error.js';
import { unescapeSegment, type KeySpace } from '../kv/key-space.js';
import { MAX_TXN_OPS, type KvStore, type TxnOp } from '../kv/kv-store.js';
import { messageIdTimeMs } from './message-id.js';
import { readPartitionOwners } from './partition-claims.js';
import { readTopicPartitions } from './topic-config.js';

/** The JSON of `gputel queue status --output json`; field names are part of the CLI's contract. */
export interface QueueStatus {
  members: { id: string; partitions: number[] }[];
  partitions: { partition: number; owner: string | null; depth: number; oldest_age_ms: number | null }[];
}

/** Reads the status of `topic`. Throws NOT_FOUND when nothing has used the topic yet. */
export async function readQueueStatus(kv: KvStore, keys: KeySpace, topic: string, nowMs = Date.now()): Promise<QueueStatus> {
  const partitions = await readTopicPartitions(kv, keys, topic);
  if (partitions === undefined) {
    throw new GputelError('NOT_FOUND', `topic "${topic}" under ${keys.root} has never been used (no ${keys.topicConfig(topic)}); check --topic, --root and --etcd`);
  }
  const membersPrefix = keys.membersPrefix(topic);
  const memberKeys = await kv.range({ prefix: membersPrefix }, { keysOnly: true });
  const memberIds = new Set<string>();
  for (const entry of memberKeys.kvs) {
    try {
      memberIds.add(unescapeSegment(entry.key.slice(membersPrefix.length)));
    } catch {
      // not a member key gputel wrote: not a member
    }
  }
  const owners = await readPartitionOwners(kv, keys, topic, partitions);

  // Depth and oldest key of every partition, two reads each, as few transactions as etcd's op limit allows.
  const ops: TxnOp[] = [];
  for (let partition = 0; partition < partitions; partition++) {
    const range = { prefix: keys.partitionPrefix(topic, partition) };
    ops.push({ type: 'range', range, options: { countOnly: true } }, { type: 'range', range, options: { limit: 1, keysOnly: true } });
  }
  const results = [];
  for (let start = 0; start < ops.length; start += MAX_TXN_OPS) {
    results.push(...(await kv.txn({ success: ops.slice(start, start + MAX_TXN_OPS) })).results);
  }

  const status: QueueStatus = {
    members: [...memberIds].sort().map((id) => ({ id, partitions: [] })),
    partitions: [],
  };
  const byMember = new Map(status.members.map((member) => [member.id, member]));
  for (let partition = 0; partition < partitions; partition++) {
    const count = results[2 * partition];
    const first = results[2 * partition + 1];
    const depth = count.type === 'range' ? count.result.count : 0;
    const oldestKey = first.type === 'range' ? first.result.kvs[0]?.key : undefined;
    const producedAtMs = oldestKey === undefined ? undefined : messageIdTimeMs(oldestKey.slice(keys.partitionPrefix(topic, partition).length));
    const owner = owners.get(partition)?.memberId ?? null;
    if (owner !== null) byMember.get(owner)?.partitions.push(partition);
    status.partitions.push({ partition, owner, depth, oldest_age_ms: producedAtMs === undefined ? null : Math.max(0, nowMs - producedAtMs) });
  }
  return status;
}
