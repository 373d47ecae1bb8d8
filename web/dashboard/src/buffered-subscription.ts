/**
 * A live subscription opened BEFORE a view reads its history, holding the
 * records that arrive meanwhile: subscribed only after the read, a record
 * stored between the read's answer and the subscription would be in
 * neither. release() hands the held records (the caller skips those its
 * history already has), then every next one, to the view.
 */
import type { TelemetryRecord } from './api-types.js';
import { liveSocket, type LiveFilter } from './live-socket.js';

/** Records held at most while the history loads; past this the oldest go (the history read covers them). */
const MAX_HELD = 50_000;

type Listener = (record: TelemetryRecord) => void;

export class BufferedSubscription {
  /** Ends the subscription. */
  readonly stop: () => void;
  private held: TelemetryRecord[] | null = [];
  private listener: Listener | undefined;

  constructor(filter: LiveFilter) {
    this.stop = liveSocket.subscribe(filter, (record) => {
      if (this.held === null) {
        this.listener?.(record);
        return;
      }
      this.held.push(record);
      if (this.held.length > MAX_HELD) this.held.shift();
    });
  }

  /** Delivers the records held so far, in their order, then every next one, to `listener`. */
  release(listener: Listener): void {
    const held = this.held ?? [];
    this.held = null;
    this.listener = listener;
    for (const record of held) listener(record);
  }
}
