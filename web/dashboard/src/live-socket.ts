/**
 * The page's one WebSocket to `/ws` (docs/websocket.md), shared by the views:
 * each view subscribes with a filter and gets the matching records. A
 * browser cannot set headers on a WebSocket, so the key travels as the
 * subprotocol `gputel-key.KEY` after the protocol spoken (docs/security.md).
 * The socket reconnects with backoff and subscribes again; records stored
 * while it was down are not replayed (a view that must not miss them reads
 * the gap over HTTP).
 */
import type { TelemetryRecord } from './api-types.js';
import { forgetKey, storedKey } from './key-store.js';

export interface LiveFilter {
  gpus?: string[];
  hosts?: string[];
  metrics?: string[];
}

type Listener = (record: TelemetryRecord) => void;

interface Subscription {
  filter: LiveFilter;
  listener: Listener;
}

const MAX_BACKOFF_MS = 15_000;

export class LiveSocket {
  private socket: WebSocket | undefined;
  private readonly subscriptions = new Map<string, Subscription>();
  private nextId = 1;
  private backoffMs = 500;
  private reconnectTimer: number | undefined;
  /** Called with a short state for the header's indicator. */
  onState: (state: 'live' | 'connecting' | 'down', detail?: string) => void = () => undefined;

  /** Starts a subscription; returns the function that ends it. */
  subscribe(filter: LiveFilter, listener: Listener): () => void {
    const id = `s${this.nextId++}`;
    this.subscriptions.set(id, { filter, listener });
    if (this.socket?.readyState === WebSocket.OPEN) this.send({ type: 'subscribe', id, ...filter });
    else this.connect();
    return () => {
      this.subscriptions.delete(id);
      if (this.socket?.readyState === WebSocket.OPEN) this.send({ type: 'unsubscribe', id });
    };
  }

  /** Drops the connection and opens a new one (a new key was entered). */
  reconnect(): void {
    // A retry still pending would otherwise hold connect() off for up to MAX_BACKOFF_MS.
    window.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.socket?.close();
    this.socket = undefined;
    this.backoffMs = 500;
    if (this.subscriptions.size > 0) this.connect();
  }

  private connect(): void {
    if (this.socket !== undefined || this.reconnectTimer !== undefined) return;
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
    const key = storedKey();
    let socket: WebSocket;
    try {
      socket = key === null ? new WebSocket(url, ['gputel']) : new WebSocket(url, ['gputel', `gputel-key.${key}`]);
    } catch (error) {
      // A key that cannot be a subprotocol (SyntaxError): forget it; the views' HTTP calls ask for another, and a new key reconnects.
      if (key !== null) forgetKey();
      this.onState('down', `live updates off: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    this.socket = socket;
    this.onState('connecting');
    socket.addEventListener('open', () => {
      this.backoffMs = 500;
      this.onState('live');
      for (const [id, { filter }] of this.subscriptions) this.send({ type: 'subscribe', id, ...filter });
    });
    socket.addEventListener('message', (event) => this.receive(event.data));
    socket.addEventListener('close', () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      if (this.subscriptions.size === 0) return;
      // A refused upgrade (401: no or bad key) also lands here: the views' HTTP calls show the key prompt.
      // Jittered (½ to 1½ times the backoff): when a gateway goes, its clients do not all come back in the same instant.
      const delayMs = Math.round(this.backoffMs * (0.5 + Math.random()));
      this.onState('down', `live updates paused; retrying in ${Math.max(1, Math.round(delayMs / 1000))} s`);
      this.reconnectTimer = window.setTimeout(() => {
        this.reconnectTimer = undefined;
        this.connect();
      }, delayMs);
      this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2);
    });
  }

  private send(frame: Record<string, unknown>): void {
    this.socket?.send(JSON.stringify(frame));
  }

  private receive(data: unknown): void {
    if (typeof data !== 'string') return;
    let frame: { type?: string; id?: string; data?: TelemetryRecord; error?: { message: string }; count?: number };
    try {
      frame = JSON.parse(data) as typeof frame;
    } catch {
      return;
    }
    if (frame.type === 'record' && frame.id !== undefined && frame.data !== undefined) {
      this.subscriptions.get(frame.id)?.listener(frame.data);
    } else if (frame.type === 'error') {
      this.onState('down', `live stream refused a subscription: ${frame.error?.message ?? 'unknown error'}`);
    } else if (frame.type === 'dropped') {
      this.onState('live', `${frame.count ?? 0} live records were dropped (the page fell behind)`);
    }
  }
}

/** The page's socket. */
export const liveSocket = new LiveSocket();
