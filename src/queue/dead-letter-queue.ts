/**
 * The dead-letter queue of a topic: `dlq/{message-id}`, one JSON record per
 * message that could not be applied, with the reason and the message's bytes.
 * Messages are moved in and out in one transaction each (put here + delete
 * there), so a message is always in exactly one place.
 */
import { GputelError } from '../common/gputel-error.js';
import type { KeySpace } from '../kv/key-space.js';
import type { Compare, KvStore } from '../kv/kv-store.js';
import { isMessageId } from './message-id.js';

/** A dead letter as stored (JSON). */
export interface DeadLetter {
  messageId: string;
  partition: number;
  /** Why it could not be applied. */
  reason: string;
  failedAt: string;
  consumerId: string;
  /** The queue key it was read from (differs from the partition + id for a malformed key). */
  key?: string;
  /** The message bytes, base64. */
  value: string;
}

/** A dead letter with the revision it was read at. */
export interface StoredDeadLetter {
  record: DeadLetter;
  key: string;
  modRevision: number;
}

export interface ReplayResult {
  replayed: number;
  /** Dead letters left where they were, with why. */
  skipped: { messageId: string; reason: string }[];
}

export class DeadLetterQueue {
  constructor(
    private readonly kv: KvStore,
    private readonly keys: KeySpace,
    private readonly topic: string,
  ) {}

  /**
   * Moves a message from its queue key to the DLQ, if `guards` (the message
   * is unchanged, the claim holds) still pass. Resolves to whether it moved.
   * Throws BAD_KEY for a dead letter whose id is not a message id.
   */
  async add(record: DeadLetter, queueKey: string, guards: Compare[]): Promise<boolean> {
    const result = await this.kv.txn({
      compare: guards,
      success: [
        { type: 'put', key: this.deadLetterKey(record.messageId), value: Buffer.from(JSON.stringify(record)) },
        { type: 'delete', range: { start: queueKey } },
      ],
    });
    return result.succeeded;
  }

  /** Every dead letter (of one partition when given), in id order. A record that is not readable is listed with its problem as the reason. */
  async list(partition?: number): Promise<StoredDeadLetter[]> {
    const prefix = this.keys.deadLetterPrefix(this.topic);
    const page = await this.kv.range({ prefix });
    return page.kvs
      .map((entry) => ({ record: parseDeadLetter(entry.key.slice(prefix.length), entry.value), key: entry.key, modRevision: entry.modRevision }))
      .filter((letter) => partition === undefined || letter.record.partition === partition);
  }

  /** One dead letter; undefined when there is none with that id. Throws BAD_REQUEST for a malformed id. */
  async get(messageId: string): Promise<StoredDeadLetter | undefined> {
    const key = this.deadLetterKey(messageId, 'BAD_REQUEST');
    const entry = await this.kv.get(key);
    return entry && { record: parseDeadLetter(messageId, entry.value), key, modRevision: entry.modRevision };
  }

  /**
   * Puts dead letters back on their partition under their id (one transaction
   * each: put on the partition + delete from the DLQ, if the dead letter is
   * unchanged). `partitions` is the topic's partition count: a record naming
   * another partition stays, and is reported.
   */
  async replay(partitions: number, partition?: number): Promise<ReplayResult> {
    const result: ReplayResult = { replayed: 0, skipped: [] };
    for (const letter of await this.list(partition)) {
      const { record } = letter;
      if (!Number.isInteger(record.partition) || record.partition < 0 || record.partition >= partitions) {
        result.skipped.push({ messageId: record.messageId, reason: `its partition ${record.partition} is not one of the topic's ${partitions}` });
        continue;
      }
      if (!isMessageId(record.messageId)) {
        result.skipped.push({ messageId: record.messageId, reason: 'its key does not end in a message id; purge it' });
        continue;
      }
      if (record.value === '') {
        result.skipped.push({ messageId: record.messageId, reason: 'the record holds no message bytes' });
        continue;
      }
      const moved = await this.kv.txn({
        compare: [{ key: letter.key, target: 'modRevision', operator: '==', operand: letter.modRevision }],
        success: [
          { type: 'put', key: this.keys.message(this.topic, record.partition, record.messageId), value: Buffer.from(record.value, 'base64') },
          { type: 'delete', range: { start: letter.key } },
        ],
      });
      if (moved.succeeded) result.replayed++;
      else result.skipped.push({ messageId: record.messageId, reason: 'it changed while being replayed; run replay again' });
    }
    return result;
  }

  /** Deletes dead letters (of one partition when given); resolves to how many. */
  async purge(partition?: number): Promise<number> {
    if (partition === undefined) return (await this.kv.delete({ prefix: this.keys.deadLetterPrefix(this.topic) })).deleted;
    let deleted = 0;
    for (const letter of await this.list(partition)) deleted += (await this.kv.delete({ start: letter.key })).deleted;
    return deleted;
  }

  private deadLetterKey(messageId: string, code: 'BAD_KEY' | 'BAD_REQUEST' = 'BAD_KEY'): string {
    if (!isMessageId(messageId)) {
      throw new GputelError(code, `"${messageId.slice(0, 80)}" is not a message id (expected {13-digit ms}-{8 hex}-{12 digits}, as gputel dlq list shows them)`);
    }
    return this.keys.deadLetter(this.topic, messageId);
  }
}

/** Reads a stored record; a broken one is still listed (so it can be seen and purged), its problem as the reason. */
function parseDeadLetter(id: string, value: Buffer): DeadLetter {
  try {
    const parsed = JSON.parse(value.toString('utf8')) as Partial<DeadLetter>;
    if (typeof parsed === 'object' && parsed !== null && typeof parsed.reason === 'string' && typeof parsed.value === 'string' && Number.isInteger(parsed.partition)) {
      return {
        messageId: id,
        partition: parsed.partition!,
        reason: parsed.reason,
        failedAt: String(parsed.failedAt ?? ''),
        consumerId: String(parsed.consumerId ?? ''),
        ...(typeof parsed.key === 'string' ? { key: parsed.key } : {}),
        value: parsed.value,
      };
    }
  } catch {
    // reported below
  }
  return { messageId: id, partition: -1, reason: 'the dead-letter record is not readable JSON; purge it', failedAt: '', consumerId: '', value: '' };
}
