/**
 * The client side of bench/ws-stream.ts, in a process of its own so that its
 * work and memory are not counted as the gateway's: opens `clients` WebSocket
 * connections to `url`, client i subscribing to GPU i mod the GPUs given,
 * and reports through IPC how many records arrived and how long after their
 * timestamp (the writer stamps each record with the wall clock at its write).
 *
 *   node dist/bench/ws-stream-clients.js URL CLIENTS GPU_ID[,GPU_ID…]
 */
import WebSocket from 'ws';

const [url, clientsArgument, gpuList] = process.argv.slice(2);
const clients = Number(clientsArgument);
const gpus = gpuList.split(',');
/** Connections opened at once: more makes the gateway's accept queue overflow on a 2-core machine. */
const CONNECT_CONCURRENCY = 200;

let latenciesMs: number[] = [];
let records = 0;
const sockets: WebSocket[] = [];

function connect(index: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    socket.once('error', reject);
    socket.on('message', (data) => {
      const text = String(data);
      if (text.startsWith('{"type":"subscribed"')) {
        resolve();
        return;
      }
      if (!text.startsWith('{"type":"record"')) return;
      // `"timestamp":"…Z"` is the first field of the record: read it without parsing the frame.
      const at = text.indexOf('"timestamp":"') + 13;
      latenciesMs.push(Date.now() - Date.parse(text.slice(at, at + 24)));
      records++;
    });
    socket.once('open', () => socket.send(JSON.stringify({ type: 'subscribe', id: 's', gpus: [gpus[index % gpus.length]] })));
    sockets.push(socket);
  });
}

async function connectAll(): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < clients) await connect(next++);
  };
  await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, clients) }, worker));
}

// The bench process is gone (killed, or failed before it closed us): so are we, with every socket.
process.on('disconnect', () => process.exit(0));

process.on('message', (message: { type: string }) => {
  if (message.type === 'reset') {
    latenciesMs = [];
    records = 0;
    process.send!({ type: 'reset' });
  } else if (message.type === 'report') {
    process.send!({ type: 'report', records, latenciesMs });
  } else if (message.type === 'close') {
    for (const socket of sockets) socket.terminate();
    process.exit(0);
  }
});

connectAll().then(
  () => process.send!({ type: 'connected' }),
  (error: unknown) => {
    process.send!({ type: 'failed', error: String(error) });
    process.exit(1);
  },
);
