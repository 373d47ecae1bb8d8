/**
 * The KV contract (src/kv/kv-store.ts), one suite run identically against
 * both drivers: the embedded store on a temp dir, and a real etcd started by
 * the harness. A behaviour that differs between them is a bug.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { GputelError } from '../../src/common/gputel-error.js';
import Database from 'better-sqlite3';
import { EMBEDDED_DB_FILE, EmbeddedKvStore } from '../../src/kv/embedded-kv-store.js';
import { EtcdKvStore } from '../../src/kv/etcd-kv-store.js';
import type { Compare, CompareOperator, KeyRange, KvStore, Lease, WatchEvent } from '../../src/kv/kv-store.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { parseEncryptionKeys } from '../../src/kv/encryption-key-file.js';
import { SealedKvStore } from '../../src/kv/sealed-kv-store.js';
import { ValueSealer } from '../../src/kv/value-sealer.js';
import { startEtcd, type EtcdProcess } from '../support/etcd-process.js';

/** What both drivers offer beyond KvStore, used by the suite to expire leases and compact history. */
interface ContractStore extends KvStore {
  grantLease(ttlSeconds: number): Promise<Lease & { release(): void }>;
  compact(revision: number): Promise<void>;
}

interface Backend {
  /** Starts what the stores need (a temp dir, an etcd process). */
  setUp(): Promise<void>;
  /** A new store on the backend; the suite closes it. */
  openStore(): Promise<ContractStore>;
  /** Restarts the backend under `store` (etcd: the process; embedded: close and reopen the file); resolves with the store to use after. */
  restart(store: ContractStore): Promise<ContractStore>;
  tearDown(): Promise<void>;
}

const TEST_TIMEOUT_MS = 15_000;
const ONE_AND_A_HALF_MIB = 1_572_864;

