/**
 * Encryption at rest (SealedKvStore) on both drivers: what is sealed and
 * what stays readable, rotation, every way a value fails to open (STORE_KEY,
 * never bytes), plaintext from before encryption, and value compares.
 * The bare driver under the wrapper shows what the store really holds.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { metricsRegistry } from '../../src/common/metrics.js';
import { EmbeddedKvStore } from '../../src/kv/embedded-kv-store.js';
import { parseEncryptionKeys } from '../../src/kv/encryption-key-file.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore, TxnRequest, TxnResult, WatchEvent } from '../../src/kv/kv-store.js';
import { SealedKvStore } from '../../src/kv/sealed-kv-store.js';
import { sealedKeyPolicy } from '../../src/kv/sealed-key-policy.js';
import { isSealedValue, NONCE_BYTES, sealedKeyId, TAG_BYTES, ValueSealer } from '../../src/kv/value-sealer.js';
import { gputelError } from '../support/gputel-error-check.js';
import { useEtcdStore } from '../support/etcd-store.js';
import { waitFor } from '../support/wait-for.js';
import { withOverrides } from '../support/kv-overrides.js';

const KEY_A = `key-a:${'11'.repeat(32)}`;
const KEY_B = `key-b:${'22'.repeat(32)}`;
/** Same id as KEY_A, other bytes: a process given the wrong file. */
const WRONG_A = `key-a:${'33'.repeat(32)}`;
const SECRET = 'DCGM_FI_DEV_GPU_TEMP gpu-node-07 71.5';

function sealedStore(inner: KvStore, root: string, keyFile?: string): SealedKvStore {
  const ring = keyFile === undefined ? undefined : parseEncryptionKeys(keyFile, 'test.keys');
  return new SealedKvStore(inner, { sealer: new ValueSealer(ring), isSealedKey: sealedKeyPolicy(root) });
}


async function plaintextReads(): Promise<number> {
  const metric = metricsRegistry.getSingleMetric('gputel_store_plaintext_values_read_total');
  return (await metric!.get()).values[0]?.value ?? 0;
}

describe('sealed values: format and policy', () => {
  it('lays a value out as magic, version, key id, nonce, ciphertext and tag, with a fresh nonce per value', () => {
    const sealer = new ValueSealer(parseEncryptionKeys(KEY_A, 'test.keys'));
    const plain = Buffer.from(SECRET);
    const one = sealer.seal('/g/clusters/c/latest/h', plain);
    const two = sealer.seal('/g/clusters/c/latest/h', plain);
    assert.deepEqual([...one.subarray(0, 5)], [0xc1, 0x47, 0x53, 1, 'key-a'.length]);
    assert.equal(sealedKeyId(one), 'key-a');
    assert.equal(one.length, 5 + 'key-a'.length + NONCE_BYTES + plain.length + TAG_BYTES);
    assert.ok(isSealedValue(one));
    assert.notDeepEqual(one, two, 'another nonce, other bytes');
    assert.ok(!one.includes(plain.subarray(0, 8)));
    assert.deepEqual(sealer.open('/g/clusters/c/latest/h', two), plain);
  });

  it('never mistakes what gputel writes in plaintext (JSON, MessagePack, empty) for a sealed value', () => {
    for (const plain of ['{"a":1}', '[1]', '', 'GDLQ1\n']) assert.ok(!isSealedValue(Buffer.from(plain)), plain);
    for (const first of [0x90, 0x9a, 0xdc, 0xdd, 0x01, 0x02]) assert.ok(!isSealedValue(Buffer.from([first, 0x47, 0x53, 1])));
  });

  it('seals the telemetry keys and leaves the coordination keys readable', () => {
    const keys = new KeySpace('/gputel');
    const isSealed = sealedKeyPolicy(keys.root);
    const sealed = [
      keys.gpuChunk('c', 'h', 'GPU-1', 1, 2, '0000000000001-abcdef01-000000000001'),
      keys.gpuMetadata('c', 'h', 'GPU-1'),
      keys.hostMetadata('c', 'h'),
      keys.gpuIndex('c', 'GPU-1', 'h'),
      keys.latest('c', 'h'),
      keys.partitionStats('c', 'telemetry', 3),
      keys.message('telemetry', 3, '0000000000001-abcdef01-000000000001'),
      keys.deadLetter('telemetry', '0000000000001-abcdef01-000000000001'),
      `${keys.clusterPrefix('c')}anything-added-later`,
    ];
    const readable = [
      keys.member('telemetry', 'collector-1'),
      keys.owner('telemetry', 3),
      keys.checkpoint('telemetry', 'file-1'),
      keys.sourceClaim('telemetry', 'file-1'),
      keys.topicConfig('telemetry'),
      keys.clusterTopic('c'),
      `${keys.configPrefix('c')}retention`,
      keys.historyCompactorLeader(),
      keys.historyCompactionMark(),
      '/other-root/clusters/c/latest/h',
      '/gputel/clustersX/c/latest/h',
    ];
    for (const key of sealed) assert.ok(isSealed(key), `sealed: ${key}`);
    for (const key of readable) assert.ok(!isSealed(key), `readable: ${key}`);
  });
});

