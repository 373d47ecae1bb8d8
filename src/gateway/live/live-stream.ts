/**
 * `GET /ws`: the live stream of new records over a plain WebSocket (on
 * @fastify/websocket, registered once by gateway.ts). Each connection is a
 * LiveClient; this file holds what they share: one heartbeat timer that pings
 * every client, one pump timer that runs only while some client has frames
 * waiting, and the connection metrics. Protocol: docs/websocket.md.
 */
import '@fastify/websocket';
import type { FastifyInstance, FastifySchema } from 'fastify';
import type { Logger } from '../../common/logger.js';
import { gauge } from '../../common/metrics.js';
import { errorBody } from '../api-error.js';
import type { GatewayContext } from '../gateway-context.js';
import { LiveClient, CLOSE_GOING_AWAY, CLOSE_GRACE_MS, GATEWAY_STOPPING, type LiveClientLimits } from './live-client.js';

export interface LiveStreamOptions extends LiveClientLimits {
  /** Ping period; a client that has not answered the previous ping by the next one is disconnected. */
  pingIntervalMs: number;
}

/** Path of the live stream. */
export const LIVE_STREAM_PATH = '/ws';

export const LIVE_STREAM_DEFAULTS: LiveStreamOptions = {
  // 30 s, as common load balancers idle out at 60 s: a dead peer is gone within 60 s.
  pingIntervalMs: 30_000,
  // Bytes the socket may hold unsent before frames wait in the client's queue:
  // ~500 records of ~500 bytes, enough for a burst of a large host.
  highWaterBytes: 256 * 1024,
  // The queue behind it, in frames and bytes (whichever is reached first):
  // the oldest records are dropped beyond it. Together with the high-water mark
  // a client holds at most ~768 KiB, so 10,000 stuck clients stay bounded.
  maxQueuedFrames: 1_000,
  maxQueuedBytes: 512 * 1024,
  // A client whose send buffer does not drain under the high-water mark for this long is closed (1008).
  stuckCloseMs: 30_000,
  maxSubscriptions: 100,
};

/** How often clients with waiting frames are pumped; also how soon a drained buffer is refilled. */
const PUMP_INTERVAL_MS = 10;

const clientsGauge = gauge('gputel_gateway_ws_clients', 'Live stream (/ws) connections open');
const congestedGauge = gauge('gputel_gateway_ws_congested_clients', 'Live stream connections whose frames wait for their send buffer to drain');

/**
 * Adds `GET /ws` to `app`, which must have @fastify/websocket registered
 * before (it is a plugin of its own, so register it after that one).
 */
export function registerLiveStream(app: FastifyInstance, context: GatewayContext, logger: Logger, options: Partial<LiveStreamOptions> = {}): void {
  const settings: LiveStreamOptions = { ...LIVE_STREAM_DEFAULTS, ...options };
  const clients = new Set<LiveClient>();
  const congested = new Set<LiveClient>();
  let pumpTimer: NodeJS.Timeout | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;

  const pumpAll = (): void => {
    const nowMs = Date.now();
    for (const client of congested) if (!client.pump(nowMs)) uncongest(client);
    if (congested.size === 0 && pumpTimer) {
      clearInterval(pumpTimer);
      pumpTimer = undefined;
    }
  };
  // Gauges count up and down (not set): several gateways may share a process (tests, `gputel start` beside others).
  const uncongest = (client: LiveClient): void => {
    if (congested.delete(client)) congestedGauge.dec();
  };
  const onCongested = (client: LiveClient): void => {
    if (congested.has(client)) return;
    congested.add(client);
    congestedGauge.inc();
    pumpTimer ??= setInterval(pumpAll, PUMP_INTERVAL_MS).unref();
  };
  const heartbeat = (): void => {
    for (const client of clients) client.heartbeat();
  };

  app.route({
    method: 'GET',
    url: LIVE_STREAM_PATH,
    // Hidden from the OpenAPI document, as @fastify/websocket hides its routes: it cannot describe a WebSocket protocol (docs/websocket.md does).
    schema: { hide: true } as FastifySchema,
    // A plain GET (no upgrade) answers in the API's error shape, not with @fastify/websocket's empty 404.
    handler: async (_request, reply) =>
      reply
        .code(426)
        .header('upgrade', 'websocket')
        .send(errorBody('BAD_REQUEST', `${LIVE_STREAM_PATH} is a WebSocket endpoint: connect with a WebSocket client (ws://…${LIVE_STREAM_PATH}); see docs/websocket.md`)),
    wsHandler: (socket, request) => {
      const client = new LiveClient(socket, context.query, settings, logger.child({ reqId: request.id, client: request.ip }), onCongested);
      clients.add(client);
      clientsGauge.inc();
      heartbeatTimer ??= setInterval(heartbeat, settings.pingIntervalMs).unref();
      socket.on('close', () => {
        client.release();
        if (clients.delete(client)) clientsGauge.dec();
        uncongest(client);
        if (clients.size === 0 && heartbeatTimer) {
          clearInterval(heartbeatTimer);
          heartbeatTimer = undefined;
        }
      });
    },
  });

  // Stopping: every client is told (1001, going away) and destroyed if it does
  // not finish closing within the grace period, so that a client that stopped
  // reading cannot hold the server's close open.
  app.addHook('preClose', async () => {
    if (pumpTimer) clearInterval(pumpTimer);
    if (heartbeatTimer) clearInterval(heartbeatTimer);
    pumpTimer = heartbeatTimer = undefined;
    for (const client of clients) client.close(CLOSE_GOING_AWAY, GATEWAY_STOPPING);
    const deadline = Date.now() + CLOSE_GRACE_MS + 100;
    while (clients.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  });
}
