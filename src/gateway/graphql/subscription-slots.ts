/**
 * The subscriptions one graphql-ws connection may hold at once. Each holds a
 * record-stream subscription and a queue of up to MAX_QUEUED_RECORDS, so a
 * client opening them without end would grow the gateway's memory without
 * bound; a dashboard needs a handful.
 */
import { GputelError } from '../../common/gputel-error.js';

export const MAX_SUBSCRIPTIONS_PER_CONNECTION = 100;

export class SubscriptionSlots {
  private used = 0;

  constructor(private readonly max = MAX_SUBSCRIPTIONS_PER_CONNECTION) {}

  /** Takes a slot; the returned function gives it back (once, however often called). Throws BAD_REQUEST when none is free. */
  take(): () => void {
    if (this.used >= this.max) {
      throw new GputelError('BAD_REQUEST', `this connection already has ${this.max} subscriptions, the most allowed: complete one first, or filter several GPUs in one`);
    }
    this.used++;
    let held = true;
    return () => {
      if (held) {
        held = false;
        this.used--;
      }
    };
  }
}