function kvContract(driver: string, backend: Backend): void {
  void describe(`KV contract: ${driver} driver`, { timeout: 60_000 }, () => {
    let store: ContractStore;
    let prefix: string;
    let testNumber = 0;
    const k = (name: string): string => prefix + name;
    const v = (text: string): Buffer => Buffer.from(text);

    before(async () => {
      await backend.setUp();
      store = await backend.openStore();
    });
    after(async () => {
      await store?.close();
      await backend.tearDown();
    });
    beforeEach(() => {
      testNumber += 1;
      prefix = `/contract/${testNumber}-${Math.random().toString(36).slice(2, 8)}/`;
    });
    afterEach(async () => {
      // The backend is shared by the suite; each test leaves its prefix empty.
      if (store !== undefined) await store.delete({ prefix: '/contract/' }).catch(() => undefined);
    });

    const test = (name: string, body: () => Promise<void>): void => {
      void it(name, { timeout: TEST_TIMEOUT_MS }, body);
    };

    test('get of a missing key resolves undefined', async () => {
      assert.equal(await store.get(k('missing')), undefined);
    });

    test('put then get round-trips the value with create/mod revision and version', async () => {
      const first = await store.put(k('a'), v('one'));
      const created = await store.get(k('a'));
      assert.deepEqual(created, { key: k('a'), value: v('one'), createRevision: first.revision, modRevision: first.revision, version: 1, lease: '0' });
      const second = await store.put(k('a'), v('two'));
      assert.equal(second.revision, first.revision + 1);
      const updated = await store.get(k('a'));
      assert.deepEqual(updated, { key: k('a'), value: v('two'), createRevision: first.revision, modRevision: second.revision, version: 2, lease: '0' });
    });

    test('an empty value round-trips as an empty Buffer', async () => {
      await store.put(k('empty'), Buffer.alloc(0));
      const kv = await store.get(k('empty'));
      assert.ok(kv !== undefined);
      assert.equal(kv.value.length, 0);
    });

    test('range over a prefix returns its keys in bytewise order and nothing outside it', async () => {
      const names = ['b', 'B', 'a/b', 'a', 'a0', '~', '0', 'a-'];
      for (const name of names) await store.put(k(name), v(name));
      await store.put(prefix.slice(0, -1) + '0', v('sibling outside the prefix'));
      const result = await store.range({ prefix });
      const expected = names.map(k).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      assert.deepEqual(result.kvs.map((kv) => kv.key), expected);
      assert.equal(result.count, names.length);
      assert.equal(result.more, false);
      await store.delete({ start: prefix.slice(0, -1) + '0' });
    });

    test('range [start, end) includes start and excludes end', async () => {
      for (const name of ['a', 'b', 'c', 'd']) await store.put(k(name), v(name));
      const result = await store.range({ start: k('b'), end: k('d') });
      assert.deepEqual(result.kvs.map((kv) => kv.key), [k('b'), k('c')]);
      assert.equal(result.count, 2);
    });

    test('range of a single key returns only that key', async () => {
      for (const name of ['a', 'ab']) await store.put(k(name), v(name));
      const result = await store.range({ start: k('a') });
      assert.deepEqual(result.kvs.map((kv) => kv.key), [k('a')]);
    });

    test('limit cuts the result: count is the whole range and more is true', async () => {
      for (let i = 0; i < 10; i++) await store.put(k(`key${i}`), v(String(i)));
      const cut = await store.range({ prefix }, { limit: 3 });
      assert.deepEqual(cut.kvs.map((kv) => kv.key), [k('key0'), k('key1'), k('key2')]);
      assert.equal(cut.count, 10);
      assert.equal(cut.more, true);
      const whole = await store.range({ prefix }, { limit: 10 });
      assert.equal(whole.kvs.length, 10);
      assert.equal(whole.more, false);
    });

    test('reverse returns keys in descending order, the limit taking the last ones', async () => {
      for (let i = 0; i < 5; i++) await store.put(k(`key${i}`), v(String(i)));
      const all = await store.range({ prefix }, { reverse: true });
      assert.deepEqual(all.kvs.map((kv) => kv.key), [4, 3, 2, 1, 0].map((i) => k(`key${i}`)));
      const lastTwo = await store.range({ prefix }, { reverse: true, limit: 2 });
      assert.deepEqual(lastTwo.kvs.map((kv) => kv.key), [k('key4'), k('key3')]);
      assert.equal(lastTwo.count, 5);
      assert.equal(lastTwo.more, true);
    });

    test('countOnly returns the count and no key-values', async () => {
      for (let i = 0; i < 7; i++) await store.put(k(`key${i}`), v(String(i)));
      const result = await store.range({ prefix }, { countOnly: true });
      assert.equal(result.count, 7);
      assert.deepEqual(result.kvs, []);
      assert.equal(result.more, false);
    });

    test('keysOnly returns keys and revisions with empty values', async () => {
      const { revision } = await store.put(k('a'), v('value'));
      const result = await store.range({ prefix }, { keysOnly: true });
      assert.equal(result.kvs.length, 1);
      assert.equal(result.kvs[0].key, k('a'));
      assert.equal(result.kvs[0].value.length, 0);
      assert.equal(result.kvs[0].modRevision, revision);
      assert.equal(result.kvs[0].version, 1);
    });

    test('range reports the store revision', async () => {
      const { revision } = await store.put(k('a'), v('a'));
      assert.equal((await store.range({ prefix })).revision, revision);
    });

    test('delete of a key and of a range return how many keys were deleted', async () => {
      for (const name of ['a', 'b', 'c', 'd']) await store.put(k(name), v(name));
      const one = await store.delete({ start: k('a') });
      assert.equal(one.deleted, 1);
      assert.equal(await store.get(k('a')), undefined);
      const range = await store.delete({ start: k('b'), end: k('d') });
      assert.equal(range.deleted, 2);
      assert.equal(range.revision, one.revision + 1);
      const rest = await store.delete({ prefix });
      assert.equal(rest.deleted, 1);
      assert.equal((await store.range({ prefix }, { countOnly: true })).count, 0);
    });

    test('delete of nothing deletes 0 keys and does not move the revision', async () => {
      const { revision } = await store.put(k('other'), v('x'));
      const result = await store.delete({ prefix: k('nothing-here/') });
      assert.equal(result.deleted, 0);
      assert.equal(result.revision, revision);
      assert.equal(await store.revision(), revision);
    });

    test('a recreated key starts again at version 1 with a new createRevision', async () => {
      await store.put(k('a'), v('1'));
      await store.put(k('a'), v('2'));
      await store.delete({ start: k('a') });
      const { revision } = await store.put(k('a'), v('3'));
      const kv = await store.get(k('a'));
      assert.equal(kv?.version, 1);
      assert.equal(kv?.createRevision, revision);
    });

    /** Runs a txn that puts a marker 'success' or 'failure', and checks which branch ran. */
    async function assertCompare(compare: Compare, expected: boolean): Promise<void> {
      const marker = k('marker');
      const result = await store.txn({
        compare: [compare],
        success: [{ type: 'put', key: marker, value: v('success') }],
        failure: [{ type: 'put', key: marker, value: v('failure') }],
      });
      const label = `${compare.target} ${compare.operator} ${Buffer.isBuffer(compare.operand) ? compare.operand.toString() : compare.operand} on ${compare.key}`;
      assert.equal(result.succeeded, expected, label);
      assert.equal((await store.get(marker))?.value.toString(), expected ? 'success' : 'failure', label);
    }

    /** An existing key: value 'b', version 2, createRevision c, modRevision m (c < m). */
    async function existingKey(): Promise<{ key: string; createRevision: number; modRevision: number }> {
      const { revision: createRevision } = await store.put(k('subject'), v('a'));
      await store.put(k('unrelated'), v('moves the revision'));
      const { revision: modRevision } = await store.put(k('subject'), v('b'));
      return { key: k('subject'), createRevision, modRevision };
    }

    const operators: CompareOperator[] = ['==', '!=', '<', '>'];
    /** Whether `actual OP operand` holds for difference actual - operand < 0, = 0, > 0. */
    const truth: Record<CompareOperator, [boolean, boolean, boolean]> = {
      '==': [false, true, false],
      '!=': [true, false, true],
      '<': [true, false, false],
      '>': [false, false, true],
    };

    test('txn compares on value with ==, !=, <, > choose the branch bytewise', async () => {
      const { key } = await existingKey();
      for (const operator of operators) {
        // value is 'b': against 'c' it is less, against 'b' equal, against 'a' greater.
        await assertCompare({ key, target: 'value', operator, operand: v('c') }, truth[operator][0]);
        await assertCompare({ key, target: 'value', operator, operand: v('b') }, truth[operator][1]);
        await assertCompare({ key, target: 'value', operator, operand: v('a') }, truth[operator][2]);
      }
    });

    for (const target of ['version', 'createRevision', 'modRevision'] as const) {
      test(`txn compares on ${target} with ==, !=, <, > choose the branch`, async () => {
        const subject = await existingKey();
        const actual = target === 'version' ? 2 : target === 'createRevision' ? subject.createRevision : subject.modRevision;
        for (const operator of operators) {
          await assertCompare({ key: subject.key, target, operator, operand: actual + 1 }, truth[operator][0]);
          await assertCompare({ key: subject.key, target, operator, operand: actual }, truth[operator][1]);
          await assertCompare({ key: subject.key, target, operator, operand: actual - 1 }, truth[operator][2]);
        }
      });
    }

    test('txn compares on a missing key see version, createRevision and modRevision 0, and no value', async () => {
      const key = k('missing');
      for (const target of ['version', 'createRevision', 'modRevision'] as const) {
        await assertCompare({ key, target, operator: '==', operand: 0 }, true);
        await assertCompare({ key, target, operator: '>', operand: 0 }, false);
        await assertCompare({ key, target, operator: '<', operand: 1 }, true);
      }
      // As in etcd: a value compare against a missing key is false, whatever the operator.
      for (const operator of operators) await assertCompare({ key, target: 'value', operator, operand: v('') }, false);
    });

    test('txn returns one result per op of the branch that ran, ranges seeing earlier puts', async () => {
      await store.put(k('old1'), v('1'));
      await store.put(k('old2'), v('2'));
      const result = await store.txn({
        compare: [{ key: k('old1'), target: 'version', operator: '==', operand: 1 }],
        success: [
          { type: 'range', range: { prefix: k('old') } },
          { type: 'put', key: k('new'), value: v('n') },
          { type: 'delete', range: { prefix: k('old') } },
          { type: 'range', range: { prefix }, options: { limit: 1 } },
          { type: 'range', range: { prefix }, options: { countOnly: true } },
        ],
      });
      assert.equal(result.succeeded, true);
      assert.deepEqual(result.results.map((r) => r.type), ['range', 'put', 'delete', 'range', 'range']);
      const [before, , deleted, afterRange, count] = result.results;
      assert.ok(before.type === 'range' && deleted.type === 'delete' && afterRange.type === 'range' && count.type === 'range');
      assert.deepEqual(before.result.kvs.map((kv) => kv.value.toString()), ['1', '2']);
      assert.equal(deleted.deleted, 2);
      assert.deepEqual(afterRange.result.kvs.map((kv) => kv.key), [k('new')]);
      assert.equal(afterRange.result.kvs[0].modRevision, result.revision);
      assert.equal(afterRange.result.count, 1);
      assert.equal(count.result.count, 1);
    });

    test('txn failure branch runs when a compare fails, and its results are returned', async () => {
      await store.put(k('a'), v('x'));
      const result = await store.txn({
        compare: [{ key: k('a'), target: 'value', operator: '==', operand: v('y') }],
        success: [{ type: 'delete', range: { start: k('a') } }],
        failure: [{ type: 'range', range: { start: k('a') } }],
      });
      assert.equal(result.succeeded, false);
      assert.equal(result.results.length, 1);
      const [read] = result.results;
      assert.ok(read.type === 'range');
      assert.equal(read.result.kvs[0].value.toString(), 'x');
    });

    test('revision increases by exactly one per write txn, and not for a read-only txn', async () => {
      const start = await store.revision();
      const many = await store.txn({ success: [0, 1, 2, 3, 4].map((i) => ({ type: 'put' as const, key: k(`key${i}`), value: v(String(i)) })) });
      assert.equal(many.revision, start + 1);
      assert.equal(await store.revision(), start + 1);
      const kvs = (await store.range({ prefix })).kvs;
      assert.ok(kvs.every((kv) => kv.modRevision === start + 1));
      const readOnly = await store.txn({ success: [{ type: 'range', range: { prefix } }] });
      assert.equal(readOnly.revision, start + 1);
      const mixed = await store.txn({
        success: [
          { type: 'put', key: k('x'), value: v('x') },
          { type: 'delete', range: { start: k('key0') } },
        ],
      });
      assert.equal(mixed.revision, start + 2);
      assert.equal(await store.revision(), start + 2);
    });

    test('a txn that puts one key twice is refused with BAD_REQUEST', async () => {
      await assert.rejects(
        store.txn({
          success: [
            { type: 'put', key: k('a'), value: v('1') },
            { type: 'put', key: k('a'), value: v('2') },
          ],
        }),
        (error: unknown) => error instanceof GputelError && error.code === 'BAD_REQUEST',
      );
      assert.equal(await store.get(k('a')), undefined);
    });

    test('an empty key is refused with BAD_KEY', async () => {
      await assert.rejects(store.put('', v('x')), (error: unknown) => error instanceof GputelError && error.code === 'BAD_KEY');
    });

    test('a key attached to a lease is deleted when the lease is revoked', async () => {
      const lease = await store.grantLease(30);
      let lost = 0;
      lease.onLost(() => (lost += 1));
      await store.put(k('leased1'), v('1'), { lease: lease.id });
      await store.put(k('leased2'), v('2'), { lease: lease.id });
      await store.put(k('kept'), v('3'));
      assert.equal((await store.get(k('leased1')))?.lease, lease.id);
      await lease.revoke();
      await lease.revoke(); // twice is fine
      assert.deepEqual((await store.range({ prefix })).kvs.map((kv) => kv.key), [k('kept')]);
      await delay(50);
      assert.equal(lost, 0, 'revoking is not losing');
    });

    test('a lease that is no longer kept alive expires after its TTL and deletes its keys', async () => {
      const lease = await store.grantLease(1); // both drivers raise it to etcd's minimum, 2 s
      await store.put(k('leased'), v('1'), { lease: lease.id });
      lease.release();
      assert.notEqual(await store.get(k('leased')), undefined);
      await waitFor(async () => (await store.get(k('leased'))) === undefined, 5_000, 'the leased key to expire');
    });

    test('a lease that could not be kept alive (event loop blocked past its TTL) is lost: onLost fires once, keys go', async () => {
      const lease = await store.grantLease(2);
      const losses: Error[] = [];
      lease.onLost((error) => losses.push(error));
      await store.put(k('leased'), v('1'), { lease: lease.id });
      blockEventLoop(3_500);
      await waitFor(async () => losses.length > 0, 5_000, 'onLost');
      assert.equal(losses.length, 1);
      assert.ok(losses[0] instanceof GputelError && losses[0].code === 'KV_LEASE_NOT_FOUND', String(losses[0]));
      await waitFor(async () => (await store.get(k('leased'))) === undefined, 3_000, 'the leased key to be gone');
      await lease.revoke(); // revoking a lost lease is harmless
    });

    test('put with an unknown lease fails with KV_LEASE_NOT_FOUND', async () => {
      const lease = await store.grantLease(30);
      await lease.revoke();
      await assert.rejects(
        store.put(k('a'), v('1'), { lease: lease.id }),
        (error: unknown) => error instanceof GputelError && error.code === 'KV_LEASE_NOT_FOUND',
      );
    });

    test('watch delivers puts and deletes in order', async () => {
      const watch = await collect(store, { prefix });
      const first = await store.put(k('a'), v('1'));
      await store.put(k('b'), v('2'));
      await store.put(k('a'), v('3'));
      await store.delete({ start: k('a') });
      await store.txn({ success: [{ type: 'put', key: k('c'), value: v('4') }, { type: 'delete', range: { start: k('b') } }] });
      await waitFor(async () => watch.events.length >= 6, 3_000, 'six events');
      await watch.cancel();
      assert.deepEqual(summarize(watch.events, prefix), [
        `put a=1 @${first.revision}`,
        `put b=2 @${first.revision + 1}`,
        `put a=3 @${first.revision + 2}`,
        `delete a @${first.revision + 3}`,
        `put c=4 @${first.revision + 4}`,
        `delete b @${first.revision + 4}`,
      ]);
      assert.deepEqual(watch.errors, []);
    });

    test('watch events carry the create revision: a new key, a rewrite, a delete, a recreation; live and replayed alike', async () => {
      const watch = await collect(store, { prefix });
      const created = await store.put(k('a'), v('1'));
      const rewritten = await store.txn({ success: [{ type: 'put', key: k('a'), value: v('1') }] });
      const deleted = await store.delete({ start: k('a') });
      const recreated = await store.put(k('a'), v('2'));
      await waitFor(async () => watch.events.length >= 4, 3_000, 'four events');
      await watch.cancel();
      const expected = [
        { type: 'put', modRevision: created.revision, createRevision: created.revision },
        { type: 'put', modRevision: rewritten.revision, createRevision: created.revision },
        { type: 'delete', modRevision: deleted.revision, createRevision: 0 },
        { type: 'put', modRevision: recreated.revision, createRevision: recreated.revision },
      ];
      const shape = (events: WatchEvent[]): unknown[] => events.map(({ type, modRevision, createRevision }) => ({ type, modRevision, createRevision }));
      assert.deepEqual(shape(watch.events), expected);
      const replay = await collect(store, { prefix }, created.revision);
      await waitFor(async () => replay.events.length >= 4, 3_000, 'four replayed events');
      await replay.cancel();
      assert.deepEqual(shape(replay.events), expected);
    });

    test('watch from an older revision replays history, then live changes, with no gap or repeat', async () => {
      const start = (await store.put(k('h0'), v('0'))).revision;
      for (let i = 1; i < 5; i++) await store.put(k(`h${i}`), v(String(i)));
      await store.delete({ start: k('h2') });
      const watch = await collect(store, { prefix }, start + 1);
      for (let i = 5; i < 8; i++) await store.put(k(`h${i}`), v(String(i)));
      await waitFor(async () => watch.events.length >= 8, 3_000, 'eight events');
      await delay(100);
      await watch.cancel();
      const revisions = watch.events.map((event) => event.modRevision);
      assert.deepEqual(revisions, Array.from({ length: 8 }, (_, i) => start + 1 + i));
      assert.deepEqual(summarize(watch.events, prefix).slice(0, 5), [
        `put h1=1 @${start + 1}`,
        `put h2=2 @${start + 2}`,
        `put h3=3 @${start + 3}`,
        `put h4=4 @${start + 4}`,
        `delete h2 @${start + 5}`,
      ]);
    });

    test('watch on a prefix does not see other prefixes', async () => {
      const watch = await collect(store, { prefix: k('mine/') });
      await store.put(k('other/a'), v('x'));
      await store.put(k('mine'), v('x'));
      await store.put(k('mine0'), v('x'));
      await store.put(k('mine/a'), v('y'));
      await waitFor(async () => watch.events.length >= 1, 3_000, 'one event');
      await delay(100);
      await watch.cancel();
      assert.deepEqual(summarize(watch.events, prefix).map((line) => line.split(' @')[0]), ['put mine/a=y']);
    });

    test('watch of a single key sees only that key', async () => {
      const watch = await collect(store, { start: k('a') });
      await store.put(k('ab'), v('x'));
      await store.put(k('a'), v('y'));
      await waitFor(async () => watch.events.length >= 1, 3_000, 'one event');
      await delay(100);
      await watch.cancel();
      assert.deepEqual(summarize(watch.events, prefix).map((line) => line.split(' @')[0]), ['put a=y']);
    });

    test('a cancelled watch delivers nothing more', async () => {
      const watch = await collect(store, { prefix });
      await store.put(k('a'), v('1'));
      await waitFor(async () => watch.events.length >= 1, 3_000, 'one event');
      await watch.cancel();
      await watch.cancel(); // twice is fine
      await store.put(k('b'), v('2'));
      await delay(200);
      assert.equal(watch.events.length, 1);
    });

    test('watch from a compacted revision fails with KV_COMPACTED', async () => {
      const old = (await store.put(k('a'), v('1'))).revision;
      await store.put(k('a'), v('2'));
      const latest = (await store.put(k('a'), v('3'))).revision;
      await store.compact(latest);
      await assert.rejects(
        store.watch({ prefix }, { fromRevision: old, onEvent: () => undefined }),
        (error: unknown) => error instanceof GputelError && error.code === 'KV_COMPACTED',
      );
      // From the compaction revision on, history is still there.
      const watch = await collect(store, { prefix }, latest);
      await waitFor(async () => watch.events.length >= 1, 3_000, 'the event at the compaction revision');
      await watch.cancel();
      assert.equal(watch.events[0].modRevision, latest);
    });

    test('compact to an already compacted revision fails with KV_COMPACTED, to a future one with BAD_REQUEST', async () => {
      const latest = (await store.put(k('a'), v('1'))).revision;
      await store.put(k('a'), v('2'));
      await store.compact(latest);
      await assert.rejects(store.compact(latest), (error: unknown) => error instanceof GputelError && error.code === 'KV_COMPACTED');
      const now = await store.revision();
      await assert.rejects(store.compact(now + 1_000), (error: unknown) => error instanceof GputelError && error.code === 'BAD_REQUEST');
      // Compaction keeps the current values.
      assert.deepEqual((await store.get(k('a')))?.value, v('2'));
    });

    test('status reports the database size, no alarm and the current revision', async () => {
      const { revision } = await store.put(k('a'), v('x'.repeat(1000)));
      const status = await store.status();
      assert.ok(status.dbSizeBytes > 0, `dbSizeBytes ${status.dbSizeBytes}`);
      assert.ok(status.dbSizeInUseBytes > 0 && status.dbSizeInUseBytes <= status.dbSizeBytes, `in use ${status.dbSizeInUseBytes} of ${status.dbSizeBytes}`);
      assert.deepEqual(status.alarms, []);
      assert.ok(status.revision >= revision);
    });

    test('a txn with more than 128 operations fails with KV_TOO_MANY_OPS (etcd --max-txn-ops)', async () => {
      const success = Array.from({ length: 129 }, (_, i) => ({ type: 'put' as const, key: k(`key${i}`), value: v('x') }));
      await assert.rejects(store.txn({ success }), (error: unknown) => error instanceof GputelError && error.code === 'KV_TOO_MANY_OPS' && !error.retryable);
      const allowed = await store.txn({ success: success.slice(0, 128) });
      assert.equal(allowed.succeeded, true);
      assert.equal((await store.range({ prefix }, { countOnly: true })).count, 128);
    });

    test('a request over 1.5 MiB fails with KV_REQUEST_TOO_LARGE and the next small request succeeds at once', async () => {
      for (const bytes of [ONE_AND_A_HALF_MIB + 64 * 1024, 2.5 * 1024 * 1024]) {
        await assert.rejects(
          store.put(k('big'), Buffer.alloc(bytes, 1)),
          (error: unknown) => error instanceof GputelError && error.code === 'KV_REQUEST_TOO_LARGE' && !error.retryable,
          `${bytes} bytes`,
        );
        // etcd3's default fault handling would now fail small requests for ~5 s (MEASUREMENTS.md).
        const startedAt = Date.now();
        await store.put(k('small'), v('fine'));
        assert.ok(Date.now() - startedAt < 1_000);
      }
      const halves = [0, 1].map((i) => ({ type: 'put' as const, key: k(`half${i}`), value: Buffer.alloc(800 * 1024, 2) }));
      await assert.rejects(store.txn({ success: halves }), (error: unknown) => error instanceof GputelError && error.code === 'KV_REQUEST_TOO_LARGE');
      await store.put(k('just-under'), Buffer.alloc(1_000_000, 3));
    });

    test('a range whose response is larger than 4 MiB is returned whole', async () => {
      const big = Buffer.alloc(1_000_000, 5);
      for (let i = 0; i < 6; i++) await store.put(k(`big${i}`), big);
      const result = await store.range({ prefix });
      assert.equal(result.kvs.length, 6);
      assert.ok(result.kvs.every((kv) => kv.value.equals(big)));
    });

    test('ping resolves while the store is up', async () => {
      await store.ping();
    });

    test('close is idempotent, ends watches with KV_CLOSED and refuses later calls with KV_CLOSED', async () => {
      const other = await backend.openStore();
      const errors: Error[] = [];
      await other.watch({ prefix }, { onEvent: () => undefined, onError: (error) => errors.push(error) });
      await Promise.all([other.close(), other.close()]);
      await other.close();
      assert.equal(errors.length, 1);
      assert.ok(errors[0] instanceof GputelError && errors[0].code === 'KV_CLOSED');
      await assert.rejects(other.get(k('a')), (error: unknown) => error instanceof GputelError && error.code === 'KV_CLOSED');
    });

    test('keys and the revision survive a restart of the backend', async () => {
      const { revision } = await store.put(k('durable'), v('still here'));
      store = await backend.restart(store);
      const kv = await store.get(k('durable'));
      assert.equal(kv?.value.toString(), 'still here');
      assert.equal(kv?.modRevision, revision);
      assert.equal(await store.revision(), revision);
      assert.equal((await store.put(k('next'), v('x'))).revision, revision + 1);
    });
  });
}

