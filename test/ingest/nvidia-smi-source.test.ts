import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GputelError } from '../../src/common/gputel-error.js';
import { metricsRegistry } from '../../src/common/metrics.js';
import type { DcgmRow, RejectedRow } from '../../src/ingest/dcgm-row.js';
import { NVIDIA_SMI_METRICS } from '../../src/ingest/nvidia-smi-line-parser.js';
import { NvidiaSmiSource } from '../../src/ingest/nvidia-smi-source.js';

const FAKE = fileURLToPath(new URL('../../../test/fixtures/fake-nvidia-smi.mjs', import.meta.url));
const WRAPPER = fileURLToPath(new URL('../../../test/fixtures/fake-nvidia-smi-wrapper.sh', import.meta.url));
const START_MS = Date.UTC(2026, 2, 2, 9, 15, 0, 123);
const INTERVAL_MS = 100;
const GPUS = 3;

interface FakeState {
  starts: number;
  tick: number;
  pids: number[];
  startedAt: number[];
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether the process `pid` (or, negative, any process of group -pid) is still there after up to 10 s.
 * A process whose parent died first is a zombie until init reaps it (here ~2 s after its end).
 */
async function stillThere(pid: number): Promise<boolean> {
  for (let i = 0; i < 500 && isAlive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  return isAlive(pid);
}

function readPids(path: string): number[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '').map(Number);
}

async function restartsCounted(): Promise<number> {
  const metric = (await metricsRegistry.getMetricsAsJSON()).find((m) => m.name === 'gputel_nvidia_smi_restarts_total');
  return (metric?.values[0]?.value as number | undefined) ?? 0;
}

/** The rows the stand-in's line for GPU i at tick k must give (its formulas, see the fixture). */
function expectedRows(k: number, hostname: string): DcgmRow[] {
  const rows: DcgmRow[] = [];
  for (let i = 0; i < GPUS; i++) {
    const util = (7 * k + 13 * i) % 101;
    const used = 512 + 1000 * k;
    const values: Array<number | undefined> = [
      143771,
      used,
      143771 - used - 619,
      util,
      i === 2 ? undefined : Math.floor(util / 4),
      33 + (k % 5) + i,
      i === 1 ? undefined : Number((118.42 + k + 10 * i).toFixed(2)),
      i === 2 ? undefined : 1980,
      3201,
    ];
    NVIDIA_SMI_METRICS.forEach(([field, metric], m) => {
      if (values[m] === undefined) return;
      rows.push({
        lineNumber: k * GPUS + i + 1,
        timestampMs: START_MS + k * INTERVAL_MS,
        metricName: metric,
        sourceMetricName: field,
        gpuId: i,
        device: `nvidia${i}`,
        uuid: `GPU-${String(i).padStart(8, '0')}-1111-2222-3333-444455556666`,
        modelName: 'NVIDIA H200',
        hostname,
        container: '',
        pod: '',
        namespace: '',
        value: values[m],
        labelsRaw: `DCGM_FI_DRIVER_VERSION=""550.54.15"",Hostname=""${hostname}"",UUID=""GPU-${String(i).padStart(8, '0')}-1111-2222-3333-444455556666"",__name__=""${metric}"",device=""nvidia${i}"",gpu=""${i}"",modelName=""NVIDIA H200""`,
      });
    });
  }
  return rows;
}

function withFakeEnvironment<T>(env: Record<string, string>, run: (statePath: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'gputel-nvidia-smi-'));
  const statePath = join(dir, 'state.json');
  const saved = { ...process.env };
  Object.assign(process.env, { FAKE_SMI_STATE: statePath, FAKE_SMI_GPUS: String(GPUS), FAKE_SMI_START_MS: String(START_MS) }, env);
  return run(statePath).finally(() => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
    rmSync(dir, { recursive: true, force: true });
  });
}

test('the stand-in nvidia-smi: every field of every GPU mapped, [N/A] absent, a child that dies restarted, and killed on abort', async () => {
  // A zone far from UTC: the child's local times are read right only because the source runs it with TZ=UTC.
  await withFakeEnvironment({ FAKE_SMI_EXIT_AFTER: '2', TZ: 'Asia/Kolkata' }, async (statePath) => {
    const restartsBefore = await restartsCounted();
    const source = new NvidiaSmiSource({ intervalMs: INTERVAL_MS, path: FAKE, hostname: 'gpu-box-1', restartInitialMs: 50, restartMaxMs: 200, killGraceMs: 1_000 });
    assert.equal(source.resumable, false);
    assert.equal(source.id, 'nvidia-smi-gpu-box-1');
    const controller = new AbortController();
    const rows: DcgmRow[] = [];
    const rejects: RejectedRow[] = [];
    const positions: unknown[] = [];
    const lastTick = 4;
    for await (const position of source.read(null, { row: (r) => rows.push({ ...r }), reject: (r) => rejects.push(r) }, controller.signal)) {
      positions.push(position);
      if (rows.some((r) => r.timestampMs === START_MS + lastTick * INTERVAL_MS && r.gpuId === GPUS - 1)) controller.abort();
    }
    const expected: DcgmRow[] = [];
    for (let k = 0; k <= lastTick; k++) expected.push(...expectedRows(k, 'gpu-box-1'));
    assert.deepEqual(rows.slice(0, expected.length), expected);
    assert.deepEqual(rejects, []);
    assert.deepEqual(positions.at(-1), { lastTimestampMs: Math.max(...rows.map((r) => r.timestampMs)) });

    const state = JSON.parse(readFileSync(statePath, 'utf8')) as FakeState;
    assert.equal(state.starts, 2, 'the child that exited after 2 ticks was started again');
    assert.equal((await restartsCounted()) - restartsBefore, 1);
    for (const pid of state.pids) assert.equal(isAlive(pid), false, `child ${pid} is gone`);
  });
});

