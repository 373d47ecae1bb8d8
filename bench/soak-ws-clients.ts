/**
 * The live-stream side of the soak (bench/soak.ts), in a process of its own:
 * CLIENTS WebSocket connections to the load balancer's /ws, each subscribed
 * to GPUS_EACH consecutive GPUs (at a 10 s interval, 10 GPUs is one record a
 * second). It counts what a user would notice:
 * - records, and how old each was on arrival (its timestamp to now);
 * - `dropped` notices (frames the gateway dropped for a slow reader);
 * - missed records: a GPU's record that skips a tick (records of one GPU
 *   arrive in time order) on a connection that stayed open;
 * - closes; a closed client connects again after ½ to 1½ s and subscribes
 *   anew (a record stored while it was away is not missed: a new stream
 *   starts from now).
 *
 * IPC: {type:'start', gpus:[uuid…], intervalMs} connects them all and
 * answers {type:'started', connected}; {type:'stop'} answers
 * {type:'report', …} and exits.
 *
 *   (forked by bench/soak.ts) node dist/bench/soak-ws-clients.js WS_URL CLIENTS GPUS_EACH
 */
import WebSocket from 'ws';
import { percentile } from './percentile.js';

const [url, clientsArgument, gpusEachArgument] = process.argv.slice(2);
const CLIENTS = Number(clientsArgument);
const GPUS_EACH = Number(gpusEachArgument);
/** Connections opened at once: more makes the accept queues overflow on a 2-core machine. */
const CONNECT_CONCURRENCY = 100;
const RECONNECT_DELAY_MS = 1_000;
const CONNECT_TIMEOUT_MS = 30_000;
/** Arrival ages kept (a reservoir: every record counts, a fair sample is kept). */
const AGE_SAMPLES = 200_000;

let intervalMs = 10_000;
let gpus: string[] = [];
let stopping = false;
let records = 0;
let droppedFrames = 0;
let missedRecords = 0;
let outOfOrder = 0;
let closes = 0;
let reconnects = 0;
let errorFrames = 0;
const errorSamples: string[] = [];
const ages: number[] = [];
const sockets = new Set<WebSocket>();

function keepAge(ms: number): void {
  if (ages.length < AGE_SAMPLES) ages.push(ms);
  else {
    const slot = Math.floor(Math.random() * records);
    if (slot < AGE_SAMPLES) ages[slot] = ms;
  }
}

/** Opens client `index`; resolves once subscribed (or when the connection fails: it retries on its own). */
function connect(index: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    sockets.add(socket);
    /** The newest timestamp seen per GPU on this connection. */
    const newest = new Map<string, number>();
    let settled = false;
    const settle = (): void => {
      if (!settled) {
        settled = true;
        clearTimeout(giveUp);
        resolve();
      }
    };
    // One that neither subscribes nor closes in time does not hold the others up (it keeps trying on its own).
    const giveUp = setTimeout(settle, CONNECT_TIMEOUT_MS);
    socket.on('open', () => {
      const mine = Array.from({ length: GPUS_EACH }, (_, i) => gpus[(index * GPUS_EACH + i) % gpus.length]);
      socket.send(JSON.stringify({ type: 'subscribe', id: 's', gpus: mine }));
    });
    socket.on('message', (data) => {
      const text = String(data);
      if (text.startsWith('{"type":"record"')) {
        records++;
        // The record's first fields: "timestamp":"…Z", then "uuid":"…".
        const at = text.indexOf('"timestamp":"') + 13;
        const timestampMs = Date.parse(text.slice(at, at + 24));
        const uuidAt = text.indexOf('"uuid":"', at) + 8;
        const uuid = text.slice(uuidAt, text.indexOf('"', uuidAt));
        keepAge(Date.now() - timestampMs);
        const last = newest.get(uuid);
        if (last !== undefined) {
          if (timestampMs > last + intervalMs) missedRecords += Math.round((timestampMs - last) / intervalMs) - 1;
          else if (timestampMs < last) outOfOrder++;
        }
        if (last === undefined || timestampMs > last) newest.set(uuid, timestampMs);
      } else if (text.startsWith('{"type":"subscribed"')) {
        settle();
      } else if (text.startsWith('{"type":"dropped"')) {
        droppedFrames += (JSON.parse(text) as { count: number }).count;
      } else if (text.startsWith('{"type":"error"')) {
        // A refused subscribe leaves the connection open with nothing to wait for: counted, and connecting goes on.
        errorFrames++;
        if (errorSamples.length < 20) errorSamples.push(text.slice(0, 300));
        settle();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      settle();
      if (stopping) return;
      closes++;
      // Jittered, as a well-behaved client does: the clients of a lost gateway do not all come back at once.
      setTimeout(() => {
        if (stopping) return;
        reconnects++;
        void connect(index);
      }, RECONNECT_DELAY_MS * (0.5 + Math.random()));
    });
  });
}

async function connectAll(): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < CLIENTS) await connect(next++);
  };
  await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, CLIENTS) }, worker));
}

process.on('message', (message: { type: string; gpus?: string[]; intervalMs?: number }) => {
  if (message.type === 'start') {
    gpus = message.gpus!;
    intervalMs = message.intervalMs!;
    void connectAll().then(() => process.send!({ type: 'started', connected: sockets.size }));
  } else if (message.type === 'stop') {
    stopping = true;
    const open = [...sockets].filter((socket) => socket.readyState === WebSocket.OPEN).length;
    for (const socket of sockets) socket.terminate();
    const sorted = ages.sort((a, b) => a - b);
    process.send!(
      { type: 'report', clients: CLIENTS, openAtEnd: open, records, droppedFrames, missedRecords, outOfOrder, closes, reconnects, errorFrames, errorSamples, ageP50Ms: percentile(sorted, 50), ageP99Ms: percentile(sorted, 99) },
      () => process.exit(0),
    );
  }
});
// Its parent gone (the soak killed or crashed), it stops too.
process.on('disconnect', () => process.exit(0));
