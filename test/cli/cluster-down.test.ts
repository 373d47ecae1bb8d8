/**
 * `gputel cluster down` (src/cli/cluster/cluster-down.ts) with real
 * processes: it forgets the cluster only when every process is gone.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { clusterDown, survivalReason } from '../../src/cli/cluster/cluster-down.js';
import { lockFilePath } from '../../src/cli/cluster/cluster-lock.js';
import { stateFilePath, writeClusterState, type ClusterProcess } from '../../src/cli/cluster/cluster-state.js';
import { processStartTime } from '../../src/cli/cluster/process-identity.js';
import { prometheusTargetsPath } from '../../src/cli/cluster/prometheus-targets.js';
import { stopProcess } from '../../src/cli/cluster/process-stopper.js';
import { gputelError } from '../support/gputel-error-check.js';
import { waitFor } from '../support/wait-for.js';

/** A sleeping process recorded as a cluster's collector. */
async function sleeper(name: string): Promise<ClusterProcess> {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  child.unref();
  const pid = child.pid!;
  const startTime = await waitFor('the sleeper started', 2_000, () => processStartTime(pid));
  return { role: 'collector', name, pid, startTime, port: 1, host: '127.0.0.1', command: ['/usr/bin/sleep'], logFile: '/dev/null' };
}

describe('cluster down', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'gputel-cluster-down-'));
  const started: ClusterProcess[] = [];
  after(async () => {
    for (const entry of started) await stopProcess(entry, 1_000);
    rmSync(root, { recursive: true, force: true });
  });

  async function clusterOf(name: string, processes: number): Promise<string> {
    const dir = path.join(root, name);
    mkdirSync(path.join(dir, 'etcd', 'm0'), { recursive: true });
    const entries = await Promise.all(Array.from({ length: processes }, (_, i) => sleeper(`collector-${i + 1}`)));
    started.push(...entries);
    writeClusterState(dir, { url: 'http://127.0.0.1:1', etcd: [], startedAt: new Date().toISOString(), processes: entries });
    return dir;
  }

  it('stops every process, then removes the state, etcd data, Prometheus targets and the lock', async () => {
    const dir = await clusterOf('all-stopped', 2);
    writeFileSync(prometheusTargetsPath(dir), '[]\n');
    const { stopped, survivors } = await clusterDown(dir, 2_000);
    assert.deepEqual(stopped.map((r) => r.outcome), ['stopped', 'stopped']);
    assert.deepEqual(survivors, []);
    assert.equal(existsSync(stateFilePath(dir)), false);
    assert.equal(existsSync(path.join(dir, 'etcd')), false);
    assert.equal(existsSync(prometheusTargetsPath(dir)), false, 'a stopped cluster has no targets');
    assert.equal(existsSync(lockFilePath(dir)), false);
  });

  it('keeps the state and etcd data when a process could not be stopped, and names it with the reason', async () => {
    const dir = await clusterOf('one-refused', 2);
    const refused = started[started.length - 1];
    const refuseOne = (pid: number, signal: NodeJS.Signals): void => {
      if (pid === refused.pid) throw Object.assign(new Error('kill EPERM'), { code: 'EPERM' });
      process.kill(pid, signal);
    };
    const { stopped, survivors } = await clusterDown(dir, 2_000, refuseOne);
    assert.deepEqual(stopped.map((r) => r.outcome), ['stopped', 'not permitted']);
    assert.deepEqual(survivors.map((r) => r.process.pid), [refused.pid]);
    assert.match(survivalReason(survivors[0]), /the signal was refused \(EPERM/);
    assert.ok(existsSync(stateFilePath(dir)), 'the state is kept for a later down');
    assert.ok(existsSync(path.join(dir, 'etcd', 'm0')), "etcd's data is kept");
    assert.equal(existsSync(lockFilePath(dir)), false, 'the lock is released all the same');

    // A later down, allowed to signal, finishes the job.
    const again = await clusterDown(dir, 2_000);
    assert.deepEqual(again.stopped.map((r) => r.outcome), ['not running', 'stopped']);
    assert.equal(existsSync(stateFilePath(dir)), false);
  });

  it('says why a process survived SIGKILL', () => {
    const entry = started[0];
    assert.match(survivalReason({ process: entry, outcome: 'survived', elapsedMs: 0 }), /still running after SIGKILL/);
  });

  it('says there is no cluster to stop in a folder that does not exist (NOT_FOUND), without advice to start one', async () => {
    const nothing = path.join(root, 'nothing');
    await assert.rejects(clusterDown(nothing, 100), (error: unknown) => {
      gputelError('NOT_FOUND', /^no cluster to stop in .*nothing \(it has no cluster\.json: none was started there, or it was stopped already\)$/)(error);
      assert.doesNotMatch((error as Error).message, /cluster up/);
      return true;
    });
  });
});
