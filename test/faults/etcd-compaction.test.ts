/**
 * Issue 5, test 6: a run long enough for several compactions with
 * `--etcd-compaction-interval 5s`. The elected gputel instance compacts etcd's
 * history: reads and watches at the early revisions fail as compacted, the
 * database stays bounded by the live data, and every sample is stored once
 * while the gateway's watches ride through the compactions.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GputelError } from '../../src/common/gputel-error.js';
import { assertApiMatches, waitForSamples } from '../support/api-checks.js';
import { readOracle, type OracleRow } from '../support/csv-oracle.js';
import type { EtcdProcess } from '../support/etcd-process.js';
import { usePipelineHarness } from '../support/pipeline-harness.js';

const INTERVAL_MS = 5_000;
/**
 * Measured (3 rounds of 115,200 rows): with format-2 chunks (~10× smaller
 * than format 1's, so etcd's page overhead and the last interval's history
 * weigh more) the database in use after compaction is 2.8× the live keys and
 * values (1.6 MB live); with `--etcd-compaction-interval 0` it is 14× and
 * grows with every round. 5× leaves room for noise and fails without
 * compaction.
 */
const MAX_IN_USE_PER_LIVE_BYTE = 5;

async function etcdHttp<T>(etcd: EtcdProcess, path: string, body: unknown): Promise<T> {
  return (await (await fetch(`${etcd.endpoints[0]}${path}`, { method: 'POST', body: JSON.stringify(body) })).json()) as T;
}

describe('etcd history compaction over a long run', { timeout: 150_000 }, () => {
  const h = usePipelineHarness('compaction', { kv: true, roleArgs: ['--etcd-compaction-interval', '5s'] });

  it('compacts the early revisions, keeps the database bounded, and loses nothing', async (t) => {
    const { etcd, kv } = h;
    const { gateway, baseUrl } = await h.startGateway();
    const collector = h.startCollector();
    const earlyRevision = await kv.revision();

    // Three files streamed one after another: every message is written and deleted, filling the history.
    const rows: OracleRow[] = [];
    for (let round = 1; round <= 3; round++) {
      const file = await h.generate(`round${round}.csv`, { hosts: 6, gpusPerHost: 4, duration: '5m', interval: '1s', seed: round, start: `2026-03-0${round}T08:00:00Z` });
      rows.push(...readOracle(file));
      const streamer = h.startStreamer(file, ['--batch-samples', '2000']);
      assert.equal(await streamer.exited, 0, streamer.stderr().slice(-2000));
      await waitForSamples(baseUrl, rows.length, 60_000);
    }
    // Two intervals with no writes: everything older than one interval is compacted by now.
    await sleep(2 * INTERVAL_MS + 4_000);

    const old = await etcdHttp<{ code?: number; message?: string }>(etcd, '/v3/kv/range', { key: Buffer.from('/gputel/').toString('base64'), revision: earlyRevision });
    assert.match(old.message ?? '', /required revision has been compacted/, 'a read at an early revision fails as compacted');
    await assert.rejects(
      kv.watch({ prefix: '/gputel/' }, { fromRevision: earlyRevision, onEvent: () => undefined }),
      (error: unknown) => error instanceof GputelError && error.code === 'KV_COMPACTED',
    );

    // Bounded: what etcd keeps in use is a small multiple of the live keys and values, not of everything ever written.
    const all = await kv.range({ prefix: '' });
    const liveBytes = all.kvs.reduce((sum, item) => sum + Buffer.byteLength(item.key) + item.value.length, 0);
    const status = await kv.status();
    const ratio = status.dbSizeInUseBytes / liveBytes;
    t.diagnostic(`etcd in use ${status.dbSizeInUseBytes} B, on disk ${status.dbSizeBytes} B, live ${liveBytes} B: ${ratio.toFixed(2)}x`);
    assert.ok(ratio <= MAX_IN_USE_PER_LIVE_BYTE, `etcd keeps ${ratio.toFixed(2)}x the live bytes in use (at most ${MAX_IN_USE_PER_LIVE_BYTE}x)`);

    // One instance compacts, holding the leased key; the roles report etcd's health.
    assert.match(await (await fetch(`${baseUrl}/metrics`)).text(), /gputel_etcd_db_size_in_use_bytes \d+/);
    const leader = await kv.get('/gputel/maintenance/history-compactor');
    assert.ok(leader !== undefined && leader.lease !== '0', 'the compactor holds its leased key');

    await assertApiMatches(baseUrl, rows);
    assert.equal((await fetch(`${baseUrl}/readyz`)).status, 200, 'the gateway followed through every compaction');
    assert.equal(gateway.child.exitCode, null);
    assert.equal(collector.child.exitCode, null);
  });
});
