/**
 * One connection of the live stream (`GET /ws`): its subscriptions, and its
 * outgoing frames with backpressure. Delivery never waits on the socket: a
 * frame is written at once while the socket's send buffer (`bufferedAmount`)
 * is under the high-water mark, queued (bounded, oldest records dropped and
 * counted) above it, and the queue is pumped by the stream's shared timer as
 * the buffer drains. So one slow client costs the others nothing, and its
 * memory is bounded. Protocol: docs/websocket.md.
 */
import type { WebSocket } from 'ws';
import { GputelError, errorMessage } from '../../common/gputel-error.js';
import type { Logger } from '../../common/logger.js';
import { counter, gauge } from '../../common/metrics.js';
import type { FleetQuery } from '../../store/fleet-query.js';
import type { StreamedRecord } from '../../store/record-stream.js';
import { latestView } from '../api-views.js';
import { ClientFrameError, parseClientFrame } from './client-frame.js';
import { NAMED_FIELDS, resolveMetricName, type NamedFieldEntry } from '../../store/named-fields.js';

/** The limits of one connection (defaults and meaning in live-stream.ts). */
export interface LiveClientLimits {
  highWaterBytes: number;
  maxQueuedFrames: number;
  maxQueuedBytes: number;
  stuckCloseMs: number;
  maxSubscriptions: number;
}

/** WebSocket close code for a client too slow to be served: 1008, policy violation (it must keep reading). */
export const CLOSE_TOO_SLOW = 1008;
/** Close code and reason for every WebSocket client (live stream and GraphQL) when the gateway stops. */
export const CLOSE_GOING_AWAY = 1001;
export const GATEWAY_STOPPING = 'the gateway is stopping';
/** How long a closed-for-slowness or stopping client gets to finish the closing handshake before its socket is destroyed. */
export const CLOSE_GRACE_MS = 1_000;

const subscriptionsGauge = gauge('gputel_gateway_ws_subscriptions', 'Live stream (/ws) subscriptions open');
const droppedFrames = counter('gputel_gateway_ws_dropped_frames_total', 'Live stream record frames dropped because their client did not read fast enough');
const slowCloses = counter('gputel_gateway_ws_slow_closes_total', 'Live stream clients closed because their send buffer did not drain');

interface Subscription {
  id: string;
  /** `{"type":"record","id":…,"data":` for this subscription. */
  recordPrefix: string;
  unsubscribe: (() => void) | undefined;
  /** Records that arrived before `subscribed` was sent; sent right after it. */
  early: StreamedRecord[] | undefined;
  cancelled: boolean;
  /** The named fields its records carry: all, or those its metrics select (as REST's metrics=, null keeps meaning "no sample"). */
  namedFields: readonly NamedFieldEntry[];
}

interface QueuedFrame {
  text: string;
  /** Record frames may be dropped when the queue overflows; answers to the client's own frames never are. */
  droppable: boolean;
}

/**
 * The API view of a streamed record, as JSON, computed once per record
 * whatever the number of subscriptions that send it (record objects are
 * shared by every subscriber that selects all metrics).
 */
const viewJsonOf = new WeakMap<StreamedRecord, string>();

function recordViewJson(record: StreamedRecord, namedFields: readonly NamedFieldEntry[]): string {
  let json = viewJsonOf.get(record);
  if (json === undefined) {
    // Records of a metric selection are built for it alone (record-stream.ts), so one view per record still holds.
    json = JSON.stringify(latestView(record, namedFields));
    viewJsonOf.set(record, json);
  }
  return json;
}

export class LiveClient {
  private readonly subscriptions = new Map<string, Subscription>();
  /** Frames waiting for the socket to drain, oldest first (at most maxQueuedFrames, plus answers: a shift is cheap at that size). */
  private queue: QueuedFrame[] = [];
  private queuedBytes = 0;
  /** Record frames dropped since the last `dropped` notice. */
  private dropped = 0;
  /** When the send buffer was last seen under the high-water mark while frames waited. */
  private lastDrainMs = 0;
  private closed = false;
  /** A pong (or the connection itself) since the last ping. */
  private answeredPing = true;

