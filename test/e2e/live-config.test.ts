/**
 * Live configuration end to end: real etcd, real `gputel streamer` and
 * `gputel gateway` processes, the real `gputel config` command, and plain
 * HTTP to each role's GET /config. Each running instance must apply a change
 * within a second; a bad value is refused by the CLI, and by an instance
 * when it was written to etcd directly.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXIT } from '../../src/cli/exit-codes.js';
import type { SettingInEffect } from '../../src/common/live-settings.js';
import { KeySpace } from '../../src/kv/key-space.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import type { KvStore } from '../../src/kv/kv-store.js';
import { decodeMessage } from '../../src/queue/message-codec.js';
import { CSV_HEADER, csvLines } from '../support/csv-lines.js';
import { findFreePorts, startEtcd, type EtcdProcess } from '../support/etcd-process.js';
import { runGputel, type GputelProcess } from '../support/gputel-process.js';
import { waitFor } from '../support/wait-for.js';

const TOPIC = 'telemetry';
/** The promise: every instance applies a change within a second. */
const APPLY_WITHIN_MS = 1_000;

describe('live configuration through etcd', () => {
  let etcd: EtcdProcess;
  let kv: KvStore;
  const processes: GputelProcess[] = [];
  let rootNumber = 0;

  before(async () => {
    etcd = await startEtcd();
    kv = await openKvStore({ endpoints: etcd.endpoints, root: '/' });
  });
  after(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await kv?.close();
    await etcd?.stop();
  });

  function storeFlags(root: string): string[] {
    return ['--etcd', etcd.endpoints.join(','), '--root', root];
  }

  /** `gputel config …` to its end: its exit code and output. */
  async function config(root: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const command = runGputel(['config', ...args, ...storeFlags(root)]);
    processes.push(command);
    const code = await command.exited;
    return { code, stdout: command.stdout(), stderr: command.stderr() };
  }

  async function settingsAt(port: number): Promise<Map<string, SettingInEffect>> {
    const response = await fetch(`http://127.0.0.1:${port}/config`);
    assert.equal(response.status, 200);
    const body = (await response.json()) as { settings: SettingInEffect[] };
    return new Map(body.settings.map((row) => [row.key, row]));
  }

  /** Polls /config every 10 ms until `key` shows `value` from `source`; resolves with the ms it took. */
  async function appliedWithin(port: number, key: string, value: string, source: SettingInEffect['source'], sinceMs: number): Promise<number> {
    await waitFor(`${key} = ${value} (${source}) at /config`, 5_000, async () => {
      const row = (await settingsAt(port)).get(key);
      return row?.value === value && row.source === source ? true : undefined;
    }, 10);
    return performance.now() - sinceMs;
  }

  async function waitForReady(port: number): Promise<void> {
    await waitFor(`/readyz on ${port}`, 15_000, async () => ((await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0)) === 200 ? true : undefined), 50);
  }

  /** Samples of each queued message of the topic, in production order (nothing consumes them here). */
  async function queuedMessageSizes(keys: KeySpace): Promise<number[]> {
    const { kvs } = await kv.range({ prefix: `${keys.topicPrefix(TOPIC)}p/` });
    return kvs.map(({ value }) => decodeMessage(value).length);
  }

  /** Writes `chunks` pieces of `rowsPerChunk` rows to stdin, apart in time so that each arrives as one read. */
  async function writeRows(streamer: GputelProcess, chunks: number, rowsPerChunk: number, from: number): Promise<void> {
    for (let chunk = 0; chunk < chunks; chunk++) {
      streamer.child.stdin!.write(csvLines(rowsPerChunk, 1, from + chunk * rowsPerChunk));
      await sleep(25);
    }
  }

  it('a batch size set live with gputel config set shapes the running streamer\'s next messages, within a second', async () => {
    const root = `/live-config-${++rootNumber}`;
    const keys = new KeySpace(root);
    const [port] = await findFreePorts(1);
    // Only the batch bound flushes: the flush interval is far longer than the test.
    const streamer = runGputel(
      ['streamer', ...storeFlags(root), '--file', '-', '--partitions', '1', '--batch-samples', '40', '--flush-interval', '60s', '--host', '127.0.0.1', '--port', String(port), '--no-progress'],
      {},
      undefined,
      'pipe',
    );
    processes.push(streamer);
    streamer.child.stdin!.write(`${CSV_HEADER}\n`);
    await waitForReady(port);
    assert.deepEqual((await settingsAt(port)).get('batch-samples'), { key: 'batch-samples', value: '40', source: 'flag', live: true });

    await writeRows(streamer, 8, 10, 0);
    const before = await waitFor('two messages of the started batch size', 5_000, async () => {
      const sizes = await queuedMessageSizes(keys);
      return sizes.length >= 2 ? sizes : undefined;
    });
    // A batch is flushed at the first read that reaches the bound (reads may merge: at least 40, never under).
    assert.ok(before.every((size) => size >= 40), `messages before the change: ${before.join(', ')}`);

    const set = await config(root, 'set', 'batch-samples', '20');
    const setDoneMs = performance.now();
    assert.equal(set.code, EXIT.OK, set.stderr);
    assert.equal(set.stdout, 'batch-samples: (not set) → 20\n');
    const tookMs = await appliedWithin(port, 'batch-samples', '20', 'live', setDoneMs);
    assert.ok(tookMs < APPLY_WITHIN_MS, `applied after ${Math.round(tookMs)} ms`);

    // 80 more rows: at least 4 messages at the new bound (what was pending before rides in the first).
    await writeRows(streamer, 8, 10, 80);
    const after = await waitFor('messages of the new batch size', 5_000, async () => {
      const sizes = (await queuedMessageSizes(keys)).slice(before.length);
      return sizes.length >= 3 ? sizes : undefined;
    });
    assert.ok(after.every((size) => size >= 20 && size < 40), `messages after the change: ${after.join(', ')}`);

    // Ends with counts: stdin closed, every row written is on the queue, once.
    streamer.child.stdin!.end();
    assert.equal(await streamer.exited, EXIT.OK, streamer.stderr());
    assert.equal((await queuedMessageSizes(keys)).reduce((sum, size) => sum + size, 0), 160);
  });

  it('a live log level reaches the gateway\'s request loggers; a bad value is refused by the CLI and, written directly, by the instance', async () => {
    const root = `/live-config-${++rootNumber}`;
    const keys = new KeySpace(root);
    const [port] = await findFreePorts(1);
    const gateway = runGputel(['gateway', ...storeFlags(root), '--host', '127.0.0.1', '--port', String(port), '--log-level', 'info']);
    processes.push(gateway);
    await waitForReady(port);
    const documented = (await (await fetch(`http://127.0.0.1:${port}/openapi.json`)).json()) as { paths: Record<string, { get?: { tags?: string[] } }> };
    assert.deepEqual(documented.paths['/config']?.get?.tags, ['ops'], 'GET /config is in the OpenAPI document');
    const requestLines = (): number => gateway.stderr().split('\n').filter((line) => line.includes('"msg":"request"')).length;
    await fetch(`http://127.0.0.1:${port}/api/v1/gpus`);
    assert.equal(requestLines(), 0, 'no debug lines at level info');

    // Written as etcdctl would: the instance applies it from its watch, within a second.
    const putAtMs = performance.now();
    await kv.put(keys.liveSetting('default', 'log-level'), Buffer.from('debug'));
    assert.ok((await appliedWithin(port, 'log-level', 'debug', 'live', putAtMs)) < APPLY_WITHIN_MS);
    await fetch(`http://127.0.0.1:${port}/api/v1/gpus`);
    await waitFor('a debug line of a request', 2_000, () => (requestLines() > 0 ? true : undefined), 20);

    // The CLI refuses what the flag's parser refuses, with the config exit code, and writes nothing.
    const refused = await config(root, 'set', 'log-level', 'loud');
    assert.equal(refused.code, EXIT.CONFIG);
    assert.match(refused.stderr, /log-level = "loud": must be one of fatal, error, warn, info, debug, trace, silent; the value in effect is unchanged/);
    assert.equal((await kv.get(keys.liveSetting('default', 'log-level')))?.value.toString(), 'debug');

    // The same value put into etcd directly: the instance logs why, keeps debug, and /config shows both.
    await kv.put(keys.liveSetting('default', 'log-level'), Buffer.from('loud'));
    const row = await waitFor('the refusal at /config', 2_000, async () => {
      const shown = (await settingsAt(port)).get('log-level');
      return shown?.rejected ? shown : undefined;
    }, 10);
    assert.deepEqual(row, { key: 'log-level', value: 'debug', source: 'live', live: true, rejected: { value: 'loud', reason: 'must be one of fatal, error, warn, info, debug, trace, silent' } });
    // And in the metrics, so that Prometheus sees every instance's settings at once.
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^gputel_live_setting_info\{key="log-level",value="debug",source="live"\} 1$/m);
    assert.match(metrics, /^gputel_live_setting_refused\{key="log-level"\} 1$/m);
    assert.match(metrics, /^gputel_live_setting_refused\{key="batch-samples"\} 0$/m);
    await waitFor('the refusal in the log', 2_000, () => (gateway.stderr().includes('live setting log-level = \\"loud\\" refused') ? true : undefined), 20);

    // unset: back to the started value, named by its source.
    const unset = await config(root, 'unset', 'log-level');
    assert.equal(unset.code, EXIT.OK, unset.stderr);
    await appliedWithin(port, 'log-level', 'info', 'flag', performance.now());
    const history = await config(root, 'history', '--output', 'json');
    const entries = JSON.parse(history.stdout) as { at: string; key: string; old: string | null; new: string | null }[];
    for (const entry of entries) assert.match(entry.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'times in RFC 3339');
    const changes = entries.map((c) => [c.key, c.old, c.new]);
    // Direct etcd writes are not in gputel's history: only what `gputel config` did.
    assert.deepEqual(changes, [['log-level', 'loud', null]]);
  });
});
