/**
 * The dead-letter queue on etcd: a record always fits one request (raw bytes,
 * not base64, which for a message near the limit did not), records of the
 * earlier JSON/base64 layout are still read and replayed, and list, replay
 * and purge walk the queue in pages instead of one range of every payload.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeySpace } from '../../src/kv/key-space.js';
import { DeadLetterQueue, type DeadLetter } from '../../src/queue/dead-letter-queue.js';
import { messageId } from '../../src/queue/message-id.js';
import { useEtcdStore } from '../support/etcd-store.js';

const TOPIC = 'telemetry';

function letter(id: string, partition: number, value: Buffer): DeadLetter {
  return { messageId: id, partition, reason: 'BAD_MESSAGE: test', failedAt: new Date(0).toISOString(), consumerId: 'c', value };
}

describe('dead-letter queue', { timeout: 60_000 }, () => {
  const etcdStore = useEtcdStore();

  it('sets aside a message of 1.2 MB (over the limit as base64) and replays it byte for byte', async () => {
    const keys = new KeySpace('/big');
    const dlq = new DeadLetterQueue(etcdStore.store, keys, TOPIC);
    const id = messageId(Date.now(), '0000abcd', 1);
    const queueKey = keys.message(TOPIC, 0, id);
    const bytes = Buffer.alloc(1_200_000, 7);
    bytes.write('start', 0);
    await etcdStore.store.put(queueKey, bytes);
    const entry = (await etcdStore.store.get(queueKey))!;
    const moved = await dlq.add(letter(id, 0, entry.value), queueKey, [{ key: queueKey, target: 'modRevision', operator: '==', operand: entry.modRevision }]);
    assert.equal(moved, true);
    assert.equal(await etcdStore.store.get(queueKey), undefined);
    const listed = await dlq.list();
    assert.equal(listed.length, 1);
    assert.equal(listed[0].bytes, bytes.length);
    assert.equal(listed[0].record.value.length, 0, 'list carries no payloads');
    assert.equal((await dlq.get(id))!.record.value.compare(bytes), 0);
    assert.deepEqual(await dlq.replay(1), { replayed: 1, skipped: [] });
    assert.equal((await etcdStore.store.get(queueKey))!.value.compare(bytes), 0);
    assert.equal((await dlq.list()).length, 0);
  });

  it('reads and replays a record of the earlier JSON/base64 layout', async () => {
    const keys = new KeySpace('/old');
    const dlq = new DeadLetterQueue(etcdStore.store, keys, TOPIC);
    const id = messageId(Date.now(), '0000abcd', 2);
    const { value, ...fields } = letter(id, 1, Buffer.from('old message'));
    await etcdStore.store.put(keys.deadLetter(TOPIC, id), Buffer.from(JSON.stringify({ ...fields, value: value.toString('base64') })));
    const shown = (await dlq.get(id))!;
    assert.equal(shown.record.reason, 'BAD_MESSAGE: test');
    assert.equal(shown.record.partition, 1);
    assert.equal(shown.record.value.toString(), 'old message');
    assert.deepEqual(await dlq.replay(2), { replayed: 1, skipped: [] });
    assert.equal((await etcdStore.store.get(keys.message(TOPIC, 1, id)))!.value.toString(), 'old message');
  });

  it('lists, replays and purges one partition of more records than one page holds', async () => {
    const keys = new KeySpace('/paged');
    const dlq = new DeadLetterQueue(etcdStore.store, keys, TOPIC);
    const count = 1_100; // more than two pages of keys
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const id = messageId(1_700_000_000_000 + i, '0000abcd', i);
      ids.push(id);
      const queueKey = keys.message(TOPIC, i % 2, id);
      await dlq.add(letter(id, i % 2, Buffer.from(`m${i}`)), queueKey, []);
    }
    const all = await dlq.list();
    assert.deepEqual(all.map((l) => l.record.messageId), ids);
    const odd = await dlq.list(1);
    assert.equal(odd.length, count / 2);
    assert.ok(odd.every((l) => l.record.partition === 1));
    assert.equal(await dlq.purge(1), count / 2);
    const replayed = await dlq.replay(2, 0);
    assert.deepEqual(replayed, { replayed: count / 2, skipped: [] });
    // Every record accounted for: half purged, half back on partition 0, none left.
    assert.equal((await etcdStore.store.range({ prefix: keys.partitionPrefix(TOPIC, 0) }, { countOnly: true })).count, count / 2);
    assert.equal((await etcdStore.store.range({ prefix: keys.deadLetterPrefix(TOPIC) }, { countOnly: true })).count, 0);
  });
});
