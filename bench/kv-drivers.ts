/**
 * Benchmark of our two KV drivers on the same workload: transactions of 100
 * puts of 1 KiB (sequential, and 8 in flight), then ranges over 10,000 keys
 * (with values, keys only, count only) and a range delete.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/kv-drivers.js [--etcd http://127.0.0.1:2379] [--seconds 3]
 *
 * Without --etcd a throw-away etcd is started through the test harness (needs
 * the `etcd` binary). Runs in well under 30 s. Prints figures, not verdicts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedKvStore } from '../src/kv/embedded-kv-store.js';
import { EtcdKvStore } from '../src/kv/etcd-kv-store.js';
import type { KvStore, TxnOp } from '../src/kv/kv-store.js';
import { startEtcd, type EtcdProcess } from '../test/support/etcd-process.js';
import { median } from './median.js';

const PUTS_PER_TXN = 100;
const VALUE_BYTES = 1024;
const RANGE_KEYS = 10_000;
const IN_FLIGHT = 8;
const RANGE_REPEATS = 5;

interface Figures {
  sequentialTxnPerS: number;
  concurrentTxnPerS: number;
  rangeValuesMs: number;
  rangeKeysOnlyMs: number;
  rangeCountOnlyMs: number;
  deleteMs: number;
  deleted: number;
}

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

const value = Buffer.alloc(VALUE_BYTES, 7);

function txnOf(prefix: string, txnNumber: number): TxnOp[] {
  const ops: TxnOp[] = new Array<TxnOp>(PUTS_PER_TXN);
  const txnPart = String(txnNumber).padStart(7, '0');
  for (let i = 0; i < PUTS_PER_TXN; i++) ops[i] = { type: 'put', key: `${prefix}${txnPart}/${String(i).padStart(3, '0')}`, value };
  return ops;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

async function measure(store: KvStore, root: string, seconds: number): Promise<Figures> {
  // The range prefix holds exactly RANGE_KEYS keys; later writes go elsewhere.
  const rangePrefix = `${root}/range/`;
  for (let t = 0; t < RANGE_KEYS / PUTS_PER_TXN; t++) await store.txn({ success: txnOf(rangePrefix, t) });

  let txns = 0;
  const writePrefix = `${root}/write/`;
  let started = performance.now();
  while (performance.now() - started < seconds * 1000) await store.txn({ success: txnOf(writePrefix, txns++) });
  const sequentialTxnPerS = txns / ((performance.now() - started) / 1000);

  let concurrent = 0;
  const concurrentPrefix = `${root}/concurrent/`;
  started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (performance.now() < deadline) await store.txn({ success: txnOf(concurrentPrefix, concurrent++) });
    }),
  );
  const concurrentTxnPerS = concurrent / ((performance.now() - started) / 1000);

  const rangeTimes = async (options: { keysOnly?: boolean; countOnly?: boolean }): Promise<number> => {
    const times: number[] = [];
    for (let i = 0; i < RANGE_REPEATS; i++) {
      times.push(
        await timed(async () => {
          const result = await store.range({ prefix: rangePrefix }, options);
          if (result.count !== RANGE_KEYS) throw new Error(`range returned ${result.count} keys, expected ${RANGE_KEYS}`);
        }),
      );
    }
    return median(times);
  };
  const rangeValuesMs = await rangeTimes({});
  const rangeKeysOnlyMs = await rangeTimes({ keysOnly: true });
  const rangeCountOnlyMs = await rangeTimes({ countOnly: true });

  let deleted = 0;
  const deleteMs = await timed(async () => {
    deleted = (await store.delete({ prefix: rangePrefix })).deleted;
  });
  await store.delete({ prefix: `${root}/` });
  return { sequentialTxnPerS, concurrentTxnPerS, rangeValuesMs, rangeKeysOnlyMs, rangeCountOnlyMs, deleteMs, deleted };
}

function print(driver: string, figures: Figures): void {
  const puts = (txnPerS: number): string => `${Math.round(txnPerS)} txn/s = ${Math.round(txnPerS * PUTS_PER_TXN).toLocaleString('en')} puts/s`;
  console.log(`${driver}`);
  console.log(`  txns of ${PUTS_PER_TXN} puts x ${VALUE_BYTES} B, sequential:   ${puts(figures.sequentialTxnPerS)}`);
  console.log(`  txns of ${PUTS_PER_TXN} puts x ${VALUE_BYTES} B, ${IN_FLIGHT} in flight:  ${puts(figures.concurrentTxnPerS)}`);
  console.log(
    `  range of ${RANGE_KEYS.toLocaleString('en')} keys: with values ${figures.rangeValuesMs.toFixed(1)} ms, ` +
      `keys only ${figures.rangeKeysOnlyMs.toFixed(1)} ms, count only ${figures.rangeCountOnlyMs.toFixed(1)} ms (median of ${RANGE_REPEATS})`,
  );
  console.log(`  delete of that range: ${figures.deleteMs.toFixed(1)} ms (${figures.deleted} keys)`);
}

async function main(): Promise<void> {
  const seconds = Number(argument('--seconds') ?? '3');
  const root = `/bench-${process.pid}-${Date.now()}`;
  const results: [string, Figures][] = [];

  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'gputel-bench-'));
  try {
    const embedded = await EmbeddedKvStore.open({ dataDir });
    try {
      results.push(['embedded (SQLite, temp dir)', await measure(embedded, root, seconds)]);
    } finally {
      await embedded.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
  print(...results[0]);

  const etcdUrl = argument('--etcd');
  let etcd: EtcdProcess | undefined;
  try {
    if (etcdUrl === undefined) etcd = await startEtcd();
    const endpoints = etcdUrl !== undefined ? [etcdUrl] : etcd!.endpoints;
    const store = await EtcdKvStore.connect({ endpoints });
    try {
      results.push([`etcd (${endpoints.join(',')}${etcd !== undefined ? ', started by the harness' : ''})`, await measure(store, root, seconds)]);
    } finally {
      await store.close();
    }
  } finally {
    await etcd?.stop();
  }
  print(...results[1]);

  const [embedded, etcdFigures] = [results[0][1], results[1][1]];
  console.log('embedded / etcd');
  console.log(`  sequential txn/s x${(embedded.sequentialTxnPerS / etcdFigures.sequentialTxnPerS).toFixed(1)}, ` +
    `${IN_FLIGHT} in flight x${(embedded.concurrentTxnPerS / etcdFigures.concurrentTxnPerS).toFixed(1)}, ` +
    `range with values x${(etcdFigures.rangeValuesMs / embedded.rangeValuesMs).toFixed(1)} faster`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
