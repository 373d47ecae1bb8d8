/**
 * Test 5: poison messages on a real etcd with real gputel processes. They
 * land in the dead-letter queue with their reasons, everything else is
 * stored, `gputel dlq replay` puts them back (the one whose only fault was
 * its key is stored then; the others fail again, with the same reasons), and
 * `gputel dlq purge` clears them. A streamer of another topic is refused, and
 * `gputel queue status --output json` has its documented shape.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeySpace } from '../../src/kv/key-space.js';
import { encodeMessage } from '../../src/queue/message-codec.js';
import { messageId } from '../../src/queue/message-id.js';
import { TelemetryBatchBuilder } from '../../src/queue/telemetry-batch.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { assertApiMatches, waitForSamples } from '../support/api-checks.js';
import { readOracle, type OracleRow } from '../support/csv-oracle.js';
import { usePipelineHarness } from '../support/pipeline-harness.js';

type DeadLetterJson = { id: string; partition: number; reason: string; bytes: number };

/** One encoded message of `samples` GPU_UTIL values of one GPU, and the oracle rows it stands for. */
function handmadeMessage(cluster: string, hostname: string, uuid: string, samples: number): { value: Buffer; rows: OracleRow[] } {
  const builder = new TelemetryBatchBuilder(cluster, 'test');
  const gpu = builder.gpuSlot(uuid, () => ({ hostname, uuid, gpuId: 0, device: 'nvidia0', modelName: 'NVIDIA H100 80GB HBM3', driverVersion: '', container: '', pod: '', namespace: '', migInstanceId: '', migProfile: '' }));
  const metric = builder.metricSlot('DCGM_FI_DEV_GPU_UTIL');
  const rows: OracleRow[] = [];
  for (let i = 0; i < samples; i++) {
    const timestampMs = Date.parse('2026-03-02T08:00:00Z') + i * 1_000;
    builder.add(gpu, metric, timestampMs, 40 + i);
    rows.push({ line: 0, timestampMs, metric: 'DCGM_FI_DEV_GPU_UTIL', gpuId: 0, uuid, hostname, value: 40 + i });
  }
  return { value: encodeMessage(builder.take()), rows };
}

describe('faults: poison messages and the dead-letter queue', { timeout: 120_000 }, () => {
  const h = usePipelineHarness('poison', { kv: true });

  async function deadLetters(): Promise<DeadLetterJson[]> {
    return JSON.parse(await h.cli(['dlq', 'list', '--output', 'json'])) as DeadLetterJson[];
  }

  it('dead-letters poison with reasons, stores the rest, and replays', async () => {
    const { kv } = h;
    const file = await h.generate('fleet.csv', { hosts: 2, gpusPerHost: 2, duration: '2m', interval: '1s', seed: 5, start: '2026-03-02T08:00:00Z' });
    const rows = readOracle(file);
    const keys = new KeySpace('/gputel');
    const { baseUrl } = await h.startGateway();
    h.startCollector('solo');

    // Three kinds of poison, put straight onto the queue:
    // bytes that are no message; a good message under a key that is no message id;
    // a message for a cluster that another topic feeds.
    await kv.put(keys.clusterTopic('elsewhere'), Buffer.from('other-topic'));
    const stray = handmadeMessage('default', 'replayed-host', 'GPU-replayed-0000', 3);
    const foreign = handmadeMessage('elsewhere', 'foreign-host', 'GPU-foreign-0000', 2);
    await kv.put(keys.message('telemetry', 0, messageId(Date.now(), '0000beef', 1)), Buffer.from('not a message'));
    await kv.put(`${keys.partitionPrefix('telemetry', 1)}hand-written key`, stray.value);
    await kv.put(keys.message('telemetry', 2, messageId(Date.now(), '0000beef', 2)), foreign.value);

    const streamer = h.startStreamer(file, ['--batch-samples', '2000']);
    assert.equal(await streamer.exited, 0, streamer.stderr());
    await waitForSamples(baseUrl, rows.length, 30_000);
    // A streamer of another topic into this cluster (bound by the first streamer) is refused at start.
    const refused = h.startStreamer(file, ['--topic', 'other-topic']);
    assert.equal(await refused.exited, EXIT.CONFIG);
    assert.match(refused.stderr(), /cluster "default" is fed by topic "telemetry".*--topic telemetry/);

    let letters = await deadLetters();
    for (let i = 0; i < 50 && letters.length < 3; i++) {
      await sleep(200);
      letters = await deadLetters();
    }
    assert.equal(letters.length, 3, JSON.stringify(letters));
    const reasons = letters.map((letter) => letter.reason).sort();
    assert.match(reasons.find((r) => /malformed/.test(r)) ?? '', /queued message is malformed/);
    assert.match(reasons.find((r) => /not a message id/.test(r)) ?? '', /"hand-written key", which is not a message id/);
    assert.match(reasons.find((r) => /fed by topic/.test(r)) ?? '', /cluster "elsewhere", which is fed by topic "other-topic"/);
    await assertApiMatches(baseUrl, rows);

    // The queue status: its JSON shape, the one member owning all 16 partitions, nothing queued.
    const status = JSON.parse(await h.cli(['queue', 'status', '--output', 'json'])) as Record<string, unknown>;
    assert.deepEqual(Object.keys(status).sort(), ['members', 'partitions']);
    assert.deepEqual(status.members, [{ id: 'solo', partitions: Array.from({ length: 16 }, (_, i) => i) }]);
    const partitions = status.partitions as Record<string, unknown>[];
    assert.equal(partitions.length, 16);
    for (const [i, partition] of partitions.entries()) {
      assert.deepEqual(Object.keys(partition).sort(), ['depth', 'oldest_age_ms', 'owner', 'partition']);
      assert.deepEqual(partition, { partition: i, owner: 'solo', depth: 0, oldest_age_ms: null });
    }
    assert.match(await h.cli(['queue', 'status', '--output', 'table']), /^topic telemetry: 1 member\(s\), 16 partitions \(0 unowned\), 0 message\(s\) queued/);

    const shown = JSON.parse(await h.cli(['dlq', 'show', letters.find((l) => /not a message id/.test(l.reason))!.id])) as { value_base64: string; key: string };
    assert.equal(Buffer.from(shown.value_base64, 'base64').compare(stray.value), 0);
    assert.match(shown.key, /hand-written key$/);

    // Replay: all three go back; the one whose only fault was its key is stored, the others fail again.
    assert.match(await h.cli(['dlq', 'replay']), /^replayed 3 dead letter\(s\)$/m);
    await waitForSamples(baseUrl, rows.length + stray.rows.length, 30_000);
    letters = await deadLetters();
    for (let i = 0; i < 50 && letters.length < 2; i++) {
      await sleep(200);
      letters = await deadLetters();
    }
    assert.deepEqual(letters.map((l) => l.reason).sort(), reasons.filter((r) => !/not a message id/.test(r)));
    await assertApiMatches(baseUrl, [...rows, ...stray.rows]);

    assert.match(await h.cli(['dlq', 'purge', '--partition', '0']), /^purged 1 dead letter\(s\)$/m);
    assert.match(await h.cli(['dlq', 'purge']), /^purged 1 dead letter\(s\)$/m);
    assert.deepEqual(await deadLetters(), []);
  });
});