// ── the two backends ───────────────────────────────────────────────────────

function embeddedBackend(): Backend {
  let root = '';
  let storeCount = 0;
  let sharedDir = '';
  return {
    async setUp() {
      root = await mkdtemp(path.join(os.tmpdir(), 'gputel-kv-contract-'));
    },
    async openStore() {
      storeCount += 1;
      const dataDir = path.join(root, `store-${storeCount}`);
      if (sharedDir === '') sharedDir = dataDir;
      return EmbeddedKvStore.open({ dataDir });
    },
    async restart(store) {
      await store.close();
      return EmbeddedKvStore.open({ dataDir: sharedDir });
    },
    async tearDown() {
      if (root !== '') await rm(root, { recursive: true, force: true });
    },
  };
}

function etcdBackend(): Backend {
  let etcd: EtcdProcess | undefined;
  return {
    async setUp() {
      etcd = await startEtcd();
    },
    async openStore() {
      return EtcdKvStore.connect({ endpoints: etcd!.endpoints, dialTimeoutMs: 5_000 });
    },
    async restart(store) {
      await etcd!.restart();
      await waitFor(
        async () => {
          try {
            await store.ping();
            return true;
          } catch {
            return false;
          }
        },
        10_000,
        'etcd to answer after its restart',
      );
      return store;
    },
    async tearDown() {
      await etcd?.stop();
    },
  };
}

