/**
 * Encryption at rest end to end: streamer, collector and gateway processes on
 * a real etcd with --encryption-key-file, and `gputel start` on the embedded
 * store. etcd itself, read without the
 * wrapper, holds no metric name, hostname, UUID or sample value in any value;
 * the API still answers exactly; a rotated key file keeps old data readable
 * and seals new data with the new key; a process with the wrong key or none
 * refuses with STORE_KEY and loses nothing.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { EmbeddedKvStore } from '../../src/kv/embedded-kv-store.js';
import { generateEncryptionKeyLine } from '../../src/kv/encryption-key-file.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KeyValue } from '../../src/kv/kv-store.js';
import { sealedKeyPolicy } from '../../src/kv/sealed-key-policy.js';
import { isSealedValue, sealedKeyId } from '../../src/kv/value-sealer.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { assertApiMatches, waitForSamples } from '../support/api-checks.js';
import { readOracle, type OracleRow } from '../support/csv-oracle.js';
import { runGputel, type GputelProcess } from '../support/gputel-process.js';
import { usePipelineHarness } from '../support/pipeline-harness.js';

const FLEET = { hosts: 2, gpusPerHost: 2, duration: '5m', interval: '10s', seed: 11 };
const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/dcgm-export-sample.csv', import.meta.url));

/** Metric names, hostnames and UUIDs of `rows`, and distinctive values as text and float64: what no stored value may show. */
function secretsOf(rows: OracleRow[]): Buffer[] {
  const secrets = new Set<string>(['DCGM_FI_DEV_GPU_TEMP', 'DCGM_FI_DEV_POWER_USAGE']);
  for (const row of rows) {
    secrets.add(row.hostname);
    secrets.add(row.uuid);
  }
  // Fractional, so no byte offset in a checkpoint can equal one, and long enough that a chance match in ciphertext is out of the question.
  const values = [...new Set(rows.map((row) => row.value))].filter((value) => !Number.isInteger(value) && String(value).length >= 6).slice(0, 20);
  assert.ok(values.length > 0, 'the rows have distinctive values to look for');
  return [
    ...[...secrets].map((text) => Buffer.from(text)),
    ...values.map((value) => Buffer.from(String(value))),
    ...values.map((value) => {
      const bytes = Buffer.alloc(8);
      bytes.writeDoubleLE(value);
      return bytes;
    }),
  ];
}

/** Asserts no value shows a secret, and every value under a sealed key is sealed with one of `keyIds`; returns how many are sealed. */
function assertNothingInPlaintext(kvs: KeyValue[], root: string, rows: OracleRow[], keyIds: string[]): number {
  const isSealed = sealedKeyPolicy(root);
  const needles = secretsOf(rows);
  let sealed = 0;
  for (const kv of kvs) {
    for (const needle of needles) assert.ok(!kv.value.includes(needle), `${kv.key} holds ${JSON.stringify(needle.toString('latin1'))} in plaintext`);
    if (!isSealed(kv.key)) continue;
    assert.ok(isSealedValue(kv.value), `${kv.key} is sealed`);
    assert.ok(keyIds.includes(sealedKeyId(kv.value)!), `${kv.key} is sealed with ${sealedKeyId(kv.value)}`);
    sealed++;
  }
  return sealed;
}

