/**
 * Issue 5, test 3: etcd is restarted mid-stream on the same data dir. Every
 * sample is stored exactly once, and no gputel process is restarted: the
 * streamer, the collector and the gateway ride out the outage (retryable
 * errors, backoff, watches resumed) on their own.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertApiMatches, getJson, waitForSamples } from '../support/api-checks.js';
import { readOracle } from '../support/csv-oracle.js';
import { findFreePort, startEtcd, type EtcdProcess } from '../support/etcd-process.js';
import { runGputel, type GputelProcess } from '../support/gputel-process.js';

describe('faults: etcd restarted mid-stream', { timeout: 120_000 }, () => {
  let etcd: EtcdProcess;
  let dir: string;
  const processes: GputelProcess[] = [];
  before(async () => {
    etcd = await startEtcd();
    dir = mkdtempSync(join(tmpdir(), 'gputel-etcd-restart-'));
  });
  after(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function run(args: string[]): GputelProcess {
    const child = runGputel(args);
    processes.push(child);
    return child;
  }

  it('stores every sample exactly once, and no gputel process restarts', async () => {
    const file = join(dir, 'fleet.csv');
    const generate = run(['generate', '--out', file, '--hosts', '6', '--gpus-per-host', '4', '--duration', '10m', '--interval', '1s', '--seed', '5', '--start', '2026-03-02T08:00:00Z']);
    assert.equal(await generate.exited, 0, generate.stderr());
    const rows = readOracle(file);

    const common = ['--etcd', etcd.endpoints.join(','), '--host', '127.0.0.1'];
    const port = await findFreePort();
    const gateway = run(['gateway', ...common, '--port', String(port)]);
    const baseUrl = `http://127.0.0.1:${port}`;
    const collector = run(['collector', ...common, '--port', '0', '--consumer-id', 'only']);
    await sleep(1_000);
    const streamer = run(['streamer', ...common, '--port', '0', '--file', file, '--batch-samples', '500']);
    const storedSamples = async (): Promise<number> =>
      (await getJson<{ samples: number }>(`${baseUrl}/api/v1/stats`).catch(() => ({ body: { samples: 0 } }))).body.samples;
    for (let i = 0; i < 500 && (await storedSamples()) === 0; i++) await sleep(20);

    // Twice, with the stream going on: etcd down, then back on the same data.
    const pidsBefore = [gateway.pid, collector.pid, streamer.pid];
    for (let restart = 0; restart < 2; restart++) {
      await sleep(300);
      await etcd.restart(async () => {
        // While etcd is down, the gateway says so on /readyz (and stays alive).
        const readyz = await fetch(`${baseUrl}/readyz`);
        assert.equal(readyz.status, 503);
        const body = (await readyz.json()) as { checks: { name: string; ok: boolean; error?: string }[] };
        assert.equal(body.checks.find((check) => check.name === 'store (etcd)')?.ok, false, JSON.stringify(body));
        assert.equal((await fetch(`${baseUrl}/healthz`)).status, 200);
        await sleep(700);
      });
    }
    const during = await storedSamples();
    assert.ok(during < rows.length, `the restarts came mid-stream (${during} of ${rows.length} stored)`);

    assert.equal(await streamer.exited, 0, `the streamer finished by itself: ${streamer.stderr().slice(-2000)}`);
    await waitForSamples(baseUrl, rows.length, 60_000);
    await sleep(500); // anything counted twice would show up now
    await assertApiMatches(baseUrl, rows);
    for (const [index, process] of [gateway, collector].entries()) {
      assert.equal(process.child.exitCode, null, `${['gateway', 'collector'][index]} is still running`);
      assert.equal(process.pid, pidsBefore[index]);
    }
    // /readyz of the gateway is ready again without a restart.
    assert.equal((await fetch(`${baseUrl}/readyz`)).status, 200);
  });
});
