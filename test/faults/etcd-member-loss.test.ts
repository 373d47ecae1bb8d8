/**
 * Issue 5, test 4: a 3-member etcd cluster on loopback loses one member (its
 * leader) mid-stream. Ingestion goes on with the two that are left, every
 * sample is stored exactly once, and no gputel process is restarted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { readOracle } from '../support/csv-oracle.js';
import { startEtcdCluster, type EtcdCluster, type EtcdMember } from '../support/etcd-process.js';
import { usePipelineHarness } from '../support/pipeline-harness.js';

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
  const h = usePipelineHarness('etcd-member', { etcd: () => startEtcdCluster(3) });

  it('keeps ingesting on the remaining quorum and stores every sample exactly once', async () => {
    const file = await h.generate('fleet.csv', { hosts: 6, gpusPerHost: 4, duration: '10m', interval: '1s', seed: 7, start: '2026-03-02T08:00:00Z' });
    const rows = readOracle(file);

    const { gateway, baseUrl, collector, streamer } = await h.startPipeline(file, { consumerId: 'only', streamerArgs: ['--batch-samples', '500'] });
    await sleep(300);

    // kill -9 of the leader: the hardest member to lose (an election follows).
    const leader = await leaderOf(h.etcd);
    await leader.stop();
    const atLoss = await h.storedSamples();
    assert.ok(atLoss < rows.length, `the member was lost mid-stream (${atLoss} of ${rows.length} stored)`);

    // Ingestion goes on while the member stays down: the stored count keeps growing to the end.
    let progressed = false;
    while (streamer.child.exitCode === null && !progressed) {
      progressed = (await h.storedSamples()) > atLoss;
      await sleep(100);
    }
    assert.equal(await streamer.exited, 0, `the streamer finished by itself: ${streamer.stderr().slice(-2000)}`);
    await h.assertStoredExactlyOnce(rows);
    assert.ok(progressed || (await h.storedSamples()) > atLoss, 'samples were stored after the loss');
    assert.equal(leader.running, false, 'the lost member stayed down to the end');
    assert.equal(gateway.child.exitCode, null, 'the gateway kept serving');
    assert.equal(collector.child.exitCode, null, 'the collector kept consuming');
    assert.equal((await fetch(`${baseUrl}/readyz`)).status, 200, 'a quorum answers: ready');
  });
});
