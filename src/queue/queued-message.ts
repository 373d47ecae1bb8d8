/** One queued message as the consumer hands it to its handler. */
export interface QueuedMessage {
  partition: number;
  key: string;
  /** Validated: has the fixed message-id format (see message-id.ts). */
  messageId: string;
  modRevision: number;
  value: Buffer;
  /** Revision of this consumer's claim on the partition: writes compare the owner key against it (fencing). */
  claimRevision: number;
  /**
   * The correlation id of the streamer flush that queued the message, set by
   * the handler once it decoded the message (undefined before, or when it
   * could not), so the worker's log lines and dead letter carry it too.
   */
  correlationId?: string;
}

/**
 * Applies a message and deletes it. Throws a GputelError with code
 * BAD_MESSAGE, BAD_KEY or BAD_INPUT for a message that can never be applied
 * (it goes to the dead-letter queue), anything else to have it retried.
 */
export type MessageHandler = (message: QueuedMessage) => Promise<void>;
