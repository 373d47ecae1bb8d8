/**
 * The subscriptions one graphql-ws connection holds, by operation id. Each
 * holds a record-stream subscription and a queue of up to MAX_QUEUED_RECORDS,
 * so a client opening them without end would grow the gateway's memory
 * without bound; a dashboard needs a handful.
 *
 * It also closes two holes mercurius leaves: a second `subscribe` with an id
 * in use replaced the first in mercurius's map, so the first was never ended
 * (it ran on after the socket closed); and a `complete` that arrives while a
 * subscription is still being set up was ignored, so it ran until the
 * connection closed.
 */
import { GputelError } from '../../common/gputel-error.js';

export const MAX_SUBSCRIPTIONS_PER_CONNECTION = 100;

export class SubscriptionSlots {
  /** Ids that hold a slot: set up, or being set up. */
  private readonly live = new Set<string>();
  /** Live ids the client completed before their set-up finished (see wasCompleted). */
  private readonly completed = new Set<string>();

  constructor(private readonly max = MAX_SUBSCRIPTIONS_PER_CONNECTION) {}

  /**
   * Reserves a slot for operation `id`, before the subscription is set up.
   * Throws BAD_REQUEST when the id is in use on this connection or no slot is
   * free: thrown from a hook that runs before mercurius stores anything under
   * the id, the refusal leaves the subscription that holds the id alone.
   */
  reserve(id: string): void {
    if (this.live.has(id)) {
      throw new GputelError('BAD_REQUEST', `subscription id ${JSON.stringify(id.slice(0, 80))} is in use on this connection: complete it first, or use another id`);
    }
    if (this.live.size >= this.max) {
      throw new GputelError('BAD_REQUEST', `this connection already has ${this.max} subscriptions, the most allowed: complete one first, or filter several GPUs in one`);
    }
    this.live.add(id);
  }

  /**
   * The function that gives back the slot of `id` (once, however often
   * called), reserving it first when it is not yet. Throws as reserve does.
   */
  take(id: string): () => void {
    if (!this.live.has(id)) this.reserve(id);
    let held = true;
    return () => {
      if (held) {
        held = false;
        this.live.delete(id);
        this.completed.delete(id);
      }
    };
  }

  /** The client completed `id` (graphql-ws `complete`). */
  complete(id: string): void {
    if (this.live.has(id)) this.completed.add(id);
  }

  /** True when the client completed `id` while it was being set up: the caller ends it at once. */
  wasCompleted(id: string): boolean {
    return this.completed.has(id);
  }

  /** Subscriptions held (tests). */
  get size(): number {
    return this.live.size;
  }
}
