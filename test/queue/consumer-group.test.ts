/**
 * The consumer group on a real etcd: a failed member-key write leaves no
 * lease behind; three members share 16 partitions 6/5/5; a joiner gets its
 * share within seconds; a member that dies without revoking its lease has
 * its partitions owned again within 2 × the lease TTL; every message queued
 * is processed exactly once; a malformed queue key is dead-lettered.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../src/common/logger.js';
import { GputelError } from '../../src/common/gputel-error.js';
import { EtcdKvStore } from '../../src/kv/etcd-kv-store.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore } from '../../src/kv/kv-store.js';
import { decodeDeadLetter } from '../../src/queue/dead-letter-queue.js';
import { GroupMembership } from '../../src/queue/group-membership.js';
import { messageId } from '../../src/queue/message-id.js';
import { QueueConsumer, type QueuedMessage } from '../../src/queue/queue-consumer.js';
import { startEtcd, type EtcdProcess } from '../support/etcd-process.js';
import { waitFor } from '../support/wait-for.js';

const logger = createLogger('silent');
const TOPIC = 'telemetry';
const PARTITIONS = 16;
const LEASE_TTL_SECONDS = 3;

describe('consumer group on etcd', { timeout: 90_000 }, () => {
  let etcd: EtcdProcess;
  const stores: KvStore[] = [];
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    for (const store of stores) await store.close();
    await etcd?.stop();
  });

  async function connect(): Promise<EtcdKvStore> {
    const store = await EtcdKvStore.connect({ endpoints: etcd.endpoints });
    stores.push(store);
    return store;
  }

  it('revokes the member lease when the member key cannot be written, and registers one at a time', async () => {
    const store = await connect();
    const keys = new KeySpace('/lease-leak');
    const granted: string[] = [];
    let puts = 0;
    // The real store, with one fault injected: every write of a member key fails.
    const faulty: KvStore = Object.assign(Object.create(store) as KvStore, {
      grantLease: async (ttl: number) => {
        const lease = await store.grantLease(ttl);
        granted.push(lease.id);
        return lease;
      },
      txn: async (request: Parameters<KvStore['txn']>[0]) => {
        const writesMember = request.success?.some((op) => op.type === 'put' && op.key.startsWith(keys.membersPrefix(TOPIC)));
        if (!writesMember) return store.txn(request);
        puts++;
        throw new GputelError('KV_UNAVAILABLE', 'injected: the member key write failed', { retryable: true });
      },
    });
    const membership = new GroupMembership(faulty, keys, { topic: TOPIC, memberId: 'm1', leaseTtlSeconds: 30, logger, onChange: () => undefined });
    await assert.rejects(membership.start(), /member key write failed/);
    assert.equal(granted.length, 1, 'one registration, one lease');
    assert.equal(puts, 1);
    // The lease is gone from etcd: attaching a key to it fails.
    await assert.rejects(store.put('/lease-leak/probe', Buffer.from('x'), { lease: granted[0] }), (error: unknown) => error instanceof GputelError && error.code === 'KV_LEASE_NOT_FOUND');
    assert.equal(membership.lease, undefined);
    await membership.stop();
  });

  it('refuses a second live member with the same id, naming the holder, and takes over the id of one that died', async () => {
    const store = await connect();
    const keys = new KeySpace('/duplicate-id');
    const first = new GroupMembership(store, keys, { topic: TOPIC, memberId: 'same', leaseTtlSeconds: 1, logger, onChange: () => undefined });
    await first.start();
    const firstLease = first.lease!.id;
    const second = new GroupMembership(store, keys, { topic: TOPIC, memberId: 'same', leaseTtlSeconds: 1, logger, onChange: () => undefined });
    await assert.rejects(second.start(), (error: unknown) => error instanceof GputelError && error.code === 'BAD_CONFIG' && /consumer id same is already used.*pid \d+/.test(error.message));
    // The first keeps its key, on its own lease: a plain put used to move it onto the second's.
    assert.equal((await store.get(keys.member(TOPIC, 'same')))?.lease, firstLease);
    assert.equal(second.lease, undefined);
    await second.stop();
    // A holder that died without revoking (kill -9): its key lapses with its lease, and the id is taken over.
    await first.stop();
    const dead = await store.grantLease(1);
    await store.put(keys.member(TOPIC, 'same'), Buffer.from('{"pid":1}'), { lease: dead.id });
    dead.release(); // no keep-alive from here on, no revoke: the lease lapses after its TTL
    const third = new GroupMembership(store, keys, { topic: TOPIC, memberId: 'same', leaseTtlSeconds: 3, logger, onChange: () => undefined });
    await third.start();
    assert.equal((await store.get(keys.member(TOPIC, 'same')))?.lease, third.lease!.id);
    await third.stop();
  });

  it('reads the members again and watches on when the members watch ends', async () => {
    const store = await connect();
    const keys = new KeySpace('/watch-ends');
    let endWatch: ((error: Error) => void) | undefined;
    // The real store; the test ends the members watch the way a compaction would.
    const watched: KvStore = Object.assign(Object.create(store) as KvStore, {
      watch: async (range: Parameters<KvStore['watch']>[0], options: Parameters<KvStore['watch']>[1]) => {
        const watcher = await store.watch(range, options);
        endWatch = (error) => {
          void watcher.cancel().then(() => options.onError?.(error));
        };
        return watcher;
      },
    });
    const membership = new GroupMembership(watched, keys, { topic: TOPIC, memberId: 'm1', leaseTtlSeconds: 30, logger, onChange: () => undefined });
    await membership.start();
    assert.deepEqual(membership.members(), ['m1']);
    endWatch!(new GputelError('KV_COMPACTED', 'injected: the watch revision was compacted'));
    // A member that joins while no watch runs is found by the reload.
    await store.put(keys.member(TOPIC, 'm2'), Buffer.from('{}'));
    await waitFor('the reload sees m2', 5_000, () => (membership.members().includes('m2') ? true : undefined));
    // And the new watch delivers later changes.
    await store.delete({ start: keys.member(TOPIC, 'm2') });
    await waitFor('the new watch sees m2 leave', 5_000, () => (membership.members().includes('m2') ? undefined : true));
    await membership.stop();
    assert.equal(await store.get(keys.member(TOPIC, 'm1')), undefined, 'stop revoked the lease and so deleted the member key');
  });

  it('spreads 16 partitions 6/5/5, rebalances on a join, takes over a dead member within 2 × TTL, and processes every message once', async () => {
    const keys = new KeySpace('/group');
    const processed = new Map<string, number>();
    const consumers = new Map<string, { consumer: QueueConsumer; store: EtcdKvStore }>();
    async function startMember(id: string): Promise<void> {
      const store = await connect();
      // A handler with the collector's fencing: delete the message only while the claim holds.
      const handler = async (message: QueuedMessage): Promise<void> => {
        const result = await store.txn({
          compare: [
            { key: message.key, target: 'modRevision', operator: '==', operand: message.modRevision },
            { key: keys.owner(TOPIC, message.partition), target: 'modRevision', operator: '==', operand: message.claimRevision },
          ],
          success: [{ type: 'delete', range: { start: message.key } }],
        });
        if (!result.succeeded) throw new GputelError('CONFLICT', 'changed under the handler', { retryable: true });
        processed.set(message.messageId, (processed.get(message.messageId) ?? 0) + 1);
      };
      const consumer = new QueueConsumer(store, keys, handler, { topic: TOPIC, partitions: PARTITIONS, consumerId: id, logger, leaseTtlSeconds: LEASE_TTL_SECONDS });
      consumers.set(id, { consumer, store });
      await consumer.start();
    }
    const shares = (): number[] => [...consumers.values()].map(({ consumer }) => consumer.ownedPartitions().length).sort((a, b) => a - b);
    const covered = (): boolean => new Set([...consumers.values()].flatMap(({ consumer }) => consumer.ownedPartitions())).size === PARTITIONS;
    const settledAt = (want: number[]) => () => (covered() && JSON.stringify(shares()) === JSON.stringify(want) ? true : undefined);

    const producer = await connect();
    let queued = 0;
    async function queueMessages(count: number): Promise<void> {
      for (let i = 0; i < count; i++, queued++) {
        await producer.put(keys.message(TOPIC, queued % PARTITIONS, messageId(Date.now(), '0000abcd', queued)), Buffer.from(`m${queued}`));
      }
    }

    await Promise.all(['a', 'b', 'c'].map((id) => startMember(id)));
    await waitFor('three members share 16 partitions 6/5/5', 10_000, settledAt([5, 5, 6]));
    await queueMessages(48);

    const joinedAt = Date.now();
    await startMember('d');
    await waitFor('a joiner gets its share', 5_000, settledAt([4, 4, 4, 4]));
    const joinMs = Date.now() - joinedAt;
    await queueMessages(48);

    // Dies without revoking: its connection closes, its lease is left to expire.
    const victim = consumers.get('b')!;
    consumers.delete('b');
    const killedAt = Date.now();
    await victim.store.close();
    await waitFor(`the dead member's partitions are owned again within 2 × TTL (${2 * LEASE_TTL_SECONDS} s)`, 2 * LEASE_TTL_SECONDS * 1000, settledAt([5, 5, 6]));
    const takeoverMs = Date.now() - killedAt;
    await victim.consumer.stop();
    await queueMessages(48);

    const deadline = Date.now() + 20_000;
    while (processed.size < queued && Date.now() < deadline) await sleep(50);
    assert.equal(processed.size, queued, 'every queued message was processed');
    assert.ok([...processed.values()].every((times) => times === 1), 'each exactly once');
    assert.equal((await producer.range({ prefix: `${keys.topicPrefix(TOPIC)}p/` }, { countOnly: true })).count, 0, 'the queue is empty');
    process.stdout.write(`# join rebalanced in ${joinMs} ms; dead member taken over in ${takeoverMs} ms (TTL ${LEASE_TTL_SECONDS} s)\n`);

    await Promise.all([...consumers.values()].map(({ consumer }) => consumer.stop()));
    // A clean stop revokes the lease: no owner or member key is left.
    assert.equal((await producer.range({ prefix: keys.ownersPrefix(TOPIC) }, { countOnly: true })).count, 0);
    assert.equal((await producer.range({ prefix: keys.membersPrefix(TOPIC) }, { countOnly: true })).count, 0);
  });

  it('registers again and claims its partitions again after its lease is lost', async () => {
    const store = await connect();
    const keys = new KeySpace('/lease-lost');
    const handled: string[] = [];
    const consumer = new QueueConsumer(store, keys, async (message) => {
      await store.delete({ start: message.key });
      handled.push(message.messageId);
    }, { topic: TOPIC, partitions: 4, consumerId: 'solo', logger, leaseTtlSeconds: LEASE_TTL_SECONDS });
    await consumer.start();
    const firstLease = (await store.get(keys.member(TOPIC, 'solo')))!.lease;
    assert.deepEqual(consumer.ownedPartitions(), [0, 1, 2, 3]);
    // Revoked behind its back (as when etcd expired it during a long pause): member and owner keys go with it.
    const response = await fetch(`${etcd.endpoints[0]}/v3/lease/revoke`, { method: 'POST', body: JSON.stringify({ ID: firstLease }) });
    assert.equal(response.status, 200, await response.text());
    const secondLease = await waitFor('a new member key on a new lease', 10_000, async () => {
      const member = await store.get(keys.member(TOPIC, 'solo'));
      return member && member.lease !== firstLease ? member.lease : undefined;
    });
    await waitFor('every partition claimed again on the new lease', 10_000, async () => {
      const owners = await store.range({ prefix: keys.ownersPrefix(TOPIC) });
      return owners.count === 4 && owners.kvs.every((kv) => kv.lease === secondLease) && consumer.ownedPartitions().length === 4 ? true : undefined;
    });
    const ids = [0, 1, 2, 3].map((partition) => messageId(Date.now(), '0000abcd', partition));
    for (const [partition, id] of ids.entries()) await store.put(keys.message(TOPIC, partition, id), Buffer.from('m'));
    await waitFor('the messages queued after are handled', 10_000, () => (handled.length === 4 ? true : undefined));
    assert.deepEqual([...handled].sort(), ids);
    await consumer.stop();
  });

  it('dead-letters a queue key that does not end in a message id, and goes on with the partition', async () => {
    const store = await connect();
    const keys = new KeySpace('/malformed');
    const handled: string[] = [];
    const consumer = new QueueConsumer(store, keys, async (message) => {
      await store.delete({ start: message.key });
      handled.push(message.messageId);
    }, { topic: TOPIC, partitions: 2, consumerId: 'x', logger, leaseTtlSeconds: LEASE_TTL_SECONDS });
    const stray = `${keys.partitionPrefix(TOPIC, 1)}../../owners/0001`;
    await store.put(stray, Buffer.from('stray'));
    const good = messageId(Date.now(), '0000abcd', 1);
    await store.put(keys.message(TOPIC, 1, good), Buffer.from('good'));
    await consumer.start();
    const dead = await waitFor('the stray key is dead-lettered', 10_000, async () => {
      const page = await store.range({ prefix: keys.deadLetterPrefix(TOPIC) });
      return page.count === 1 ? page.kvs[0] : undefined;
    });
    await waitFor('the good message is handled', 10_000, () => (handled.length === 1 ? true : undefined));
    assert.deepEqual(handled, [good]);
    const record = decodeDeadLetter('id', dead.value);
    assert.match(record.reason, /not a message id/);
    assert.equal(record.key, stray);
    assert.equal(record.partition, 1);
    assert.equal(record.value.toString(), 'stray');
    assert.match(dead.key.slice(keys.deadLetterPrefix(TOPIC).length), /^\d{13}-[0-9a-f]{8}-\d{12}$/);
    assert.equal(await store.get(stray), undefined);
    await consumer.stop();
  });
});
