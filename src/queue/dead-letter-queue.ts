/**
 * The dead-letter queue of a topic: `dlq/{message-id}`, one record per
 * message that could not be applied, with the reason and the message's bytes.
 * Messages are moved in and out in one transaction each (put here + delete
 * there), so a message is always in exactly one place.
 *
 * A record is `GDLQ1\n`, the header's length (uint32 BE), the header (JSON:
 * everything but the bytes) and the message's raw bytes. Raw, because base64
 * of a message near the request limit would not fit in one etcd request, and
 * the message could then be neither applied nor set aside. Records of earlier
 * versions (one JSON object, bytes in base64) are still read.
 *
 * Reads go one record at a time (keys in pages, then each value): the queue
 * may hold many messages of up to ~1 MB each.
 */
import { GputelError } from '../common/gputel-error.js';
import type { KeySpace } from '../kv/key-space.js';
import { prefixEnd, type Compare, type KvStore } from '../kv/kv-store.js';
import { isMessageId } from './message-id.js';

const MAGIC = Buffer.from('GDLQ1\n');
/** Keys read per page when walking the queue. */
const KEY_PAGE = 500;
/** A reason is cut to this many characters: it only says why, and must not push the record over the request limit. */
const MAX_REASON_CHARS = 2_000;
/**
 * Message bytes a record keeps: with the header (reason and key cut to
 * MAX_REASON_CHARS) the record still fits etcd's default 1.5 MiB request.
 * Messages gputel writes are far smaller (one flush is at most
 * MAX_REQUEST_BYTES in kv-store.ts); a bigger value under a queue key was put there by
 * something else, and is kept cut (and not replayable).
 */
const MAX_PAYLOAD_BYTES = 1_400_000;

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
  /** The message bytes (empty in what list() returns). */
  value: Buffer;
  /** Size of the message as it was queued, when `value` holds only its start (see MAX_PAYLOAD_BYTES). */
  truncatedFrom?: number;
  /** The correlation id of the streamer flush that queued it, when the message could be decoded that far. */
  correlationId?: string;
}

/** A dead letter with the revision it was read at. */
export interface StoredDeadLetter {
  record: DeadLetter;
  key: string;
  modRevision: number;
  /** Bytes of the message as stored in the record. */
  bytes: number;
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
        { type: 'put', key: this.deadLetterKey(record.messageId), value: encodeDeadLetter(record) },
        { type: 'delete', range: { start: queueKey } },
      ],
    });
    return result.succeeded;
  }

  /**
   * Every dead letter (of one partition when given), in id order, without the
   * message bytes. A record that is not readable is listed with its problem as the reason.
   */
  async list(partition?: number): Promise<StoredDeadLetter[]> {
    const letters: StoredDeadLetter[] = [];
    for await (const letter of this.each(partition)) letters.push({ ...letter, record: { ...letter.record, value: Buffer.alloc(0) } });
    return letters;
  }

  /** Walks the dead letters (of one partition when given) in id order, one record in memory at a time. */
  private async *each(partition?: number): AsyncGenerator<StoredDeadLetter> {
    const prefix = this.keys.deadLetterPrefix(this.topic);
    const end = prefixEnd(prefix);
    let start = prefix;
    for (;;) {
      const page = await this.kv.range({ start, end }, { keysOnly: true, limit: KEY_PAGE });
      for (const { key } of page.kvs) {
        const entry = await this.kv.get(key);
        if (!entry) continue; // gone since the page was read (replayed or purged by someone else)
        const record = decodeDeadLetter(key.slice(prefix.length), entry.value);
        if (partition !== undefined && record.partition !== partition) continue;
        yield { record, key, modRevision: entry.modRevision, bytes: record.value.length };
      }
      if (!page.more || page.kvs.length === 0) return;
      start = page.kvs[page.kvs.length - 1].key + '\0';
    }
  }

  /** One dead letter; undefined when there is none with that id. Throws BAD_REQUEST for a malformed id. */
  async get(messageId: string): Promise<StoredDeadLetter | undefined> {
    const key = this.deadLetterKey(messageId, 'BAD_REQUEST');
    const entry = await this.kv.get(key);
    if (!entry) return undefined;
    const record = decodeDeadLetter(messageId, entry.value);
    return { record, key, modRevision: entry.modRevision, bytes: record.value.length };
  }

  /**
   * Puts dead letters back on their partition under their id (one transaction
   * each: put on the partition + delete from the DLQ, if the dead letter is
   * unchanged). `partitions` is the topic's partition count: a record naming
   * another partition stays, and is reported. `onLetter` is called after each
   * dead letter is handled (replayed or skipped), with the result so far: for
   * progress displays.
   */
  async replay(partitions: number, partition?: number, onLetter?: (result: ReplayResult) => void): Promise<ReplayResult> {
    const result: ReplayResult = { replayed: 0, skipped: [] };
    for await (const letter of this.each(partition)) {
      const skipped = await this.replayOne(letter, partitions);
      if (skipped === undefined) result.replayed++;
      else result.skipped.push({ messageId: letter.record.messageId, reason: skipped });
      onLetter?.(result);
    }
    return result;
  }

  /** Replays one dead letter; resolves to why it was left in place, or undefined once it is back on its partition. */
  private async replayOne(letter: StoredDeadLetter, partitions: number): Promise<string | undefined> {
    const { record } = letter;
    if (!Number.isInteger(record.partition) || record.partition < 0 || record.partition >= partitions) return `its partition ${record.partition} is not one of the topic's ${partitions}`;
    if (!isMessageId(record.messageId)) return 'its key does not end in a message id; purge it';
    if (record.value.length === 0) return 'the record holds no message bytes';
    if (record.truncatedFrom !== undefined) return `the record holds only the first ${record.value.length} of its ${record.truncatedFrom} bytes; purge it`;
    const moved = await this.kv.txn({
      compare: [{ key: letter.key, target: 'modRevision', operator: '==', operand: letter.modRevision }],
      success: [
        { type: 'put', key: this.keys.message(this.topic, record.partition, record.messageId), value: record.value },
        { type: 'delete', range: { start: letter.key } },
      ],
    });
    return moved.succeeded ? undefined : 'it changed while being replayed; run replay again';
  }

  /** How many dead letters the topic holds (all partitions). */
  async count(): Promise<number> {
    return (await this.kv.range({ prefix: this.keys.deadLetterPrefix(this.topic) }, { countOnly: true })).count;
  }

  /** Deletes dead letters (of one partition when given); resolves to how many. */
  async purge(partition?: number): Promise<number> {
    if (partition === undefined) return (await this.kv.delete({ prefix: this.keys.deadLetterPrefix(this.topic) })).deleted;
    let deleted = 0;
    for await (const letter of this.each(partition)) deleted += (await this.kv.delete({ start: letter.key })).deleted;
    return deleted;
  }

  private deadLetterKey(messageId: string, code: 'BAD_KEY' | 'BAD_REQUEST' = 'BAD_KEY'): string {
    if (!isMessageId(messageId)) {
      throw new GputelError(code, `"${messageId.slice(0, 80)}" is not a message id (expected {13-digit ms}-{8 hex}-{12 digits}, as gputel dlq list shows them)`);
    }
    return this.keys.deadLetter(this.topic, messageId);
  }
}