  constructor(
    private readonly socket: WebSocket,
    private readonly query: FleetQuery,
    private readonly limits: LiveClientLimits,
    private readonly logger: Logger,
    /** Called when frames start waiting: the stream then pumps this client until they are sent. */
    private readonly onCongested: (client: LiveClient) => void,
  ) {
    socket.on('pong', () => {
      this.answeredPing = true;
    });
    socket.on('message', (data, isBinary) => {
      if (isBinary) {
        this.sendError(undefined, new ClientFrameError(undefined, 'binary frames are not part of this protocol: send JSON text frames'));
        return;
      }
      this.handleText(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]).toString('utf8'));
    });
  }

  /** Frames waiting for the socket to drain. */
  get queuedFrames(): number {
    return this.queue.length;
  }

  /**
   * Pings the client, or destroys the connection when the previous ping got
   * no pong (a dead peer, or one whose reads stopped). Called by the stream's heartbeat.
   */
  heartbeat(): void {
    if (this.closed) return;
    if (!this.answeredPing) {
      this.logger.info('live stream client missed a heartbeat; connection closed');
      this.release();
      this.socket.terminate();
      return;
    }
    this.answeredPing = false;
    this.socket.ping();
  }

  /**
   * Sends what waits while the send buffer is under the high-water mark: a
   * `dropped` notice first when frames were dropped, then the oldest frames.
   * Closes the client (1008) when its buffer stayed over the mark for
   * stuckCloseMs. Answers whether frames still wait (keep pumping).
   */
  pump(nowMs: number): boolean {
    if (this.closed) return false;
    while ((this.queuedFrames > 0 || this.dropped > 0) && this.socket.bufferedAmount < this.limits.highWaterBytes) {
      this.lastDrainMs = nowMs;
      if (this.dropped > 0) {
        this.socket.send(`{"type":"dropped","count":${this.dropped}}`);
        this.dropped = 0;
        continue;
      }
      const frame = this.queue.shift()!;
      this.queuedBytes -= frame.text.length;
      this.socket.send(frame.text);
    }
    if (this.queuedFrames === 0 && this.dropped === 0) return false;
    if (nowMs - this.lastDrainMs > this.limits.stuckCloseMs) {
      this.closeTooSlow(`its send buffer did not drain for ${this.limits.stuckCloseMs} ms`);
      return false;
    }
    return true;
  }

  /** Ends every subscription (the socket closed, or is being closed). Safe twice. */
  release(): void {
    if (this.closed) return;
    this.closed = true;
    for (const subscription of this.subscriptions.values()) this.cancel(subscription);
    this.subscriptions.clear();
    this.queue = [];
    this.queuedBytes = 0;
  }

  /** Closes the connection with `code` and destroys it if the closing handshake does not finish within CLOSE_GRACE_MS. */
  close(code: number, reason: string): void {
    this.release();
    this.socket.close(code, reason);
    setTimeout(() => {
      if (this.socket.readyState !== this.socket.CLOSED) this.socket.terminate();
    }, CLOSE_GRACE_MS).unref();
  }

  private closeTooSlow(why: string): void {
    slowCloses.inc();
    this.logger.warn({ queuedFrames: this.queuedFrames, bufferedBytes: this.socket.bufferedAmount }, `live stream client closed: ${why}`);
    this.close(CLOSE_TOO_SLOW, 'too slow: the stream could not be delivered');
  }

  private handleText(text: string): void {
    if (this.closed) return;
    let frame;
    try {
      frame = parseClientFrame(text);
    } catch (error) {
      this.sendError(error instanceof ClientFrameError ? error.frameId : undefined, error);
      return;
    }
    if (frame.type === 'subscribe') {
      this.subscribe(frame.id, frame.filter).catch((error: unknown) => this.sendError(frame.id, error));
    } else {
      this.unsubscribe(frame.id);
    }
  }

  private async subscribe(id: string, filter: Parameters<FleetQuery['subscribeRecords']>[0]): Promise<void> {
    if (this.subscriptions.has(id)) {
      throw new GputelError('CONFLICT', `subscription id ${JSON.stringify(id)} is already in use on this connection: unsubscribe it first, or use another id`);
    }
    if (this.subscriptions.size >= this.limits.maxSubscriptions) {
      throw new GputelError('BAD_REQUEST', `too many subscriptions on this connection (at most ${this.limits.maxSubscriptions}): unsubscribe one, or combine filters`);
    }
    const idJson = JSON.stringify(id);
    const selected = filter.metrics && filter.metrics.length > 0 ? new Set(filter.metrics.map(resolveMetricName)) : undefined;
    const namedFields = selected ? NAMED_FIELDS.filter(([, field]) => selected.has(field)) : NAMED_FIELDS;
    const subscription: Subscription = { id, recordPrefix: `{"type":"record","id":${idJson},"data":`, unsubscribe: undefined, early: [], cancelled: false, namedFields };
    this.subscriptions.set(id, subscription);
    let unsubscribe: () => void;
    try {
      unsubscribe = await this.query.subscribeRecords(filter, (records) => this.deliver(subscription, records));
    } catch (error) {
      if (this.subscriptions.get(id) === subscription) this.subscriptions.delete(id);
      if (subscription.cancelled) return;
      throw error;
    }
    // Unsubscribed, or the connection closed, while the subscription was being set up.
    if (subscription.cancelled) {
      unsubscribe();
      return;
    }
    subscription.unsubscribe = unsubscribe;
    subscriptionsGauge.inc();
    this.send(`{"type":"subscribed","id":${idJson}}`, false);
    const early = subscription.early ?? [];
    subscription.early = undefined;
    for (const record of early) this.send(subscription.recordPrefix + recordViewJson(record, subscription.namedFields) + '}', true);
  }

  private unsubscribe(id: string): void {
    const subscription = this.subscriptions.get(id);
    if (!subscription) {
      this.sendError(id, new GputelError('NOT_FOUND', `no subscription ${JSON.stringify(id)} on this connection`));
      return;
    }
    this.subscriptions.delete(id);
    this.cancel(subscription);
    this.send(`{"type":"unsubscribed","id":${JSON.stringify(id)}}`, false);
  }

  private cancel(subscription: Subscription): void {
    subscription.cancelled = true;
    if (subscription.unsubscribe) {
      subscription.unsubscribe();
      subscription.unsubscribe = undefined;
      subscriptionsGauge.dec();
    }
  }

  private deliver(subscription: Subscription, records: StreamedRecord[]): void {
    if (subscription.cancelled) return;
    if (subscription.early) {
      subscription.early.push(...records);
      return;
    }
    for (const record of records) this.send(subscription.recordPrefix + recordViewJson(record, subscription.namedFields) + '}', true);
  }

  private sendError(id: string | undefined, error: unknown): void {
    let code = 'INTERNAL';
    let message = 'internal error; the gateway log has the details';
    if (error instanceof GputelError && error.code !== 'INTERNAL') {
      code = error.code;
      message = error.message;
    } else {
      this.logger.error({ err: error }, `live stream request failed: ${errorMessage(error)}`);
    }
    const idField = id === undefined ? '' : `"id":${JSON.stringify(id)},`;
    this.send(`{"type":"error",${idField}"error":${JSON.stringify({ code, message })}}`, false);
  }

  /** Writes a frame now, or queues it behind a full send buffer (see the file's comment). Never waits. */
  private send(text: string, droppable: boolean): void {
    if (this.closed) return;
    if (this.queuedFrames === 0 && this.dropped === 0 && this.socket.bufferedAmount < this.limits.highWaterBytes) {
      this.socket.send(text);
      return;
    }
    const congested = this.queuedFrames === 0 && this.dropped === 0;
    this.queue.push({ text, droppable });
    this.queuedBytes += text.length;
    while (this.queuedFrames > this.limits.maxQueuedFrames || this.queuedBytes > this.limits.maxQueuedBytes) {
      if (this.dropOldestRecord()) continue;
      // Only answers to its own frames wait: a client that keeps sending and never reads. They are not dropped, so it goes.
      this.closeTooSlow('it sends frames but reads none of the answers, which filled its queue');
      return;
    }
    if (congested) {
      this.lastDrainMs = Date.now();
      this.onCongested(this);
    }
  }

  /** Drops the oldest queued record frame; false when only answers wait. */
  private dropOldestRecord(): boolean {
    let index = 0;
    while (index < this.queue.length && !this.queue[index].droppable) index++;
    if (index === this.queue.length) return false;
    const [frame] = this.queue.splice(index, 1);
    this.queuedBytes -= frame.text.length;
    this.dropped++;
    droppedFrames.inc();
    return true;
  }
}
