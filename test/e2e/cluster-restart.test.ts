/**
 * `gputel cluster restart` through the real CLI on a real cluster: a killed
 * collector comes back with the same port and log, a running gateway is
 * stopped and started again, the state names the new pids (so `status` and
 * `down` follow them), and an unknown name is refused before anything stops.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { readClusterState } from '../../src/cli/cluster/cluster-state.js';
import { processStartTime } from '../../src/cli/cluster/process-identity.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { SMALL_CLUSTER_FLAGS, useClusterFolders } from '../support/cluster-folders.js';
import { runGputel } from '../support/gputel-process.js';
import { waitFor } from '../support/wait-for.js';

describe('gputel cluster restart', { timeout: 120_000 }, () => {
  const folders = useClusterFolders('gputel-cluster-restart-');

  it('starts a killed collector and a running gateway again on their ports, and the state follows them', async () => {
    const dir = path.join(folders.root, 'c');
    const up = runGputel(['cluster', 'up', '--dir', dir, ...SMALL_CLUSTER_FLAGS]);
    folders.remember(dir);
    assert.equal(await up.exited, 0, up.stderr());
    folders.remember(dir);
    const before = readClusterState(dir).processes;
    const collector = before.find((entry) => entry.name === 'collector-1')!;
    const gateway = before.find((entry) => entry.name === 'gateway-1')!;

    const unknown = runGputel(['cluster', 'restart', 'collector-9', '--dir', dir]);
    assert.equal(await unknown.exited, EXIT.NOT_FOUND, unknown.stderr());
    assert.match(unknown.stderr(), /has no process named collector-9; it has: etcd-m0, collector-1, gateway-1, streamer-1, nginx/);
    assert.deepEqual(readClusterState(dir).processes, before, 'nothing changed');

    // A bad setting is refused before the running process is stopped.
    const typo = runGputel(['cluster', 'restart', 'gateway-1', '--dir', dir], { GPUTEL_RATE_LIMIT: 'lots' });
    assert.equal(await typo.exited, EXIT.CONFIG, typo.stderr());
    assert.match(typo.stderr(), /GPUTEL_RATE_LIMIT/);
    assert.deepEqual(readClusterState(dir).processes, before, 'nothing stopped or started');
    assert.equal(processStartTime(gateway.pid), gateway.startTime, 'the gateway still runs');

    process.kill(collector.pid, 'SIGKILL');
    await waitFor('the killed collector gone', 5_000, () => (processStartTime(collector.pid) === undefined ? true : undefined));
    const restart = runGputel(['cluster', 'restart', 'collector-1', 'gateway-1', '--dir', dir, '--grace', '5s']);
    assert.equal(await restart.exited, 0, restart.stderr());
    assert.match(restart.stdout(), new RegExp(`collector-1: restarted \\(pid ${collector.pid} → \\d+, port ${collector.port}\\)\\ngateway-1: restarted \\(pid ${gateway.pid} → \\d+, port ${gateway.port}\\)\\n`));
    assert.match(restart.stderr(), /collector-1 \(pid \d+\): not running/);
    assert.match(restart.stderr(), /gateway-1 \(pid \d+\): stopped/);
    folders.remember(dir);

    const after = readClusterState(dir).processes;
    assert.deepEqual(after.map((entry) => entry.name), before.map((entry) => entry.name), 'same processes, same order');
    for (const name of ['collector-1', 'gateway-1']) {
      const old = before.find((entry) => entry.name === name)!;
      const fresh = after.find((entry) => entry.name === name)!;
      assert.notEqual(fresh.pid, old.pid, name);
      assert.equal(processStartTime(old.pid) === old.startTime, false, `${name}'s old process is gone`);
      assert.deepEqual({ ...fresh, pid: 0, startTime: '' }, { ...old, pid: 0, startTime: '' }, `${name} keeps its command, port and log`);
      assert.match(readFileSync(fresh.logFile, 'utf8'), /--- \S+ gputel cluster restart: /, `${name}'s log says it was restarted`);
    }

    const status = runGputel(['cluster', 'status', '--dir', dir, '--output', 'json']);
    assert.equal(await status.exited, 0, status.stderr());
    const healthy = (JSON.parse(status.stdout()) as { processes: { pid: number; healthy: boolean }[] }).processes;
    assert.ok(healthy.every((entry) => entry.healthy), status.stdout());
    assert.deepEqual(healthy.map((entry) => entry.pid), after.map((entry) => entry.pid));

    const down = runGputel(['cluster', 'down', '--dir', dir, '--grace', '5s']);
    assert.equal(await down.exited, 0, down.stderr());
    for (const entry of after) assert.notEqual(processStartTime(entry.pid), entry.startTime, `${entry.name} stopped by down`);
  });
});