/** A record as stored: see the layout at the top. Cuts the reason and the bytes so it always fits one request. */
export function encodeDeadLetter(record: DeadLetter): Buffer {
  const { value, ...fields } = record;
  const payload = value.length > MAX_PAYLOAD_BYTES ? value.subarray(0, MAX_PAYLOAD_BYTES) : value;
  const header: Omit<DeadLetter, 'value'> = {
    ...fields,
    reason: fields.reason.length > MAX_REASON_CHARS ? `${fields.reason.slice(0, MAX_REASON_CHARS)}…` : fields.reason,
    key: fields.key?.slice(0, MAX_REASON_CHARS),
    ...(payload !== value ? { truncatedFrom: value.length } : {}),
  };
  const headerBytes = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(headerBytes.length);
  return Buffer.concat([MAGIC, length, headerBytes, payload]);
}

/**
 * Reads a stored record, either layout; a broken one is still listed (so it
 * can be seen and purged), its problem as the reason.
 */
export function decodeDeadLetter(id: string, bytes: Buffer): DeadLetter {
  try {
    if (bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
      const headerEnd = MAGIC.length + 4 + bytes.readUInt32BE(MAGIC.length);
      if (headerEnd <= bytes.length) {
        const header = JSON.parse(bytes.subarray(MAGIC.length + 4, headerEnd).toString('utf8')) as unknown;
        const record = fromFields(id, header, bytes.subarray(headerEnd));
        if (record) return record;
      }
    } else {
      const parsed = JSON.parse(bytes.toString('utf8')) as { value?: unknown } | null;
      const record = typeof parsed?.value === 'string' ? fromFields(id, parsed, Buffer.from(parsed.value, 'base64')) : undefined;
      if (record) return record;
    }
  } catch {
    // reported below
  }
  return { messageId: id, partition: -1, reason: 'the dead-letter record is not readable; purge it', failedAt: '', consumerId: '', value: Buffer.alloc(0) };
}

function fromFields(id: string, fields: unknown, value: Buffer): DeadLetter | undefined {
  if (typeof fields !== 'object' || fields === null) return undefined;
  const parsed = fields as Partial<Record<keyof DeadLetter, unknown>>;
  if (typeof parsed.reason !== 'string' || !Number.isInteger(parsed.partition)) return undefined;
  return {
    messageId: id,
    partition: parsed.partition as number,
    reason: parsed.reason,
    failedAt: String(parsed.failedAt ?? ''),
    consumerId: String(parsed.consumerId ?? ''),
    ...(typeof parsed.key === 'string' ? { key: parsed.key } : {}),
    value,
    ...(Number.isInteger(parsed.truncatedFrom) ? { truncatedFrom: parsed.truncatedFrom as number } : {}),
    ...(typeof parsed.correlationId === 'string' ? { correlationId: parsed.correlationId } : {}),
  };
}
