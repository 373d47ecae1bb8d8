/**
 * The three encryption defects a new-user trial found, end to end on a real
 * etcd with the real `gputel` binary: a gateway or streamer whose key file
 * shares no key with the store's is refused (exit 2, STORE_KEY) before it
 * writes anything (no check value, no message), so correctly configured
 * processes start without a warning about it; a rotation key next to a known
 * one still works; and `encryption-key reseal` names the store it rewrites
 * and never falls back to ./.gputel.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmbeddedKvStore } from '../../src/kv/embedded-kv-store.js';
import { generateEncryptionKeyLine } from '../../src/kv/encryption-key-file.js';
import { KeySpace } from '../../src/kv/key-space.js';
import { isSealedValue, sealedKeyId } from '../../src/kv/value-sealer.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { assertApiMatches, waitForSamples } from '../support/api-checks.js';
import { readOracle } from '../support/csv-oracle.js';
import { runGputel, type GputelProcess } from '../support/gputel-process.js';
import { usePipelineHarness } from '../support/pipeline-harness.js';

const FLEET = { hosts: 1, gpusPerHost: 2, duration: '2m', interval: '10s', seed: 5 };

describe('encryption key files refused at start, and reseal naming its store', { timeout: 90_000 }, () => {
  const harness = usePipelineHarness('key-refusal', { kv: true });

  function keyFile(name: string, lines: string[]): string {
    const file = join(harness.dir, name);
    writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
    return file;
  }

  function roleArgs(root: string, keys: string): string[] {
    return [...harness.common, '--root', root, '--encryption-key-file', keys];
  }

  /** Polls /readyz until 200 (at most 10 s), asserting it came. */
  async function ready(baseUrl: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
      if ((await fetch(`${baseUrl}/readyz`).then((r) => r.status, () => 0)) === 200) return;
      await sleep(100);
    }
    assert.fail(`${baseUrl}/readyz never answered 200`);
  }

  it('refuses a gateway or streamer with an unrelated key file before any write; a new key next to a known one rotates', async () => {
    const root = '/gputel-refusal';
    const keySpace = new KeySpace(root);
    const queuePrefix = keySpace.topicPrefix('telemetry') + 'p/';
    const keyA = generateEncryptionKeyLine('a');
    const known = keyFile('known.keys', [keyA]);
    const other = keyFile('other.keys', [generateEncryptionKeyLine('other')]);
    const first = await harness.generate('first.csv', { ...FLEET, start: '2026-03-03T09:00:00Z' });
    const firstStreamer = harness.run(['streamer', ...roleArgs(root, known), '--port', '0', '--file', first]);
    assert.equal(await firstStreamer.exited, 0, firstStreamer.stderr());
    const queued = (await harness.kv.range({ prefix: queuePrefix }, { countOnly: true })).count;
    assert.ok(queued > 0, 'the first streamer queued sealed messages');
    const revision = await harness.kv.revision();

    // Finding 1: a gateway whose only key is new to the store.
    const refusedGateway = (await harness.startGateway(roleArgs(root, other))).gateway;
    assert.equal(await refusedGateway.exited, EXIT.CONFIG);
    assert.match(refusedGateway.stderr(), /gputel: the data under \/gputel-refusal is sealed with encryption key\(s\) "a", and \S+other\.keys holds none of them \(it holds "other"\).*append its line to that file/);
    // Finding 2: a streamer with the same file writes no message.
    const refusedStreamer = harness.run(['streamer', ...roleArgs(root, other), '--port', '0', '--file', first]);
    assert.equal(await refusedStreamer.exited, EXIT.CONFIG);
    assert.match(refusedStreamer.stderr(), /holds none of them \(it holds "other"\)/);
    assert.equal(await harness.kv.revision(), revision, 'the refused processes wrote nothing');
    assert.equal((await harness.kv.range({ start: keySpace.encryptionKeyCheck('other') })).kvs.length, 0, 'no check value for "other"');
    assert.equal((await harness.kv.range({ prefix: queuePrefix }, { countOnly: true })).count, queued, 'no message was added');

    // A correctly configured process starts with no warning about keys that sealed nothing.
    const rightGateway = await harness.startGateway(roleArgs(root, known));
    await ready(rightGateway.baseUrl);
    await rightGateway.gateway.stop();
    assert.doesNotMatch(rightGateway.gateway.stderr(), /holds data sealed with encryption key/);

    // A genuinely new key appended to the known file: the streamer seals with it and records it.
    const rotated = keyFile('rotated.keys', [keyA, generateEncryptionKeyLine('b')]);
    const second = await harness.generate('second.csv', { ...FLEET, start: '2026-03-03T10:00:00Z' });
    const rotatedStreamer = harness.run(['streamer', ...roleArgs(root, rotated), '--port', '0', '--file', second]);
    assert.equal(await rotatedStreamer.exited, 0, rotatedStreamer.stderr());
    const checks = (await harness.kv.range({ prefix: keySpace.encryptionKeyChecksPrefix() })).kvs.map((kv) => kv.key);
    assert.deepEqual(checks, [keySpace.encryptionKeyCheck('a'), keySpace.encryptionKeyCheck('b')]);

    // Samples in and out: both files, once, through a collector and gateway with the rotated file.
    harness.run(['collector', ...roleArgs(root, rotated), '--port', '0']);
    const { baseUrl } = await harness.startGateway(roleArgs(root, rotated));
    const rows = [...readOracle(first), ...readOracle(second)];
    await waitForSamples(baseUrl, rows.length);
    await assertApiMatches(baseUrl, rows);
    assert.equal((await harness.kv.range({ prefix: queuePrefix }, { countOnly: true })).count, 0, 'the queue is drained');

    // Finding 3: reseal names etcd and the root, before and in its summary.
    const resealed = await harness.cli(['encryption-key', 'reseal', '--root', root, '--encryption-key-file', rotated]);
    const endpoints = harness.etcd.endpoints.join(',');
    assert.ok(resealed.startsWith(`resealing every value under ${root}/ of etcd at ${endpoints}\n`), resealed);
    assert.match(resealed, new RegExp(`etcd at ${endpoints}, root ${root}: examined \\d+ sealed-key value\\(s\\): resealed \\d+ from older keys, sealed 0 plaintext, 0 changed meanwhile`));
    await assertApiMatches(baseUrl, rows);
  });

  it('reseal without --etcd or --data-dir refuses and creates no store; with --data-dir it names the absolute path', async () => {
    const cwd = join(harness.dir, 'cwd');
    mkdirSync(cwd);
    const keys = keyFile('embedded.keys', [generateEncryptionKeyLine('e1')]);
    const run = async (args: string[]): Promise<GputelProcess> => {
      const child = runGputel(['encryption-key', 'reseal', '--encryption-key-file', keys, ...args], {}, cwd);
      await child.exited;
      return child;
    };

    const help = await run(['--help']);
    assert.match(help.stdout(), /--data-dir <dir> +the embedded store to reseal \(or --etcd; no\s+default\)/);
    assert.match(help.stdout(), /reseal never defaults to \.\/\.gputel/);
    const unnamed = await run([]);
    assert.equal(unnamed.child.exitCode, EXIT.CONFIG);
    assert.match(unnamed.stderr(), /gputel: gputel encryption-key reseal rewrites every value of one store: name it with --etcd .* or --data-dir DIR .*it does not default to \.\/\.gputel/);
    const missing = await run(['--data-dir', 'nothing-here']);
    assert.equal(missing.child.exitCode, EXIT.CONFIG);
    assert.match(missing.stderr(), new RegExp(`there is no embedded store at ${join(cwd, 'nothing-here')} \\(--data-dir\\)`));
    assert.ok(!existsSync(join(cwd, '.gputel')) && !existsSync(join(cwd, 'nothing-here')), 'no store was created');

    // An embedded store holding one plaintext value from before encryption, named by a relative --data-dir.
    const dataDir = join(cwd, 'data');
    const valueKey = '/gputel/clusters/default/hosts/h1';
    const store = await EmbeddedKvStore.open({ dataDir });
    await store.put(valueKey, Buffer.from('{"hostname":"h1"}'));
    await store.close();
    const sealed = await run(['--data-dir', 'data']);
    assert.equal(sealed.child.exitCode, 0, sealed.stderr());
    assert.equal(
      sealed.stdout(),
      `resealing every value under /gputel/ of the embedded store at ${dataDir}\n` +
        `the embedded store at ${dataDir}, root /gputel: examined 1 sealed-key value(s): resealed 0 from older keys, sealed 1 plaintext, 0 changed meanwhile\n`,
    );
    const raw = await EmbeddedKvStore.open({ dataDir });
    try {
      const [value] = (await raw.range({ start: valueKey })).kvs;
      assert.ok(isSealedValue(value.value) && sealedKeyId(value.value) === 'e1', 'the value is sealed with e1');
    } finally {
      await raw.close();
    }
  });
});
