/**
 * etcd's backend quota full (its NOSPACE alarm), on a real etcd with a small
 * --quota-backend-bytes: writes fail with a clear, retryable KV_NO_SPACE, a
 * real gputel gateway says why on /readyz and exports the alarm on /metrics,
 * and once an operator compacts, defragments and disarms, it is ready again
 * without a restart.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GputelError } from '../../src/common/gputel-error.js';
import { startEtcd, type EtcdProcess } from '../support/etcd-process.js';
import { usePipelineHarness } from '../support/pipeline-harness.js';

const QUOTA_BYTES = 4 * 1024 * 1024;

async function etcdHttp(etcd: EtcdProcess, path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${etcd.endpoints[0]}${path}`, { method: 'POST', body: JSON.stringify(body) });
  assert.equal(response.ok, true, `${path}: ${response.status}`);
  return (await response.json()) as Record<string, unknown>;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

describe('faults: etcd out of space (NOSPACE alarm)', { timeout: 90_000 }, () => {
  const h = usePipelineHarness('nospace', { etcd: () => startEtcd({ extraArgs: ['--quota-backend-bytes', String(QUOTA_BYTES)] }), kv: true });

  it('fails writes with KV_NO_SPACE, shows the reason on /readyz and /metrics, and recovers after compact, defrag and disarm', async () => {
    const { etcd, kv } = h;
    const { gateway, baseUrl } = await h.startGateway();
    await waitFor('the gateway to be ready', async () => ((await fetch(`${baseUrl}/readyz`)).status === 200 ? true : undefined));

    // Fill the quota: every put is a new revision of ~512 KiB kept in history.
    let failure: unknown;
    let puts = 0;
    const value = Buffer.alloc(512 * 1024, 7);
    for (; puts < 200 && failure === undefined; puts++) {
      await kv.put(`/fill/${puts % 4}`, value).catch((error: unknown) => (failure = error));
    }
    assert.ok(failure instanceof GputelError, `the quota was reached after ${puts} puts`);
    assert.equal(failure.code, 'KV_NO_SPACE');
    assert.equal(failure.retryable, true, 'retryable: it heals once an operator frees space, so nothing is dead-lettered for it');
    assert.match(failure.message, /etcd is out of space \(NOSPACE alarm\): compact, defragment and disarm/);
    assert.match(failure.message, /docs\/etcd-operations\.md/);
    await assert.rejects(kv.put('/small', Buffer.from('x')), (error: unknown) => error instanceof GputelError && error.code === 'KV_NO_SPACE');
    assert.deepEqual((await kv.status()).alarms, ['NOSPACE']);
    await assert.rejects(kv.ping(), (error: unknown) => error instanceof GputelError && error.code === 'KV_NO_SPACE');

    const readyz = await fetch(`${baseUrl}/readyz`);
    assert.equal(readyz.status, 503);
    const body = (await readyz.json()) as { checks: { name: string; ok: boolean; error?: string }[] };
    const store = body.checks.find((check) => check.name.startsWith('store'));
    assert.equal(store?.ok, false);
    assert.match(store?.error ?? '', /NOSPACE alarm/);
    assert.equal((await fetch(`${baseUrl}/healthz`)).status, 200, 'alive, only not ready');
    // The gateway's health poll (every 10 s) exports the alarm.
    const metrics = await waitFor('gputel_etcd_alarm{alarm="NOSPACE"} 1 on /metrics', async () => {
      const text = await (await fetch(`${baseUrl}/metrics`)).text();
      return /gputel_etcd_alarm\{alarm="NOSPACE"\} 1/.test(text) ? text : undefined;
    });
    assert.match(metrics, /gputel_etcd_db_size_bytes \d+/);
    assert.match(metrics, /gputel_etcd_db_size_in_use_bytes \d+/);

    // What docs/etcd-operations.md tells an operator to do, through etcd's HTTP gateway.
    await etcdHttp(etcd, '/v3/kv/compaction', { revision: String(await kv.revision()), physical: true });
    await etcdHttp(etcd, '/v3/maintenance/defragment', {});
    const alarms = (await etcdHttp(etcd, '/v3/maintenance/alarm', { action: 'GET' })).alarms as { memberID: string; alarm: string }[];
    for (const alarm of alarms) await etcdHttp(etcd, '/v3/maintenance/alarm', { action: 'DEACTIVATE', memberID: alarm.memberID, alarm: alarm.alarm });

    await kv.put('/small', Buffer.from('x'));
    await waitFor('the gateway to be ready again', async () => ((await fetch(`${baseUrl}/readyz`)).status === 200 ? true : undefined));
    assert.equal(gateway.child.exitCode, null, 'the gateway was never restarted');
  });
});
