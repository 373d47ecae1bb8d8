/**
 * The reference for end-to-end rows/s through etcd (issue 10): etcd's own
 * put throughput, in transactions of 100 puts, on a fresh etcd started for
 * it (loopback, a free port, stopped by its pid). Puts go through gputel's
 * etcd driver (only src/kv talks to etcd), `--concurrency` transactions in
 * flight, as the streamer and collector keep several in flight; the values
 * are `--value-bytes` long, about what a queued message of one row costs.
 * Not a test: a shared machine moves the figure; read the ratio.
 *
 *   node dist/bench/etcd-txn-put.js [--puts 200000 --concurrency 8 --value-bytes 64 --json FILE]
 */
import { KeySpace } from '../src/kv/key-space.js';
import type { TxnOp } from '../src/kv/kv-store.js';
import { openKvStore } from '../src/kv/open-kv-store.js';
import { startEtcd } from '../test/support/etcd-process.js';
import { jsonPathArgument, writeFigures } from './figures-file.js';

const PUTS_PER_TXN = 100;

function argument(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i > 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a whole number of at least 1`);
  return value;
}

async function main(): Promise<void> {
  const puts = argument('puts', 200_000);
  const concurrency = argument('concurrency', 8);
  const valueBytes = argument('value-bytes', 64);
  const jsonPath = jsonPathArgument();
  const etcd = await startEtcd();
  const kv = await openKvStore({ endpoints: etcd.endpoints });
  const prefix = `${new KeySpace().root}/bench-txn/`;
  const value = Buffer.alloc(valueBytes, 0x61);
  const txns = Math.ceil(puts / PUTS_PER_TXN);
  try {
    const putTxn = (t: number): Promise<unknown> => {
      const ops: TxnOp[] = [];
      for (let i = 0; i < PUTS_PER_TXN; i++) ops.push({ type: 'put', key: `${prefix}${String(t).padStart(8, '0')}/${String(i).padStart(3, '0')}`, value });
      return kv.txn({ success: ops });
    };
    // Warm-up: the connection, etcd's first writes, this process's JIT.
    for (let t = 0; t < 20; t++) await putTxn(txns + t);
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < txns) await putTxn(next++);
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const putsPerS = (txns * PUTS_PER_TXN) / seconds;
    console.log(
      `etcd put throughput: ${(txns * PUTS_PER_TXN).toLocaleString('en-US')} puts in ${txns.toLocaleString('en-US')} transactions of ${PUTS_PER_TXN}, ` +
        `${concurrency} in flight, ${valueBytes}-byte values: ${Math.round(putsPerS).toLocaleString('en-US')} puts/s (${seconds.toFixed(1)} s)`,
    );
    writeFigures(jsonPath, { puts: txns * PUTS_PER_TXN, putsPerTxn: PUTS_PER_TXN, concurrency, valueBytes, seconds, putsPerS });
  } finally {
    await kv.close();
    await etcd.stop();
  }
}

await main();