/**
 * The backend with every store wrapped in a SealedKvStore that seals every
 * key: encryption at rest keeps the contract (value compares included).
 */
function sealedBackend(backend: Backend): Backend {
  const sealer = new ValueSealer(parseEncryptionKeys(`contract:${'5a'.repeat(32)}\n`, 'contract-keys'));
  const seal = (store: ContractStore): ContractStore => new SealedKvStore(store, { sealer, isSealedKey: () => true }) as unknown as ContractStore;
  return {
    setUp: () => backend.setUp(),
    openStore: async () => seal(await backend.openStore()),
    async restart(store) {
      const restarted = await backend.restart(store);
      return restarted === store ? store : seal(restarted);
    },
    tearDown: () => backend.tearDown(),
  };
}

kvContract('embedded', embeddedBackend());
kvContract('etcd', etcdBackend());
kvContract('sealed embedded', sealedBackend(embeddedBackend()));
kvContract('sealed etcd', sealedBackend(etcdBackend()));

void describe('openKvStore', () => {
  void it('opens the embedded driver when no endpoints are given', async () => {
    const store = await openKvStore({ dataDir: ':memory:' });
    assert.equal(store.driver, 'embedded');
    await store.close();
  });

  void it('fails with BAD_CONFIG when neither endpoints nor a data dir are given', async () => {
    await assert.rejects(openKvStore({}), (error: unknown) => error instanceof GputelError && error.code === 'BAD_CONFIG');
  });

  void it('fails with a retryable KV_UNAVAILABLE when etcd does not answer within the dial timeout', { timeout: 10_000 }, async () => {
    await assert.rejects(
      openKvStore({ endpoints: ['http://127.0.0.1:9'], dialTimeoutMs: 500 }),
      (error: unknown) => error instanceof GputelError && error.code === 'KV_UNAVAILABLE' && error.retryable,
    );
  });
});

