/**
 * Issue 5, test 4: a 3-member etcd cluster on loopback loses one member (its
 * leader) mid-stream. Ingestion goes on with the two that are left, every
 * sample is stored exactly once, and no gputel process is restarted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertApiMatches, getJson, waitForSamples } from '../support/api-checks.js';
import { readOracle } from '../support/csv-oracle.js';
import { findFreePort, startEtcdCluster, type EtcdCluster, type EtcdMember } from '../support/etcd-process.js';
import { runGputel, type GputelProcess } from '../support/gputel-process.js';

/** The member the others follow, asked through etcd's HTTP gateway. */
async function leaderOf(cluster: EtcdCluster): Promise<EtcdMember> {
  const response = await fetch(`${cluster.members[0].clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}' });
  const status = (await response.json()) as { leader: string };
  for (const member of cluster.members) {
    const own = (await (await fetch(`${member.clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}' })).json()) as { header: { member_id: string } };
    if (own.header.member_id === status.leader) return member;
  }
  throw new Error(`no member is the leader ${status.leader}`);
}

describe('faults: one of three etcd members lost mid-stream', { timeout: 150_000 }, () => {
  let cluster: EtcdCluster;
  let dir: string;
  const processes: GputelProcess[] = [];
  before(async () => {
    cluster = await startEtcdCluster(3);
    dir = mkdtempSync(join(tmpdir(), 'gputel-etcd-member-'));
  });
  after(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function run(args: string[]): GputelProcess {
    const child = runGputel(args);
    processes.push(child);
    return child;
  }

  it('keeps ingesting on the remaining quorum and stores every sample exactly once', async () => {
    const file = join(dir, 'fleet.csv');
    const generate = run(['generate', '--out', file, '--hosts', '6', '--gpus-per-host', '4', '--duration', '10m', '--interval', '1s', '--seed', '7', '--start', '2026-03-02T08:00:00Z']);
    assert.equal(await generate.exited, 0, generate.stderr());
    const rows = readOracle(file);

    const common = ['--etcd', cluster.endpoints.join(','), '--host', '127.0.0.1'];
    const port = await findFreePort();
    const gateway = run(['gateway', ...common, '--port', String(port)]);
    const baseUrl = `http://127.0.0.1:${port}`;
    const collector = run(['collector', ...common, '--port', '0', '--consumer-id', 'only']);
    await sleep(1_000);
    const streamer = run(['streamer', ...common, '--port', '0', '--file', file, '--batch-samples', '500']);
    const storedSamples = async (): Promise<number> =>
      (await getJson<{ samples: number }>(`${baseUrl}/api/v1/stats`).catch(() => ({ body: { samples: 0 } }))).body.samples;
    for (let i = 0; i < 500 && (await storedSamples()) === 0; i++) await sleep(20);
    await sleep(300);

    // kill -9 of the leader: the hardest member to lose (an election follows).
    const leader = await leaderOf(cluster);
    await leader.stop();
    const atLoss = await storedSamples();
    assert.ok(atLoss < rows.length, `the member was lost mid-stream (${atLoss} of ${rows.length} stored)`);

    // Ingestion goes on while the member stays down: the stored count keeps growing to the end.
    let progressed = false;
    while (streamer.child.exitCode === null && !progressed) {
      progressed = (await storedSamples()) > atLoss;
      await sleep(100);
    }
    assert.equal(await streamer.exited, 0, `the streamer finished by itself: ${streamer.stderr().slice(-2000)}`);
    await waitForSamples(baseUrl, rows.length, 60_000);
    assert.ok(progressed || (await storedSamples()) > atLoss, 'samples were stored after the loss');
    await sleep(500); // anything counted twice would show up now
    await assertApiMatches(baseUrl, rows);
    assert.equal(leader.running, false, 'the lost member stayed down to the end');
    assert.equal(gateway.child.exitCode, null, 'the gateway kept serving');
    assert.equal(collector.child.exitCode, null, 'the collector kept consuming');
    assert.equal((await fetch(`${baseUrl}/readyz`)).status, 200, 'a quorum answers: ready');
  });
});
