/**
 * D/cluster.json (src/cli/cluster/cluster-state.ts) and telling a recorded
 * process from one that reuses its pid (process-identity.ts), as `status`
 * and `down` rely on.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { readClusterState, stateFilePath, writeClusterState, type ClusterProcess, type ClusterState } from '../../src/cli/cluster/cluster-state.js';
import { isSameProcess, processStartTime } from '../../src/cli/cluster/process-identity.js';
import { stopProcess } from '../../src/cli/cluster/process-stopper.js';
import { gputelError } from '../support/gputel-error-check.js';

function sampleState(): ClusterState {
  return {
    url: 'http://127.0.0.1:8080',
    etcd: ['http://127.0.0.1:2379'],
    startedAt: '2026-12-01T10:00:00.000Z',
    processes: [{ role: 'gateway', name: 'gateway-1', pid: 4242, startTime: '123456', port: 40001, host: '127.0.0.1', command: ['/usr/bin/node', 'bin/gputel.js', 'gateway'], logFile: '/tmp/x/logs/gateway-1.log' }],
  };
}

/** A child that sleeps until signalled (one that ignores SIGTERM with `trap`). */
function sleeper(ignoreTerm = false): { pid: number; entry: ClusterProcess } {
  const child = spawn('bash', ['-c', `${ignoreTerm ? "trap '' TERM; " : ''}sleep 30 & wait`], { stdio: 'ignore' });
  const pid = child.pid!;
  return { pid, entry: { role: 'streamer', name: 'sleeper', pid, startTime: processStartTime(pid)!, port: 1, host: '127.0.0.1', command: ['/bin/bash'], logFile: '/dev/null' } };
}

/** Waits (at most 10 s: a loaded machine can take seconds to exec bash) until bash at `pid` has started its sleep. */
async function untilRunningSleep(pid: number): Promise<void> {
  for (let i = 0; i < 500 && !readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim(); i++) await new Promise((r) => setTimeout(r, 20));
}

describe('cluster state file and process identity', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gputel-cluster-state-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads back exactly what was written', () => {
    writeClusterState(dir, sampleState());
    assert.deepEqual(readClusterState(dir), sampleState());
  });

  it('says there is no cluster, and how to start one, when the folder has no state (NOT_FOUND)', () => {
    assert.throws(() => readClusterState(path.join(dir, 'none')), gputelError('NOT_FOUND', /no cluster in .*none .*none was started there, or it was stopped\): start one with `gputel cluster up --dir/));
  });

  it('reads a state file written before addresses were recorded: every process on 127.0.0.1', () => {
    const state = JSON.parse(JSON.stringify(sampleState())) as { processes: Record<string, unknown>[] };
    delete state.processes[0].host;
    writeFileSync(stateFilePath(dir), JSON.stringify(state));
    assert.equal(readClusterState(dir).processes[0].host, '127.0.0.1');
  });

  it('keeps the address a process listens on', () => {
    const state = sampleState();
    state.processes[0] = { ...state.processes[0], role: 'nginx', host: '::1' };
    writeClusterState(dir, state);
    assert.equal(readClusterState(dir).processes[0].host, '::1');
  });

  it('refuses a state file with a bad field, naming the file and the field', () => {
    const state = JSON.parse(JSON.stringify(sampleState())) as { processes: Record<string, unknown>[] };
    state.processes[0].pid = -1;
    writeFileSync(stateFilePath(dir), JSON.stringify(state));
    assert.throws(() => readClusterState(dir), gputelError('BAD_CONFIG', /cluster\.json: processes\[0\]\.pid must be a process id above 1/));
    writeFileSync(stateFilePath(dir), '{"url":');
    assert.throws(() => readClusterState(dir), gputelError('BAD_CONFIG', /cluster\.json is not JSON/));
  });

  it('writes atomically: no temporary file is left beside the state', () => {
    writeClusterState(dir, sampleState());
    assert.equal(JSON.parse(readFileSync(stateFilePath(dir), 'utf8')).url, 'http://127.0.0.1:8080');
    assert.deepEqual(readdirSync(dir).filter((name) => name.endsWith('.tmp')), []);
  });

  it('knows this process by its pid and start time, and not with another start time or program', () => {
    const startTime = processStartTime(process.pid);
    assert.match(startTime ?? '', /^\d+$/);
    assert.equal(isSameProcess(process.pid, startTime!, process.execPath), true);
    assert.equal(isSameProcess(process.pid, String(Number(startTime) + 1), process.execPath), false, 'a pid reused by another process');
    assert.equal(isSameProcess(process.pid, startTime!, '/usr/sbin/nginx'), false, 'another program');
  });

  it('stops a process with SIGTERM, and one that ignores it with SIGKILL after the grace', async () => {
    // Each sleeper is signalled once bash runs (it has started sleep): on a loaded machine a signal could
    // otherwise land before bash has even been exec'd, or before the trap is set.
    const polite = sleeper();
    await untilRunningSleep(polite.pid);
    assert.equal(await stopProcess(polite.entry, 2_000), 'stopped');
    // Gone, or a zombie until this process reaps it (which processStartTime counts as gone).
    for (let i = 0; i < 100 && processStartTime(polite.pid) !== undefined; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(processStartTime(polite.pid), undefined);
    const stubborn = sleeper(true);
    await untilRunningSleep(stubborn.pid);
    const startedAt = Date.now();
    assert.equal(await stopProcess(stubborn.entry, 300), 'killed');
    assert.ok(Date.now() - startedAt >= 300, 'the grace was given');
    // A process being killed loses its command line before it turns zombie: stopProcess already counts it gone.
    for (let i = 0; i < 100 && processStartTime(stubborn.pid) !== undefined; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(processStartTime(stubborn.pid), undefined);
  });

  it('says "not permitted" when the signal is refused (EPERM), and leaves the process running', async () => {
    const other = sleeper();
    try {
      await untilRunningSleep(other.pid);
      const refuse = (): void => {
        throw Object.assign(new Error('kill EPERM'), { code: 'EPERM' });
      };
      assert.equal(await stopProcess(other.entry, 200, refuse), 'not permitted');
      assert.equal(processStartTime(other.pid), other.entry.startTime, 'still running');
    } finally {
      await stopProcess(other.entry, 2_000);
    }
  });

  it('says "survived" when the process is still there after SIGKILL and the wait for it', async () => {
    const other = sleeper();
    try {
      await untilRunningSleep(other.pid);
      const signalled: string[] = [];
      // A process stuck in the kernel outlives SIGKILL: one that is never signalled stands for it.
      const lost = (_pid: number, name: NodeJS.Signals): void => void signalled.push(name);
      assert.equal(await stopProcess(other.entry, 100, lost), 'survived');
      assert.deepEqual(signalled, ['SIGTERM', 'SIGKILL']);
    } finally {
      await stopProcess(other.entry, 2_000);
    }
  });

  it('leaves alone a pid that now belongs to another process', async () => {
    const other = sleeper();
    try {
      assert.equal(await stopProcess({ ...other.entry, startTime: '1' }, 200), 'not running');
      assert.equal(processStartTime(other.pid), other.entry.startTime, 'the other process still runs');
    } finally {
      await stopProcess(other.entry, 2_000);
    }
  });
});