void describe('embedded driver beyond the contract', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'gputel-embedded-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  void it('refuses a second open of the same data dir with a retryable KV_UNAVAILABLE', async () => {
    const first = await EmbeddedKvStore.open({ dataDir: path.join(root, 'locked') });
    try {
      await assert.rejects(
        EmbeddedKvStore.open({ dataDir: path.join(root, 'locked') }),
        (error: unknown) => error instanceof GputelError && error.code === 'KV_UNAVAILABLE' && error.retryable,
      );
    } finally {
      await first.close();
    }
  });

  void it('a lease left by a closed store expires after its TTL once the store is open again', { timeout: 10_000 }, async () => {
    const dataDir = path.join(root, 'leases');
    const first = await EmbeddedKvStore.open({ dataDir });
    const lease = await first.grantLease(2);
    await first.put('/leased', Buffer.from('x'), { lease: lease.id });
    await first.close();
    const second = await EmbeddedKvStore.open({ dataDir });
    try {
      assert.notEqual(await second.get('/leased'), undefined, 'the lease has time left');
      await waitFor(async () => (await second.get('/leased')) === undefined, 5_000, 'the orphaned lease to expire');
    } finally {
      await second.close();
    }
  });

  void it('opens a store written before watch events carried createRevision: old events replay as creates, new ones carry it', async () => {
    const dataDir = path.join(root, 'old-events');
    const first = await EmbeddedKvStore.open({ dataDir });
    const created = await first.put('/a', Buffer.from('1'));
    const rewritten = await first.put('/a', Buffer.from('2'));
    await first.close();
    // What an earlier version's schema had: events without the column.
    const db = new Database(path.join(dataDir, EMBEDDED_DB_FILE));
    db.exec('ALTER TABLE events DROP COLUMN create_revision');
    db.close();
    const second = await EmbeddedKvStore.open({ dataDir });
    try {
      const again = await second.put('/a', Buffer.from('3'));
      const events: WatchEvent[] = [];
      const watcher = await second.watch({ prefix: '/' }, { fromRevision: created.revision, onEvent: (event) => events.push(event) });
      await waitFor(async () => events.length >= 3, 3_000, 'three replayed events');
      await watcher.cancel();
      assert.deepEqual(
        events.map((event) => [event.modRevision, event.createRevision]),
        [
          [created.revision, created.revision],
          [rewritten.revision, rewritten.revision],
          [again.revision, created.revision],
        ],
      );
    } finally {
      await second.close();
    }
  });

  void it('trims watch history to its bound: a watch from before it fails with KV_COMPACTED', async () => {
    const store = await EmbeddedKvStore.open({ dataDir: ':memory:', historyRevisions: 10 });
    try {
      const first = await store.put('/a', Buffer.from('0'));
      for (let i = 1; i < 30; i++) await store.put('/a', Buffer.from(String(i)));
      await assert.rejects(
        store.watch({ prefix: '/' }, { fromRevision: first.revision, onEvent: () => undefined }),
        (error: unknown) => error instanceof GputelError && error.code === 'KV_COMPACTED',
      );
      const current = await store.revision();
      const events: WatchEvent[] = [];
      const watcher = await store.watch({ prefix: '/' }, { fromRevision: current - 9, onEvent: (event) => events.push(event) });
      await waitFor(async () => events.length >= 10, 2_000, 'ten events');
      await watcher.cancel();
      assert.equal(events[0].modRevision, current - 9);
    } finally {
      await store.close();
    }
  });

  void it('trims watch history to its byte bound, so big values are not kept twice for long', async () => {
    const store = await EmbeddedKvStore.open({ dataDir: ':memory:', historyBytes: 10_000 });
    try {
      const first = await store.put('/big', Buffer.alloc(1_000));
      for (let i = 1; i < 30; i++) await store.put('/big', Buffer.alloc(1_000, i));
      await assert.rejects(
        store.watch({ prefix: '/' }, { fromRevision: first.revision, onEvent: () => undefined }),
        (error: unknown) => error instanceof GputelError && error.code === 'KV_COMPACTED',
      );
      const current = await store.revision();
      const events: WatchEvent[] = [];
      const watcher = await store.watch({ prefix: '/' }, { fromRevision: current - 4, onEvent: (event) => events.push(event) });
      await waitFor(async () => events.length >= 5, 2_000, 'five events');
      await watcher.cancel();
      assert.equal(events[0].modRevision, current - 4);
    } finally {
      await store.close();
    }
  });
});

// ── helpers ────────────────────────────────────────────────────────────────

interface Collected {
  events: WatchEvent[];
  errors: Error[];
  cancel(): Promise<void>;
}

async function collect(store: KvStore, range: KeyRange, fromRevision?: number): Promise<Collected> {
  const events: WatchEvent[] = [];
  const errors: Error[] = [];
  const watcher = await store.watch(range, { fromRevision, onEvent: (event) => events.push(event), onError: (error) => errors.push(error) });
  return { events, errors, cancel: () => watcher.cancel() };
}

function summarize(events: WatchEvent[], prefix: string): string[] {
  return events.map((event) => {
    const key = event.key.slice(prefix.length);
    return event.type === 'put' ? `put ${key}=${event.value.toString()} @${event.modRevision}` : `delete ${key} @${event.modRevision}`;
  });
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > giveUpAt) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(25);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Blocks the whole event loop, as a long GC pause or a runaway loop would. */
function blockEventLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