describe('encryption at rest, roles on etcd', { timeout: 120_000 }, () => {
  const harness = usePipelineHarness('encryption', { kv: true });
  let rootNumber = 0;

  function keyFile(name: string, lines: string[]): string {
    const file = join(harness.dir, name);
    writeFileSync(file, `# test keys\n${lines.join('\n')}\n`, { mode: 0o600 });
    return file;
  }

  /** `common` plus a root of this test and the key file (none when undefined). */
  function roleArgs(root: string, keys: string | undefined): string[] {
    return [...harness.common, '--root', root, ...(keys === undefined ? [] : ['--encryption-key-file', keys])];
  }

  /** Polls /readyz until it answers 200 (at most 10 s; the assertions that follow then say what is wrong). */
  async function ready(baseUrl: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
      if ((await fetch(`${baseUrl}/readyz`).then((r) => r.status, () => 0)) === 200) return;
      await sleep(100);
    }
  }

  async function stream(args: string[], file: string): Promise<void> {
    const streamer = harness.run(['streamer', ...args, '--port', '0', '--file', file]);
    assert.equal(await streamer.exited, 0, streamer.stderr());
  }

  async function everything(root: string): Promise<KeyValue[]> {
    return (await harness.kv.range({ prefix: `${root}/` })).kvs;
  }

  it('stores nothing etcd shows in plaintext, serves it exactly, and rotates keys without losing old data', async () => {
    const root = `/gputel-enc-${++rootNumber}`;
    const keys = keyFile('rotating.keys', [generateEncryptionKeyLine('a')]);
    const args = roleArgs(root, keys);
    const first = await harness.generate('first.csv', { ...FLEET, start: '2026-03-02T09:00:00Z' });
    let { gateway, baseUrl } = await harness.startGateway(args);
    let collector = harness.run(['collector', ...args, '--port', '0']);
    await stream(args, first);
    const firstRows = readOracle(first);
    await waitForSamples(baseUrl, firstRows.length);
    await assertApiMatches(baseUrl, firstRows);
    const sealed = assertNothingInPlaintext(await everything(root), root, firstRows, ['a']);
    const keySpace = new KeySpace(root);
    const chunks = (await everything(root)).filter((kv) => kv.key.includes('/data/'));
    assert.ok(chunks.length > 0 && sealed > chunks.length, `chunks (${chunks.length}) and metadata are sealed (${sealed} values)`);
    assert.equal((await harness.kv.range({ prefix: keySpace.topicPrefix('telemetry') + 'p/' }, { countOnly: true })).count, 0, 'the queue is drained');

    // Rotation: key b becomes the newest; the roles restart with the file.
    const keyB = generateEncryptionKeyLine('b');
    appendFileSync(keys, `${keyB}\n`);
    await Promise.all([gateway.stop(), collector.stop()]);
    ({ gateway, baseUrl } = await harness.startGateway(args));
    collector = harness.run(['collector', ...args, '--port', '0']);
    const second = await harness.generate('second.csv', { ...FLEET, start: '2026-03-02T10:00:00Z' });
    await stream(args, second);
    const allRows = [...firstRows, ...readOracle(second)];
    await waitForSamples(baseUrl, allRows.length);
    await assertApiMatches(baseUrl, allRows);
    assertNothingInPlaintext(await everything(root), root, allRows, ['a', 'b']);
    const secondStartMs = Date.parse('2026-03-02T10:00:00Z');
    for (const kv of await everything(root)) {
      if (!kv.key.includes('/data/')) continue;
      const startMs = Number(kv.key.slice(kv.key.lastIndexOf('/') + 1).slice(0, 13));
      assert.equal(sealedKeyId(kv.value), startMs < secondStartMs ? 'a' : 'b', `${kv.key}: old chunks keep key a, new ones use b`);
    }
    for (const kv of (await everything(root)).filter((kv) => kv.key.startsWith(keySpace.latestPrefix('default')))) {
      assert.equal(sealedKeyId(kv.value), 'b', 'latest values were rewritten with the newest key');
    }

    // Retiring key a: reseal everything with b, then a gateway with b alone serves it all.
    const resealed = await harness.cli(['encryption-key', 'reseal', '--root', root, '--encryption-key-file', keys]);
    assert.match(resealed, /resealed [1-9]\d* from older keys, sealed 0 plaintext, 0 changed meanwhile/);
    assertNothingInPlaintext(await everything(root), root, allRows, ['b']);
    const onlyB = await harness.startGateway(roleArgs(root, keyFile('only-b.keys', [keyB])));
    await ready(onlyB.baseUrl);
    await assertApiMatches(onlyB.baseUrl, allRows);
    await onlyB.gateway.stop();

    // The wrong key under the same ids, and no key at all: the gateway refuses to start (before any write), naming the key.
    const wrong = keyFile('wrong.keys', [generateEncryptionKeyLine('a'), generateEncryptionKeyLine('b')]);
    const wrongGateway = (await harness.startGateway(roleArgs(root, wrong))).gateway;
    assert.equal(await wrongGateway.exited, EXIT.CONFIG);
    assert.match(wrongGateway.stderr(), /gputel: encryption key "a" of \S+wrong\.keys is not the key "a" that sealed this store's data .*every gputel process must use the same key file/);
    const keyless = (await harness.startGateway(roleArgs(root, undefined))).gateway;
    assert.equal(await keyless.exited, EXIT.CONFIG);
    assert.match(keyless.stderr(), new RegExp(`gputel: the data under ${root} is sealed \\(encryption keys "a", "b"\\), and this process has no --encryption-key-file`));
    await assertApiMatches(baseUrl, allRows); // the right gateway still answers
  });

  it('leaves messages queued, never dead-lettered, while a collector lacks the newest key; with it, stores them exactly once', async () => {
    const root = `/gputel-enc-${++rootNumber}`;
    const k1 = generateEncryptionKeyLine('k1');
    const k2 = generateEncryptionKeyLine('k2');
    const behind = keyFile('behind.keys', [k1]);
    const rotated = keyFile('rotated.keys', [k1, k2]);
    const file = await harness.generate('third.csv', { ...FLEET, start: '2026-03-02T11:00:00Z' });
    const rows = readOracle(file);
    const keySpace = new KeySpace(root);
    // The streamer's key file was rotated first; the collector's not yet.
    const lagging = harness.run(['collector', ...roleArgs(root, behind), '--port', '0']);
    await sleep(1_000);
    await stream(roleArgs(root, rotated), file);
    await sleep(2_000); // the collector tries, and backs off
    const queued = (await harness.kv.range({ prefix: keySpace.topicPrefix('telemetry') + 'p/' }, { countOnly: true })).count;
    assert.ok(queued > 0, 'messages stay queued');
    assert.equal((await harness.kv.range({ prefix: keySpace.deadLetterPrefix('telemetry') }, { countOnly: true })).count, 0, 'nothing dead-lettered');
    assert.equal((await harness.kv.range({ prefix: keySpace.statsPrefix('default') }, { countOnly: true })).count, 0, 'nothing stored');
    await lagging.stop();
    const said = lagging.stderr();
    assert.ok(said.includes('"code":"STORE_KEY"') && said.includes('is sealed with encryption key \\"k2\\", which'), 'the collector logs why (STORE_KEY, key k2)');

    const { baseUrl } = await harness.startGateway(roleArgs(root, rotated));
    harness.run(['collector', ...roleArgs(root, rotated), '--port', '0']);
    await waitForSamples(baseUrl, rows.length);
    await sleep(500); // anything stored twice would show by now
    await assertApiMatches(baseUrl, rows);
    assertNothingInPlaintext(await everything(root), root, rows, ['k2']);

    // A chunk altered in etcd: its GPU's telemetry answers STORE_KEY, never other values.
    const chunk = (await everything(root)).find((kv) => kv.key.includes('/data/'))!;
    const altered = Buffer.from(chunk.value);
    altered[altered.length - 1] ^= 1;
    await harness.kv.put(chunk.key, altered);
    const uuid = rows.find((row) => chunk.key.includes(`/gpus/${row.uuid}/`))!.uuid;
    const answer = await fetch(`${baseUrl}/api/v1/gpus/${uuid}/telemetry?limit=10000`);
    assert.equal(answer.status, 503);
    const body = (await answer.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'STORE_KEY');
    assert.match(body.error.message, new RegExp(`value at ${chunk.key} does not open with encryption key "k2"`));
  });
});

