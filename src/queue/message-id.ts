/**
 * Message ids: `{13-digit ms}-{8 hex}-{12 digits}` (production time, a hash
 * of the source id, the source's message sequence), so key order is
 * production order. Ids are read back from queue keys, and go into chunk and
 * dead-letter keys: an id is only trusted after `isMessageId` accepted it, so
 * a stray key under a partition can never reach into another key.
 */
import { TIMESTAMP_KEY_WIDTH, timestampSegment } from '../kv/key-space.js';

const MESSAGE_ID = /^\d{13}-[0-9a-f]{8}-\d{12}$/;

/** True when `id` has the fixed message-id format. */
export function isMessageId(id: string): boolean {
  return MESSAGE_ID.test(id);
}

/** Builds an id. `sourceTag` is 8 lowercase hex digits; `sequence` a whole number under 10^12. */
export function messageId(producedAtMs: number, sourceTag: string, sequence: number): string {
  return `${timestampSegment(producedAtMs)}-${sourceTag}-${String(sequence).padStart(12, '0')}`;
}

/** When the message was produced (ms since the epoch); undefined when `id` is not a message id. */
export function messageIdTimeMs(id: string): number | undefined {
  return isMessageId(id) ? Number(id.slice(0, TIMESTAMP_KEY_WIDTH)) : undefined;
}
