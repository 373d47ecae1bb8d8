/**
 * The --dir of `gputel cluster up|status|down|logs` through the real CLI,
 * without starting a cluster: a file given as the folder, a folder another
 * `up` or `down` works on (its lock held by a live process), and the logs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { lockFilePath } from '../../src/cli/cluster/cluster-lock.js';
import { stateFilePath, writeClusterState } from '../../src/cli/cluster/cluster-state.js';
import { processStartTime } from '../../src/cli/cluster/process-identity.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { runGputel } from '../support/gputel-process.js';
import { waitFor } from '../support/wait-for.js';

describe('gputel cluster: the folder', { timeout: 60_000 }, () => {
  const root = mkdtempSync(path.join(tmpdir(), 'gputel-cluster-folder-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('says a --dir that names a file is a file, not a folder, for every command (exit 3)', async () => {
    const file = path.join(root, 'not-a-folder');
    writeFileSync(file, 'mine');
    for (const command of ['up', 'status', 'down', 'logs']) {
      const run = runGputel(['cluster', command, '--dir', file, ...(command === 'up' ? ['--port', '0'] : [])]);
      assert.equal(await run.exited, EXIT.CONFIG, `${command}: ${run.stderr()}`);
      assert.match(run.stderr(), new RegExp(`gputel: --dir ${file} is a file, not a folder`), command);
      assert.doesNotMatch(run.stderr(), /ENOTDIR/, command);
    }
    assert.equal(readFileSync(file, 'utf8'), 'mine');
  });

  it('refuses up and down while another live process holds the folder\'s lock, naming its pid (exit 3)', async () => {
    const dir = path.join(root, 'locked');
    mkdirSync(dir);
    writeFileSync(path.join(dir, '.gputel-cluster'), '');
    writeClusterState(dir, { url: 'http://127.0.0.1:1', etcd: [], startedAt: new Date().toISOString(), processes: [] });
    const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const startTime = await waitFor('the holder started', 2_000, () => processStartTime(holder.pid!));
      writeFileSync(lockFilePath(dir), JSON.stringify({ pid: holder.pid, startTime, command: 'up' }) + '\n');
      for (const command of ['up', 'down']) {
        const run = runGputel(['cluster', command, '--dir', dir, ...(command === 'up' ? ['--port', '0'] : [])]);
        assert.equal(await run.exited, EXIT.CONFIG, `${command}: ${run.stderr()}`);
        assert.match(run.stderr(), new RegExp(`another gputel cluster up \\(pid ${holder.pid}\\) is working on ${dir}`), command);
      }
      assert.ok(readFileSync(stateFilePath(dir), 'utf8').length > 0, 'down removed nothing');
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('prints no line of a log for --lines 0, as tail -n 0 does', async () => {
    const dir = path.join(root, 'logs');
    mkdirSync(path.join(dir, 'logs'), { recursive: true });
    writeFileSync(path.join(dir, 'logs', 'gateway-1.log'), 'one\ntwo\n');
    const none = runGputel(['cluster', 'logs', '--dir', dir, '--lines', '0']);
    assert.equal(await none.exited, 0, none.stderr());
    assert.equal(none.stdout(), `==> ${path.join(dir, 'logs', 'gateway-1.log')} <==\n\n\n`);
    const one = runGputel(['cluster', 'logs', '--dir', dir, '--lines', '1']);
    assert.equal(await one.exited, 0, one.stderr());
    assert.match(one.stdout(), /<==\ntwo\n/);
  });
});
