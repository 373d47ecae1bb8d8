/**
 * The Streamer (source + producer) on a real etcd: one streamer per source,
 * stop aborting every wait, resuming old checkpoints, the clock-skew check,
 * and a followed file appended to and rotated, counted sample by sample.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../src/common/logger.js';
import { CsvFileSource, fileSourceId } from '../../src/ingest/csv-file-source.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore } from '../../src/kv/kv-store.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { decodeMessage } from '../../src/queue/message-codec.js';
import { QueueProducer } from '../../src/queue/queue-producer.js';
import { TelemetryBatchBuilder, type TelemetryBatch } from '../../src/queue/telemetry-batch.js';
import { decodeCheckpoint, emptyCheckpoint, encodeCheckpoint } from '../../src/queue/source-checkpoint.js';
import { Streamer, type StreamerOptions } from '../../src/streamer/streamer.js';
import { startEtcd, type EtcdProcess } from '../support/etcd-process.js';
import { CSV_HEADER as HEADER, csvLines as lines } from '../support/csv-lines.js';

const TOPIC = 'telemetry';
const logger = createLogger('silent');

describe('streamer on etcd', { timeout: 90_000 }, () => {
  let etcd: EtcdProcess;
  let kv: KvStore;
  let dir: string;
  let testNumber = 0;
  before(async () => {
    etcd = await startEtcd();
    kv = await openKvStore({ endpoints: etcd.endpoints });
    dir = mkdtempSync(join(tmpdir(), 'gputel-streamer-'));
  });
  after(async () => {
    await kv?.close();
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh key root per test. */
  function keySpace(): KeySpace {
    return new KeySpace(`/streamer-test-${++testNumber}`);
  }

  function streamer(keys: KeySpace, path: string, options: Partial<StreamerOptions> & { follow?: boolean } = {}): Streamer {
    const source = new CsvFileSource({ path, follow: options.follow, pollIntervalMs: 20, logger });
    return new Streamer(kv, keys, { source, cluster: 'default', topic: TOPIC, partitions: 2, batchSamples: 50, highWatermark: 1_000, logger, flushIntervalMs: 50, ...options });
  }

  /** Every sample value on the queue (nothing consumes it in these tests). */
  async function queuedValues(keys: KeySpace): Promise<number[]> {
    const { kvs } = await kv.range({ prefix: `${keys.topicPrefix(TOPIC)}p/` });
    const values: number[] = [];
    for (const { value } of kvs) {
      const batch = decodeMessage(value);
      for (let i = 0; i < batch.length; i++) values.push(batch.value[i]);
    }
    return values.sort((a, b) => a - b);
  }

  it('refuses a second streamer of the same source, naming the holder, and lets it run once the first stops', async () => {
    const keys = keySpace();
    const path = join(dir, 'claimed.csv');
    writeFileSync(path, `${HEADER}\n${lines(20, 1)}`);
    const first = streamer(keys, path, { follow: true });
    const firstRun = first.run();
    for (let i = 0; i < 200 && !(await kv.get(keys.sourceClaim(TOPIC, fileSourceId(path)))); i++) await sleep(20);

    const second = await streamer(keys, path, { claimWaitMs: 300 }).run();
    assert.equal(second.failureCode, 'CONFLICT');
    assert.match(second.failure ?? '', new RegExp(`source ${fileSourceId(path)} .* is already being streamed by pid ${process.pid} on `));
    assert.match(second.failure ?? '', /run one streamer per source/);
    assert.equal(second.rowsRead, 0);

    await first.stop();
    assert.equal((await firstRun).failure, undefined);
    assert.equal(await kv.get(keys.sourceClaim(TOPIC, fileSourceId(path))), undefined, 'stop released the claim');
    const third = await streamer(keys, path).run();
    assert.equal(third.failure, undefined);
    assert.deepEqual(await queuedValues(keys), Array.from({ length: 20 }, (_, i) => 100_000 + i));
  });

  it('stop aborts a backpressure wait; nothing past the last commit is written, and a rerun completes the file exactly', async () => {
    const keys = keySpace();
    const path = join(dir, 'backpressure.csv');
    writeFileSync(path, `${HEADER}\n${lines(3000, 2)}`);
    const options = { partitions: 1, highWatermark: 1, batchSamples: 40 };
    const blocked = streamer(keys, path, options);
    const run = blocked.run();
    const checkpointKey = keys.checkpoint(TOPIC, fileSourceId(path));
    for (let i = 0; i < 200 && !(await kv.get(checkpointKey)); i++) await sleep(20);
    await sleep(200); // the second flush now waits for the partition to drain
    await blocked.stop();
    const summary = await run;
    assert.equal(summary.failure, undefined);
    assert.equal(blocked.state, 'stopped');
    const committed = decodeCheckpoint((await kv.get(checkpointKey))!.value, checkpointKey);
    assert.equal(committed.rowsRead, (await queuedValues(keys)).length);
    assert.ok(committed.rowsRead < 3000);

    // A collector would drain the partition; here the test does, keeping what was taken.
    const taken = await queuedValues(keys);
    await kv.delete({ prefix: `${keys.topicPrefix(TOPIC)}p/` });
    const rest = await streamer(keys, path, { ...options, highWatermark: 1_000 }).run();
    assert.equal(rest.failure, undefined);
    assert.ok(rest.resumedFromByte > 0);
    const all = [...taken, ...(await queuedValues(keys))].sort((a, b) => a - b);
    assert.deepEqual(all, Array.from({ length: 3000 }, (_, i) => 200_000 + i));
  });

  it('stop aborts a --max-rate wait and commits the rows read so far', async () => {
    const keys = keySpace();
    const path = join(dir, 'rate.csv');
    writeFileSync(path, `${HEADER}\n${lines(3000, 3)}`);
    const slow = streamer(keys, path, { maxRowsPerSecond: 1, batchSamples: 10_000 });
    const run = slow.run();
    for (let i = 0; i < 200 && slow.state !== 'running'; i++) await sleep(10);
    await sleep(300);
    await slow.stop();
    const summary = await run;
    assert.equal(slow.state, 'stopped');
    assert.ok(summary.rowsRead > 0 && summary.rowsRead < 3000, `${summary.rowsRead} rows read before the rate limit`);
    assert.equal((await queuedValues(keys)).length, summary.goodRows);
  });

  it('resumes from a checkpoint written before source positions existed (byte offset and line only)', async () => {
    const keys = keySpace();
    const path = join(dir, 'legacy.csv');
    const head = `${HEADER}\n${lines(100, 4)}`;
    writeFileSync(path, head + lines(50, 4, 100));
    const sourceId = fileSourceId(path);
    const old = { ...emptyCheckpoint(sourceId, path), byteOffset: Buffer.byteLength(head), nextLineNumber: 102, sequence: 3, messages: 3, rowsRead: 100 };
    await kv.put(keys.checkpoint(TOPIC, sourceId), encodeCheckpoint(old));
    const summary = await streamer(keys, path).run();
    assert.equal(summary.resumedFromByte, Buffer.byteLength(head));
    assert.deepEqual(await queuedValues(keys), Array.from({ length: 50 }, (_, i) => 400_100 + i));
  });

  it('rejects rows dated more than --max-clock-skew ahead, by line, and keeps the others', async () => {
    const keys = keySpace();
    const path = join(dir, 'future.csv');
    const now = Date.now();
    writeFileSync(path, `${HEADER}\n${lines(10, 5, 0, (i) => (i === 4 ? Date.UTC(2200, 0, 1) : now - 60_000 + i))}`);
    const summary = await streamer(keys, path).run();
    assert.equal(summary.rowsRejected, 1);
    assert.equal(summary.goodRows, 9);
    assert.equal(summary.rejections[0].lineNumber, 6);
    assert.match(summary.rejections[0].reason, /timestamp 2200-01-01T00:00:00.000Z is more than 1h ahead/);
    assert.equal((await queuedValues(keys)).length, 9);
  });

  it('logs the first 100 rejected rows of a run one by one, and the rest as counts: a file of bad rows is not a log line per row', async () => {
    const keys = keySpace();
    const path = join(dir, 'all-future.csv');
    writeFileSync(path, `${HEADER}\n${lines(1_000, 6, 0, (i) => Date.UTC(2200, 0, 1) + i)}`);
    const logged: { msg: string; rows?: number }[] = [];
    const capture = pino({ level: 'warn' }, { write: (line: string) => logged.push(JSON.parse(line) as { msg: string; rows?: number }) });
    const summary = await streamer(keys, path, { logger: capture }).run();
    assert.equal(summary.rowsRejected, 1_000);
    assert.equal(logged.filter((l) => l.msg === 'row rejected').length, 100);
    const counted = logged.filter((l) => l.msg.startsWith('more rows rejected'));
    assert.ok(counted.length >= 1 && counted.length <= 5, `${counted.length} count lines`);
    assert.equal(counted.reduce((sum, l) => sum + (l.rows ?? 0), 0), 900);
  });

  it('a followed file appended to and rotated: every row is queued exactly once', async () => {
    const keys = keySpace();
    const path = join(dir, 'followed.csv');
    writeFileSync(path, `${HEADER}\n${lines(120, 6)}`);
    const follower = streamer(keys, path, { follow: true });
    const run = follower.run();
    const waitForQueued = async (count: number): Promise<void> => {
      for (let i = 0; i < 300 && (await queuedValues(keys)).length < count; i++) await sleep(20);
    };
    await waitForQueued(120);
    appendFileSync(path, lines(80, 6, 120));
    await waitForQueued(200);
    renameSync(path, `${path}.1`);
    writeFileSync(path, `${HEADER}\n${lines(60, 7)}`);
    await waitForQueued(260);
    await follower.stop();
    const summary = await run;
    assert.equal(summary.failure, undefined);
    assert.equal(summary.goodRows, 260);
    assert.deepEqual(await queuedValues(keys), [
      ...Array.from({ length: 200 }, (_, i) => 600_000 + i),
      ...Array.from({ length: 60 }, (_, i) => 700_000 + i),
    ]);
  });

  it('a source that fails shows on its readiness check with the source and the reason', async () => {
    const keys = keySpace();
    const path = join(dir, 'not-dcgm.csv');
    writeFileSync(path, 'name,value\nx,1\n');
    const failing = streamer(keys, path);
    const summary = await failing.run();
    assert.equal(failing.state, 'failed');
    assert.equal(summary.failureCode, 'BAD_INPUT');
    const check = failing.readinessCheck();
    assert.equal(check.name, `source ${path}`);
    await assert.rejects(check.check(), /not the DCGM CSV header/);
  });

  it('backpressure waits at the high watermark and goes on only under the low one', async () => {
    const keys = keySpace();
    const producer = new QueueProducer(kv, keys, { topic: TOPIC, partitions: 1, highWatermark: 4, lowWatermark: 2, sourceId: 'hysteresis', location: 'test', logger });
    await producer.resume();
    const batch = (): Map<number, TelemetryBatch> => {
      const builder = new TelemetryBatchBuilder('default', 'hysteresis', 1);
      const gpu = builder.gpuSlot('g', () => ({ hostname: 'h', uuid: 'GPU-1', gpuId: 0, device: 'nvidia0', modelName: 'm', driverVersion: '', container: '', pod: '', namespace: '', migInstanceId: '', migProfile: '' }));
      builder.add(gpu, builder.metricSlot('DCGM_FI_DEV_GPU_TEMP', ''), Date.UTC(2026, 2, 2), 1);
      return new Map([[0, builder.take()]]);
    };
    const position = { byteOffset: 0, nextLineNumber: 1, rowsRead: 0, rowsRejected: 0 };
    for (let i = 0; i < 4; i++) await producer.commit(batch(), position);
    let committed = false;
    const waiting = producer.commit(batch(), position).then(() => (committed = true));
    const queued = async (): Promise<string[]> => (await kv.range({ prefix: keys.partitionPrefix(TOPIC, 0) }, { keysOnly: true })).kvs.map((k) => k.key);
    await kv.delete({ start: (await queued())[0] }); // 3 left: under the high watermark, not under the low one
    await sleep(1_500);
    assert.equal(committed, false, 'still waiting at 3 messages');
    for (const key of (await queued()).slice(0, 2)) await kv.delete({ start: key }); // 1 left
    await waiting;
    assert.equal((await queued()).length, 2);
  });

  it('stop before run is safe, and twice', async () => {
    const s = streamer(keySpace(), join(dir, 'never.csv'));
    await s.stop();
    await s.stop();
    assert.equal(s.state, 'stopped');
  });
});
