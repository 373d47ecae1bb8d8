/**
 * `gputel cluster up` interrupted, and two of them at once, through the
 * real CLI: a first Ctrl-C stops what was started, a second leaves it
 * running and says how to stop it; two `up`s on one folder never both run.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { lockFilePath } from '../../src/cli/cluster/cluster-lock.js';
import { readClusterState, stateFilePath } from '../../src/cli/cluster/cluster-state.js';
import { processStartTime } from '../../src/cli/cluster/process-identity.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { runGputel } from '../support/gputel-process.js';
import { waitFor } from '../support/wait-for.js';
import { SMALL_CLUSTER_FLAGS, useClusterFolders } from '../support/cluster-folders.js';

describe('gputel cluster up: interrupted, and twice at once', { timeout: 120_000 }, () => {
  const { root, remember } = useClusterFolders('gputel-cluster-int-');

  it('stops what it started on a first Ctrl-C; a second exits 130 leaving them running, with the command that stops them', async () => {
    const dir = path.join(root, 'ctrl-c');
    const up = runGputel(['cluster', 'up', '--dir', dir, ...SMALL_CLUSTER_FLAGS]);
    try {
      // Interrupted once etcd runs, while the roles start.
      await waitFor('etcd healthy', 30_000, () => (/etcd-m0 healthy/.test(up.stderr()) ? true : undefined));
      up.child.kill('SIGINT');
      await waitFor('the first Ctrl-C answered', 5_000, () => (/interrupted: stopping the processes started so far/.test(up.stderr()) ? true : undefined));
      assert.match(up.stderr(), new RegExp(`Press Ctrl-C again to leave them running \\(stop them later with \`gputel cluster down --dir ${dir}\`\\)`));
      up.child.kill('SIGINT');
      assert.equal(await up.exited, 130, up.stderr());
      assert.match(up.stderr(), new RegExp(`interrupted again: the processes started are left running; stop them with \`gputel cluster down --dir ${dir}\``));
    } finally {
      await up.stop();
    }
    assert.ok(existsSync(stateFilePath(dir)), 'the state is kept, so that down can stop them');
    assert.equal(existsSync(lockFilePath(dir)), false, 'the lock is released on the way out');
    remember(dir);
    const state = readClusterState(dir);
    assert.ok(state.processes.length >= 1);
    const down = runGputel(['cluster', 'down', '--dir', dir, '--grace', '5s']);
    assert.equal(await down.exited, 0, down.stderr());
    for (const entry of state.processes) assert.notEqual(processStartTime(entry.pid), entry.startTime, `${entry.name} is gone`);
    assert.equal(existsSync(stateFilePath(dir)), false);
  });

  it('lets one of two `up`s started at once on one folder run, and refuses the other naming the first (exit 3)', async () => {
    const dir = path.join(root, 'twice');
    const first = runGputel(['cluster', 'up', '--dir', dir, ...SMALL_CLUSTER_FLAGS]);
    const second = runGputel(['cluster', 'up', '--dir', dir, ...SMALL_CLUSTER_FLAGS]);
    const codes = await Promise.all([first.exited, second.exited]);
    remember(dir);
    const [winner, loser] = codes[0] === 0 ? [first, second] : [second, first];
    assert.deepEqual([...codes].sort(), [0, EXIT.CONFIG].sort(), `${first.stderr()}\n---\n${second.stderr()}`);
    // The loser met the winner's lock, or (had the winner been done already) its running cluster.
    assert.match(loser.stderr(), new RegExp(`another gputel cluster up \\(pid ${winner.pid}\\) is working on|a cluster is running in ${dir}`));
    const state = readClusterState(dir);
    assert.equal(state.processes.filter((entry) => entry.role === 'nginx').length, 1, 'one cluster in the state');
    const down = runGputel(['cluster', 'down', '--dir', dir, '--grace', '5s']);
    assert.equal(await down.exited, 0, down.stderr());
    for (const entry of state.processes) assert.notEqual(processStartTime(entry.pid), entry.startTime, `${entry.name} is gone`);
  });
});