test('a child that ignores SIGTERM is killed with SIGKILL after the grace period', async () => {
  await withFakeEnvironment({ FAKE_SMI_IGNORE_TERM: '1' }, async (statePath) => {
    const source = new NvidiaSmiSource({ intervalMs: INTERVAL_MS, path: FAKE, hostname: 'h', killGraceMs: 200 });
    const controller = new AbortController();
    let rows = 0;
    for await (const _ of source.read(null, { row: () => rows++, reject: () => assert.fail('no rejects') }, controller.signal)) controller.abort();
    assert.equal(rows, expectedRows(0, 'h').length);
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as FakeState;
    assert.equal(state.starts, 1);
    assert.equal(isAlive(state.pids[0]), false);
  });
});

test('a child that keeps failing is restarted with a doubling delay, capped', async () => {
  await withFakeEnvironment({ FAKE_SMI_FAIL_ALWAYS: '1' }, async (statePath) => {
    const source = new NvidiaSmiSource({ intervalMs: INTERVAL_MS, path: FAKE, hostname: 'h', restartInitialMs: 40, restartMaxMs: 160 });
    const controller = new AbortController();
    const done = (async () => {
      for await (const _ of source.read(null, { row: () => assert.fail('no rows'), reject: () => assert.fail('no rejects') }, controller.signal)) assert.fail('no lines, no positions');
    })();
    // Starts at 0, then after ≥ 40, 80, 160, 160 ms of backoff (plus each start's own time).
    for (let i = 0; i < 400; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      try {
        if ((JSON.parse(readFileSync(statePath, 'utf8')) as FakeState).starts >= 5) break;
      } catch {
        // not written yet
      }
    }
    controller.abort();
    await done;
    const { startedAt } = JSON.parse(readFileSync(statePath, 'utf8')) as FakeState;
    assert.ok(startedAt.length >= 5);
    const gaps = startedAt.slice(1, 5).map((t, i) => t - startedAt[i]);
    [40, 80, 160, 160].forEach((backoff, i) => assert.ok(gaps[i] >= backoff, `restart ${i + 1} came ${gaps[i]} ms after the last start, before its ${backoff} ms backoff`));
  });
});

test('stopping the iteration early (break) also ends the child', async () => {
  await withFakeEnvironment({}, async (statePath) => {
    const source = new NvidiaSmiSource({ intervalMs: INTERVAL_MS, path: FAKE, hostname: 'h' });
    for await (const _ of source.read(null, { row: () => undefined, reject: () => undefined }, new AbortController().signal)) break;
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as FakeState;
    assert.equal(isAlive(state.pids[0]), false);
  });
});

test('an nvidia-smi that cannot be found stops the source with a clear error', async () => {
  const source = new NvidiaSmiSource({ intervalMs: 1000, path: '/nonexistent/nvidia-smi', hostname: 'h' });
  await assert.rejects(
    async () => {
      for await (const _ of source.read(null, { row: () => undefined, reject: () => undefined }, new AbortController().signal)) assert.fail('no positions');
    },
    (error: unknown) => error instanceof GputelError && error.code === 'BAD_CONFIG' && /cannot run \/nonexistent\/nvidia-smi: no such file.*--nvidia-smi-path/.test(error.message),
  );
});

test('the hostname defaults to this machine\'s', async () => {
  const { hostname } = await import('node:os');
  assert.equal(new NvidiaSmiSource({ intervalMs: 1000 }).id, `nvidia-smi-${hostname()}`);
});