describe('encryption at rest, gputel start on the embedded store', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'gputel-encryption-start-'));
  const processes: GputelProcess[] = [];
  after(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores a DCGM export sealed, serves it exactly, and refuses to start with the wrong key', async () => {
    // The key file made and checked with the CLI, as docs/encryption.md says.
    const generate = runGputel(['encryption-key', 'generate', '--id', 'embedded-1']);
    processes.push(generate);
    assert.equal(await generate.exited, 0, generate.stderr());
    assert.match(generate.stdout(), /^embedded-1:[0-9a-f]{64}\n$/);
    const keys = join(dir, 'keys');
    writeFileSync(keys, generate.stdout(), { mode: 0o600 });
    const check = runGputel(['encryption-key', 'check', keys]);
    processes.push(check);
    assert.equal(await check.exited, 0, check.stderr());
    assert.match(check.stdout(), /1 key\(s\) \(embedded-1\); new writes are sealed with "embedded-1"/);
    const dataDir = join(dir, 'data');
    const args = ['--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--encryption-key-file', keys];
    const gputel = runGputel(['start', '--file', FIXTURE, ...args]);
    processes.push(gputel);
    const [, port] = await gputel.waitForOutput(/API on http:\/\/localhost:(\d+)/);
    const rows = readOracle(FIXTURE);
    await waitForSamples(`http://127.0.0.1:${port}`, rows.length);
    await assertApiMatches(`http://127.0.0.1:${port}`, rows);
    await gputel.stop();

    const raw = await EmbeddedKvStore.open({ dataDir });
    try {
      const kvs = (await raw.range({ prefix: '/gputel/' })).kvs;
      assert.ok(assertNothingInPlaintext(kvs, '/gputel', rows, ['embedded-1']) > 0, 'values are sealed');
    } finally {
      await raw.close();
    }

    const wrong = join(dir, 'wrong.keys');
    writeFileSync(wrong, `${generateEncryptionKeyLine('embedded-1')}\n`, { mode: 0o600 });
    const refused = runGputel(['start', ...args.slice(0, -1), wrong]);
    processes.push(refused);
    assert.equal(await refused.exited, EXIT.CONFIG);
    assert.match(refused.stderr(), /gputel: encryption key "embedded-1" of \S+wrong\.keys is not the key "embedded-1" that sealed this store's data/);
  });
});
