/**
 * Test 1: a consumer group of 3 collector processes and 2 streamer processes
 * on a real etcd stream 1,000,000 rows; one collector is killed with kill -9
 * mid-stream and another started. Its partitions are taken over, and in the
 * end the stored sample count equals the rows in and every value matches.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { QueueStatus } from '../../src/queue/queue-status.js';
import { assertApiMatches, waitForSamples } from '../support/api-checks.js';
import { readOracle } from '../support/csv-oracle.js';
import { usePipelineHarness } from '../support/pipeline-harness.js';

/** Per file: 25 hosts × 5 GPUs × 250 ticks × 16 metrics = 500,000 rows. */
const FLEET = { hosts: 25, gpusPerHost: 5, duration: '2500s', interval: '10s', start: '2026-03-02T08:00:00Z' };
const ROWS_PER_FILE = 500_000;

describe('faults: kill -9 of a collector in a group of three, two streamers, 1,000,000 rows', { timeout: 180_000 }, () => {
  const h = usePipelineHarness('group-kill');

  it('stores every sample exactly once after a collector is killed mid-stream and another joins', async () => {
    const files = await Promise.all(['fleet-a.csv', 'fleet-b.csv'].map((name, i) => h.generate(name, { ...FLEET, seed: 11 + i })));
    // The second fleet is other hosts (the generator names hosts gpu-node-NN whatever the seed).
    execFileSync('sed', ['-i', 's/gpu-node-/gpu-rack-/g', files[1]]);

    const { baseUrl } = await h.startGateway();
    const collectors = new Map(['c1', 'c2', 'c3'].map((id) => [id, h.startCollector(id)]));
    const queueStatus = async (): Promise<QueueStatus> => JSON.parse(await h.cli(['queue', 'status', '--output', 'json'])) as QueueStatus;
    const spread = (status: QueueStatus): string => status.members.map((m) => `${m.id}:${m.partitions.length}`).join(' ');
    const shares = (status: QueueStatus | undefined): string => JSON.stringify(status?.members.map((m) => m.partitions.length).sort());
    let status: QueueStatus | undefined;
    for (let i = 0; i < 100 && shares(status) !== '[5,5,6]'; i++) {
      if (i > 0) await sleep(100);
      status = await queueStatus().catch(() => undefined); // the topic exists once a collector started
    }
    assert.deepEqual(status!.members.map((m) => m.partitions.length).sort(), [5, 5, 6], `16 partitions over 3 collectors: ${spread(status!)}`);

    const streamers = files.map((file) => h.startStreamer(file));
    await h.waitForStored(100_000, 1_000);

    const victim = collectors.get('c2')!;
    victim.child.kill('SIGKILL');
    await victim.exited;
    const atKill = await h.storedSamples();
    assert.ok(atKill > 0 && atKill < 2 * ROWS_PER_FILE, `the kill came mid-stream (${atKill} stored)`);
    collectors.set('c4', h.startCollector('c4'));

    for (const streamer of streamers) assert.equal(await streamer.exited, 0, streamer.stderr());
    await waitForSamples(baseUrl, 2 * ROWS_PER_FILE, 90_000);
    await sleep(500); // anything counted twice would show up now

    // The group without c2: every partition owned by a live collector, 6/5/5, nothing left queued.
    for (let i = 0; i < 100; i++) {
      status = await queueStatus();
      if (status.members.length === 3 && status.partitions.every((p) => p.owner !== null && p.owner !== 'c2')) break;
      await sleep(100);
    }
    assert.deepEqual(status!.members.map((m) => m.id), ['c1', 'c3', 'c4']);
    assert.deepEqual(status!.members.map((m) => m.partitions.length).sort(), [5, 5, 6], spread(status!));
    assert.equal(status!.partitions.reduce((sum, p) => sum + p.depth, 0), 0, 'the queue is drained');

    const rows = [...readOracle(files[0]), ...readOracle(files[1])];
    assert.equal(rows.length, 2 * ROWS_PER_FILE);
    await assertApiMatches(baseUrl, rows);
  });
});
