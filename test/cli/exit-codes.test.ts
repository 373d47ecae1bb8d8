/**
 * Every class of failure exits with its own code (src/cli/exit-codes.ts,
 * docs/cli.md "Exit codes"), through the real binary: scripts tell a typo
 * from an outage by the code alone.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EXIT, exitCodeOf, exitCodeOfErrorCode } from '../../src/cli/exit-codes.js';
import { streamExitCode } from '../../src/cli/streamer-command.js';
import { GputelError } from '../../src/common/gputel-error.js';
import { KeySpace } from '../../src/kv/key-space.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { encodeDeadLetter } from '../../src/queue/dead-letter-queue.js';
import type { StreamSummary } from '../../src/streamer/streamer.js';
import { withBrokenRows } from '../support/broken-rows.js';
import { findFreePort, startEtcd, type EtcdProcess } from '../support/etcd-process.js';
import { runGputel } from '../support/gputel-process.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/dcgm-export-sample.csv', import.meta.url));

/** Runs gputel to its end; resolves with its exit code and output. */
async function gputel(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = runGputel(args, env);
  const code = await child.exited;
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

/** A user's error prints one clear message, never a stack. */
function assertNoStack(stderr: string, what: string): void {
  assert.doesNotMatch(stderr, /^\s+at /m, `${what}: no stack trace`);
}

describe('exit codes, one per class of failure', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gputel-exit-codes-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('usage errors exit USAGE (2) with commander\'s message; --help and --version exit 0', async () => {
    const usage: [string[], RegExp][] = [
      [['--bogus'], /unknown option '--bogus'/],
      [['nope'], /unknown command 'nope'/],
      [['dlq', 'show'], /missing required argument 'id'/],
      [['completion', 'fish'], /'fish' is invalid .* bash, zsh/],
      [['streamer', '--partitions'], /option '--partitions <n>' argument missing/],
      [['keys', 'create'], /required option '--role <role>' not specified/],
    ];
    const results = await Promise.all(usage.map(([args]) => gputel(args)));
    results.forEach((result, i) => {
      const [args, message] = usage[i];
      assert.equal(result.code, EXIT.USAGE, `gputel ${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assertNoStack(result.stderr, args.join(' '));
    });
    const fine = await Promise.all([['--help'], ['--version'], ['streamer', '--help'], ['dlq', 'replay', '--help']].map((args) => gputel(args)));
    for (const result of fine) assert.equal(result.code, EXIT.OK, result.stderr);
    assert.match(fine[0].stdout, /Usage: gputel/);
    assert.match(fine[1].stdout, /^\d+\.\d+\.\d+/);
  });

  it('a bad setting value exits CONFIG (3), naming the setting', async () => {
    const result = await gputel(['streamer', '--etcd', 'http://127.0.0.1:9', '--file', FIXTURE, '--partitions', 'many']);
    assert.equal(result.code, EXIT.CONFIG, result.stderr);
    assert.match(result.stderr, /--partitions = "many": must be a whole number from 1 to 127/);
    const missing = await gputel(['start', '--file', join(dir, 'no-such.csv'), '--port', '0', '--data-dir', join(dir, 'unused')]);
    assert.equal(missing.code, EXIT.CONFIG, missing.stderr);
    assert.match(missing.stderr, /--file .*no-such\.csv: no such file; check the path/);
    assertNoStack(missing.stderr, 'a missing --file');
  });

  it('a store that cannot be opened exits STORE_UNAVAILABLE (5); a topic that does not exist, NOT_FOUND (8)', async () => {
    const blocked = join(dir, 'a-file');
    writeFileSync(blocked, 'not a folder');
    const unavailable = await gputel(['queue', 'status', '--data-dir', join(blocked, 'store')]);
    assert.equal(unavailable.code, EXIT.STORE_UNAVAILABLE, unavailable.stderr);
    assert.match(unavailable.stderr, /embedded store .*a-file\/store/);
    const notFound = await gputel(['queue', 'status', '--data-dir', join(dir, 'empty-store')]);
    assert.equal(notFound.code, EXIT.NOT_FOUND, notFound.stderr);
    assert.match(notFound.stderr, /topic "telemetry" under \/gputel has never been used/);
  });

  it('an etcd that does not answer exits STORE_UNAVAILABLE (5)', async () => {
    const port = await findFreePort();
    const result = await gputel(['queue', 'status', '--etcd', `http://127.0.0.1:${port}`]);
    assert.equal(result.code, EXIT.STORE_UNAVAILABLE, result.stderr);
    assert.match(result.stderr, /cannot reach etcd http:\/\/127\.0\.0\.1:\d+ within \d+ ms \(connection refused by [^)]+\): check that etcd runs/);
    assertNoStack(result.stderr, 'etcd down');
  });

  it('a dlq replay that leaves dead letters in place exits FAILED (9)', async () => {
    const dataDir = join(dir, 'dlq-store');
    const kv = await openKvStore({ dataDir });
    const keys = new KeySpace('/gputel');
    const id = '0000000000001-0a0b0c0d-000000000001';
    const record = { messageId: id, partition: 99, reason: 'made by the test', failedAt: new Date().toISOString(), consumerId: 'test', value: Buffer.from('x') };
    await kv.put(keys.deadLetter('telemetry', id), encodeDeadLetter(record));
    await kv.close();
    const result = await gputel(['dlq', 'replay', '--data-dir', dataDir]);
    assert.equal(result.code, EXIT.FAILED, result.stderr);
    assert.match(result.stderr, /not replayed .*: its partition 99 is not one of the topic's 16/);
    assert.match(result.stdout, /replayed 0 dead letter\(s\), 1 not replayed/);
  });

  describe('streamers on etcd', () => {
    let etcd: EtcdProcess;
    before(async () => {
      etcd = await startEtcd();
    });
    after(async () => etcd?.stop());

    it('--strict with rejected rows exits REJECTED_INPUT (4); a source that failed exits FAILED (9)', async () => {
      const broken = join(dir, 'broken.csv');
      writeFileSync(broken, withBrokenRows(readFileSync(FIXTURE, 'utf8')).text);
      const notDcgm = join(dir, 'not-dcgm.csv');
      writeFileSync(notDcgm, 'name,value\ngpu,1\n');
      const common = ['--etcd', etcd.endpoints[0], '--host', '127.0.0.1'];
      const strict = await gputel(['streamer', ...common, '--root', '/strict', '--file', broken, '--strict']);
      assert.equal(strict.code, EXIT.REJECTED_INPUT, strict.stderr);
      assert.match(strict.stderr, /broken\.csv:\d+: /);
      const failed = await gputel(['streamer', ...common, '--root', '/failed', '--file', notDcgm]);
      assert.equal(failed.code, EXIT.FAILED, failed.stderr);
      assert.match(failed.stderr, /source .*not-dcgm\.csv failed: /);
    });
  });

  it('maps error codes to the classes, and unknown errors (bugs) to INTERNAL (1)', () => {
    assert.equal(exitCodeOf(new Error('a bug')), EXIT.INTERNAL);
    assert.equal(exitCodeOf(new GputelError('INTERNAL', 'a bug')), EXIT.INTERNAL);
    assert.equal(exitCodeOf(new GputelError('BAD_CONFIG', 'x')), EXIT.CONFIG);
    assert.equal(exitCodeOf(new GputelError('KV_UNAVAILABLE', 'x')), EXIT.STORE_UNAVAILABLE);
    const summary = (over: Partial<StreamSummary>): StreamSummary => ({
      location: 'f.csv', sourceId: 'f', resumable: true, resumedFromByte: 0, rowsRead: 1, rowsRejected: 0, goodRows: 1,
      sourceRowsRejected: 0, messages: 1, seconds: 1, rowsPerSecond: 1, rejections: [], ...over,
    });
    assert.equal(streamExitCode([summary({})], true), EXIT.OK);
    assert.equal(streamExitCode([summary({ sourceRowsRejected: 2 })], false), EXIT.OK, 'rejections without --strict');
    assert.equal(streamExitCode([summary({ sourceRowsRejected: 2 })], true), EXIT.REJECTED_INPUT);
    assert.equal(streamExitCode([summary({ sourceRowsRejected: 2 }), summary({ failure: 'unreadable', failureCode: 'BAD_INPUT' })], true), EXIT.FAILED);
    assert.equal(streamExitCode([summary({ failure: 'unreadable', failureCode: 'BAD_INPUT' }), summary({ failure: '16 partitions', failureCode: 'BAD_CONFIG' })], false), EXIT.CONFIG);
  });

  it('a refused subscription gputel watch keeps as CONFLICT (its id already in use) exits USAGE (2), not INTERNAL', () => {
    assert.equal(exitCodeOf(new GputelError('CONFLICT', 'subscription id "watch" is already in use on this connection')), EXIT.USAGE);
    assert.equal(exitCodeOfErrorCode('CONFLICT'), EXIT.USAGE);
  });
});