function driverSuite(driver: string, openInner: () => Promise<KvStore> | KvStore, closeInner: (inner: KvStore) => Promise<void>): void {
  describe(`SealedKvStore on the ${driver} driver`, { timeout: 30_000 }, () => {
    let raw: KvStore;
    let testNumber = 0;
    let keys: KeySpace;
    before(async () => {
      raw = await openInner();
    });
    after(async () => {
      await closeInner(raw);
    });
    const fresh = (): KeySpace => (keys = new KeySpace(`/seal-${driver}-${++testNumber}`));

    it('seals every write to a sealed key (put and txn), opens every read (get, range, txn range, watch), and leaves coordination keys plain', async () => {
      fresh();
      const store = sealedStore(raw, keys.root, KEY_A);
      const latest = keys.latest('c', 'gpu-node-07');
      const metadata = keys.gpuMetadata('c', 'gpu-node-07', 'GPU-1');
      const checkpoint = keys.checkpoint('telemetry', 'file-1');
      const events: WatchEvent[] = [];
      const watcher = await store.watch({ prefix: keys.clusterPrefix('c') }, { onEvent: (event) => events.push(event) });
      try {
        await store.put(latest, Buffer.from(SECRET));
        const txn = await store.txn({
          success: [
            { type: 'put', key: metadata, value: Buffer.from(`${SECRET} metadata`) },
            { type: 'put', key: checkpoint, value: Buffer.from('offset 42') },
            { type: 'range', range: { prefix: keys.clusterPrefix('c') } },
          ],
        });
        const inTxn = txn.results[2];
        assert.ok(inTxn.type === 'range');
        // Ops apply in order: the range sees the put before it.
        assert.deepEqual(inTxn.result.kvs.map((kv) => kv.value.toString()).sort(), [SECRET, `${SECRET} metadata`].sort());

        for (const key of [latest, metadata]) {
          const stored = (await raw.get(key))!.value;
          assert.ok(isSealedValue(stored), `${key} is sealed in the store`);
          assert.equal(sealedKeyId(stored), 'key-a');
          assert.ok(!stored.toString('latin1').includes('DCGM_FI') && !stored.toString('latin1').includes('gpu-node-07'));
        }
        assert.equal((await raw.get(checkpoint))!.value.toString(), 'offset 42', 'a checkpoint stays readable');

        assert.equal((await store.get(latest))!.value.toString(), SECRET);
        const ranged = await store.range({ prefix: keys.clusterPrefix('c') });
        assert.deepEqual(ranged.kvs.map((kv) => kv.value.toString()).sort(), [SECRET, `${SECRET} metadata`].sort());
        assert.equal((await store.range({ prefix: keys.clusterPrefix('c') }, { keysOnly: true })).kvs.length, 2);
        assert.equal((await store.range({ prefix: keys.clusterPrefix('c') }, { countOnly: true })).count, 2);

        await store.delete({ start: latest });
        await waitFor('three watch events', 5_000, () => (events.length >= 3 ? true : undefined));
        assert.deepEqual(
          events.map((e) => `${e.type} ${e.key.slice(keys.root.length)} ${e.value.toString()}`),
          [`put /clusters/c/latest/gpu-node-07 ${SECRET}`, `put /clusters/c/hosts/gpu-node-07/gpus/GPU-1/metadata ${SECRET} metadata`, 'delete /clusters/c/latest/gpu-node-07 '],
        );
      } finally {
        await watcher.cancel();
      }
    });

    it('rotates: with key B added as newest, values under key A still open and new writes use B', async () => {
      fresh();
      const old = keys.hostMetadata('c', 'h-old');
      const renewed = keys.hostMetadata('c', 'h-new');
      await sealedStore(raw, keys.root, KEY_A).put(old, Buffer.from('written under A'));
      const rotated = sealedStore(raw, keys.root, `${KEY_A}\n${KEY_B}\n`);
      assert.equal((await rotated.get(old))!.value.toString(), 'written under A');
      await rotated.put(renewed, Buffer.from('written under B'));
      assert.equal(sealedKeyId((await raw.get(old))!.value), 'key-a');
      assert.equal(sealedKeyId((await raw.get(renewed))!.value), 'key-b');
      assert.equal((await rotated.get(renewed))!.value.toString(), 'written under B');
      // Key A retired too early: what it sealed is refused, naming the key id and the file.
      await assert.rejects(sealedStore(raw, keys.root, KEY_B).get(old), gputelError('STORE_KEY', /sealed with encryption key "key-a", which test\.keys does not hold \(it holds "key-b"\)/));
      // A rewrite moves a value to the newest key: then A may go.
      await rotated.put(old, Buffer.from('rewritten'));
      assert.equal((await sealedStore(raw, keys.root, KEY_B).get(old))!.value.toString(), 'rewritten');
    });

    it('refuses with STORE_KEY, never bytes: the wrong key, no key file, a tampered value, a value moved to another key', async () => {
      fresh();
      const key = keys.latest('c', 'h');
      const other = keys.latest('c', 'h2');
      await sealedStore(raw, keys.root, KEY_A).put(key, Buffer.from(SECRET));
      const stored = (await raw.get(key))!.value;

      await assert.rejects(sealedStore(raw, keys.root, WRONG_A).get(key), gputelError('STORE_KEY', /does not open with encryption key "key-a" of test\.keys: either the key under "key-a" differs/));
      await assert.rejects(sealedStore(raw, keys.root).get(key), gputelError('STORE_KEY', /sealed with encryption key "key-a", and this process has no --encryption-key-file/));
      await assert.rejects(sealedStore(raw, keys.root).range({ prefix: keys.latestPrefix('c') }), gputelError('STORE_KEY', /no --encryption-key-file/));

      const tampered = Buffer.from(stored);
      tampered[tampered.length - TAG_BYTES - 1] ^= 1;
      await raw.put(other, tampered);
      await assert.rejects(sealedStore(raw, keys.root, KEY_A).get(other), gputelError('STORE_KEY', /altered or moved here from another key/));
      await raw.put(other, stored.subarray(0, 20));
      await assert.rejects(sealedStore(raw, keys.root, KEY_A).get(other), gputelError('STORE_KEY', /cut short/));

      await raw.put(other, stored); // the very bytes of `key`, under another key
      await assert.rejects(sealedStore(raw, keys.root, KEY_A).get(other), gputelError('STORE_KEY', new RegExp(`value at ${other} does not open`)));
      const inTxn = sealedStore(raw, keys.root, KEY_A).txn({ success: [{ type: 'range', range: { prefix: keys.latestPrefix('c') } }] });
      await assert.rejects(inTxn, gputelError('STORE_KEY', /does not open/));
      assert.equal((await sealedStore(raw, keys.root, KEY_A).get(key))!.value.toString(), SECRET, 'the original still opens');
    });

    it('reads plaintext written before encryption was turned on as it is, counted, and seals it when rewritten', async () => {
      fresh();
      const key = keys.gpuIndex('c', 'GPU-1', 'h');
      await raw.put(key, Buffer.from('{"before":"encryption"}'));
      const store = sealedStore(raw, keys.root, KEY_A);
      const before = await plaintextReads();
      assert.equal((await store.get(key))!.value.toString(), '{"before":"encryption"}');
      assert.equal(await plaintextReads(), before + 1);
      await store.put(key, Buffer.from('{"after":"encryption"}'));
      assert.ok(isSealedValue((await raw.get(key))!.value));
      assert.equal((await store.get(key))!.value.toString(), '{"after":"encryption"}');
      assert.equal(await plaintextReads(), before + 1, 'a sealed value is not counted');
      // A process without a key file reads plaintext as any store does.
      await raw.put(key, Buffer.from('plain'));
      assert.equal((await sealedStore(raw, keys.root).get(key))!.value.toString(), 'plain');
    });

    it('reseals plaintext and older-key values with the newest key, keeping leases and leaving coordination keys alone', async () => {
      fresh();
      const older = keys.hostMetadata('c', 'h1');
      const plain = keys.hostMetadata('c', 'h2');
      const newest = keys.hostMetadata('c', 'h3');
      const leased = keys.latest('c', 'h4');
      const checkpoint = keys.checkpoint('telemetry', 'file-1');
      await sealedStore(raw, keys.root, KEY_A).put(older, Buffer.from('under A'));
      await raw.put(plain, Buffer.from('plaintext'));
      await raw.put(checkpoint, Buffer.from('offset 7'));
      const rotated = sealedStore(raw, keys.root, `${KEY_A}\n${KEY_B}`);
      await rotated.put(newest, Buffer.from('under B'));
      const lease = await raw.grantLease(30);
      try {
        await sealedStore(raw, keys.root, KEY_A).put(leased, Buffer.from('leased under A'), { lease: lease.id });
        const newestRevision = (await raw.get(newest))!.modRevision;
        const summary = await rotated.reseal({ prefix: `${keys.root}/` });
        assert.deepEqual(summary, { examined: 4, resealed: 2, sealedPlaintext: 1, changedMeanwhile: 0 });
        for (const key of [older, plain, newest, leased]) assert.equal(sealedKeyId((await raw.get(key))!.value), 'key-b', key);
        assert.equal((await raw.get(newest))!.modRevision, newestRevision, 'a value already under the newest key is not rewritten');
        assert.equal((await raw.get(leased))!.lease, lease.id);
        assert.equal((await raw.get(checkpoint))!.value.toString(), 'offset 7');
        const onlyB = sealedStore(raw, keys.root, KEY_B);
        assert.deepEqual(
          await Promise.all([older, plain, newest, leased].map(async (key) => (await onlyB.get(key))!.value.toString())),
          ['under A', 'plaintext', 'under B', 'leased under A'],
        );
        await assert.rejects(sealedStore(raw, keys.root).reseal({ prefix: `${keys.root}/` }), { code: 'BAD_CONFIG' });
      } finally {
        await lease.revoke();
      }
    });

    it('ends a watch whose event does not open with STORE_KEY through onError', async () => {
      fresh();
      const errors: Error[] = [];
      const events: WatchEvent[] = [];
      const watcher = await sealedStore(raw, keys.root).watch({ prefix: keys.latestPrefix('c') }, { onEvent: (e) => events.push(e), onError: (e) => errors.push(e) });
      try {
        await sealedStore(raw, keys.root, KEY_A).put(keys.latest('c', 'h'), Buffer.from(SECRET));
        await sealedStore(raw, keys.root, KEY_A).put(keys.latest('c', 'h2'), Buffer.from(SECRET));
        await waitFor('the watch to fail', 5_000, () => (errors.length > 0 ? true : undefined));
        assert.equal(events.length, 0);
        assert.equal(errors.length, 1);
        gputelError('STORE_KEY', /no --encryption-key-file/)(errors[0]);
      } finally {
        await watcher.cancel();
      }
    });

    it('evaluates value compares on sealed keys exactly as the store would, including a missing key', async () => {
      fresh();
      const store = sealedStore(raw, keys.root, KEY_A);
      const key = keys.latest('c', 'h');
      const flag = keys.latest('c', 'flag');
      await store.put(key, Buffer.from('b'));
      const run = (operator: '==' | '!=' | '<' | '>', operand: string, on = key): Promise<TxnResult> =>
        store.txn({
          compare: [{ key: on, target: 'value', operator, operand: Buffer.from(operand) }],
          success: [{ type: 'put', key: flag, value: Buffer.from(`yes ${operator} ${operand}`) }],
          failure: [{ type: 'range', range: { start: key } }],
        });
      const truth: [('==' | '!=' | '<' | '>'), string, boolean][] = [
        ['==', 'b', true], ['==', 'a', false], ['!=', 'a', true], ['!=', 'b', false],
        ['<', 'c', true], ['<', 'a', false], ['>', 'a', true], ['>', 'b', false],
      ];
      for (const [operator, operand, expected] of truth) {
        const result = await run(operator, operand);
        assert.equal(result.succeeded, expected, `b ${operator} ${operand}`);
        if (expected) {
          assert.equal((await store.get(flag))!.value.toString(), `yes ${operator} ${operand}`);
        } else {
          const [range] = result.results;
          assert.ok(range.type === 'range');
          assert.equal(range.result.kvs[0].value.toString(), 'b', 'the failure branch ran, its range opened');
        }
      }
      for (const operator of ['==', '!=', '<', '>'] as const) assert.equal((await run(operator, '', keys.latest('c', 'missing'))).succeeded, false);
      // Mixed with a revision compare, which the store would evaluate too.
      const { modRevision } = (await store.get(key))!;
      const mixed = await store.txn({
        compare: [
          { key, target: 'value', operator: '==', operand: Buffer.from('b') },
          { key, target: 'modRevision', operator: '==', operand: modRevision },
          { key: keys.latest('c', 'absent'), target: 'version', operator: '==', operand: 0 },
        ],
        success: [{ type: 'put', key, value: Buffer.from('c') }],
      });
      assert.equal(mixed.succeeded, true);
      assert.equal((await store.get(key))!.value.toString(), 'c');
    });

    it('repeats a value compare when a write lands between its read and its guarded write', async () => {
      fresh();
      const key = keys.latest('c', 'h');
      let interfere = true;
      // Writes to the compared key once, right before the first guarded txn (the wrapper's second txn call).
      let txnCalls = 0;
      const txn = async (request: TxnRequest): Promise<TxnResult> => {
        if (++txnCalls === 2 && interfere) {
          interfere = false;
          await sealedStore(raw, keys.root, KEY_A).put(key, Buffer.from('changed'));
        }
        return raw.txn(request);
      };
      const racing = withOverrides(raw, { txn });
      const store = sealedStore(racing, keys.root, KEY_A);
      await store.put(key, Buffer.from('original'));
      const result = await store.txn({
        compare: [{ key, target: 'value', operator: '==', operand: Buffer.from('original') }],
        success: [{ type: 'put', key, value: Buffer.from('swapped') }],
      });
      assert.equal(result.succeeded, false, 'the value had changed: the compare fails, as in the store');
      assert.equal(txnCalls, 4, 'read + guarded write, twice');
      assert.equal((await store.get(key))!.value.toString(), 'changed');
    });
  });
}

driverSuite('embedded', () => EmbeddedKvStore.open({ dataDir: ':memory:' }), (inner) => inner.close());

describe('on etcd', () => {
  const etcd = useEtcdStore();
  driverSuite('etcd', () => etcd.store, async () => undefined);
});