// A wrapper that does not exec keeps the real nvidia-smi as its child, holding the pipe: signalling
// only the wrapper, and waiting for the pipe to close, hung stop and left nvidia-smi running.
test('a wrapper script around nvidia-smi: stop ends the whole process group', { timeout: 30_000 }, async () => {
  await withFakeEnvironment({ FAKE_SMI_NODE: process.execPath }, async (statePath) => {
    const source = new NvidiaSmiSource({ intervalMs: INTERVAL_MS, path: WRAPPER, hostname: 'h', killGraceMs: 300 });
    const controller = new AbortController();
    let rows = 0;
    for await (const _ of source.read(null, { row: () => rows++, reject: () => assert.fail('no rejects') }, controller.signal)) {
      if (rows >= 2 * expectedRows(0, 'h').length) controller.abort();
    }
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as FakeState;
    const wrappers = readPids(`${statePath}.wrappers`);
    assert.equal(state.starts, 1);
    assert.equal(wrappers.length, 1);
    assert.equal(await stillThere(state.pids[0]), false, 'the nvidia-smi under the wrapper is gone');
    assert.equal(await stillThere(-wrappers[0]), false, 'no process of the group is left');
  });
});

test('a wrapper that dies is noticed: the rest of its group is ended and it is started again', { timeout: 30_000 }, async () => {
  await withFakeEnvironment({ FAKE_SMI_NODE: process.execPath }, async (statePath) => {
    const restartsBefore = await restartsCounted();
    const source = new NvidiaSmiSource({ intervalMs: INTERVAL_MS, path: WRAPPER, hostname: 'h', restartInitialMs: 50, killGraceMs: 300 });
    const controller = new AbortController();
    let killedWrapper: number | undefined;
    let rowsAfterRestart = 0;
    let restarted = false;
    const sink = { row: () => (restarted ? rowsAfterRestart++ : 0), reject: () => assert.fail('no rejects') };
    for await (const _ of source.read(null, sink, controller.signal)) {
      if (killedWrapper === undefined) {
        killedWrapper = readPids(`${statePath}.wrappers`)[0];
        process.kill(killedWrapper, 'SIGKILL');
      }
      // A restart happens only once the old run is over: every row from here on is the new child's.
      restarted ||= (JSON.parse(readFileSync(statePath, 'utf8')) as FakeState).starts >= 2;
      if (rowsAfterRestart > 0) controller.abort();
    }
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as FakeState;
    const wrappers = readPids(`${statePath}.wrappers`);
    assert.equal(state.starts, 2, 'started again after the wrapper died');
    assert.equal(wrappers.length, 2);
    assert.equal((await restartsCounted()) - restartsBefore, 1);
    for (const pid of state.pids) assert.equal(await stillThere(pid), false, `nvidia-smi ${pid} is gone`);
    for (const pid of wrappers) assert.equal(await stillThere(-pid), false, `no process of group ${pid} is left`);
  });
});

test('a process outside the group that holds the pipe open does not hang stop', { timeout: 30_000 }, async () => {
  await withFakeEnvironment({ FAKE_SMI_NODE: process.execPath, FAKE_SMI_WRAPPER_ESCAPE: '1' }, async (statePath) => {
    const source = new NvidiaSmiSource({ intervalMs: INTERVAL_MS, path: WRAPPER, hostname: 'h', killGraceMs: 200 });
    const controller = new AbortController();
    let escaped: number | undefined;
    try {
      for await (const _ of source.read(null, { row: () => undefined, reject: () => assert.fail('no rejects') }, controller.signal)) {
        escaped = readPids(`${statePath}.escaped`)[0];
        controller.abort();
      }
      const state = JSON.parse(readFileSync(statePath, 'utf8')) as FakeState;
      assert.equal(await stillThere(state.pids[0]), false, 'the nvidia-smi in the group is gone');
      assert.ok(escaped !== undefined && isAlive(escaped), 'the escaped process was left (no signal of ours reaches it)');
    } finally {
      // The fixture's `sleep`, started by this test through the wrapper.
      if (escaped !== undefined && isAlive(escaped)) process.kill(escaped, 'SIGKILL');
    }
  });
});

// Lines were read from the pipe as fast as nvidia-smi wrote them, whether or not the consumer took
// them: a store down for a day grew the source's memory without bound.
test('lines wait for a slow consumer only up to maxPendingLines; then the child is held back', { timeout: 30_000 }, async () => {
  await withFakeEnvironment({ FAKE_SMI_GPUS: '64' }, async () => {
    const maxPendingLines = 200;
    const source = new NvidiaSmiSource({ intervalMs: 1, path: FAKE, hostname: 'h', maxPendingLines });
    let rows = 0;
    const rowsPerBatch: number[] = [];
    for await (const _ of source.read(null, { row: () => rows++, reject: () => assert.fail('no rejects') }, new AbortController().signal)) {
      rowsPerBatch.push(rows);
      rows = 0;
      if (rowsPerBatch.length === 3) break;
      // A consumer that is behind: 64 GPUs × one line per ms pile up meanwhile (~30k lines).
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    // A line gives at most 9 rows; one read from the pipe (64 KiB, ~260 lines) can land past the limit.
    const most = 9 * (maxPendingLines + 1_000);
    for (const batch of rowsPerBatch.slice(1)) assert.ok(batch <= most, `${batch} rows waited for the consumer, more than ${most}`);
  });
});
