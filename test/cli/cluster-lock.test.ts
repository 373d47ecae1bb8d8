/** One `cluster up` or `down` at a time in a folder (src/cli/cluster/cluster-lock.ts), with real processes as holders. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { acquireClusterLock, lockFilePath } from '../../src/cli/cluster/cluster-lock.js';
import { processStartTime } from '../../src/cli/cluster/process-identity.js';
import { gputelError } from '../support/gputel-error-check.js';
import { waitFor } from '../support/wait-for.js';

/** A process that sleeps until killed, with the start time that names it. */
async function sleeper(): Promise<{ child: ChildProcess; pid: number; startTime: string }> {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  const pid = child.pid!;
  const startTime = await waitFor('the sleeper started', 2_000, () => processStartTime(pid));
  return { child, pid, startTime };
}

async function ended(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

function writeLock(dir: string, holder: { pid: number; startTime: string; command: string }): void {
  writeFileSync(lockFilePath(dir), JSON.stringify(holder) + '\n');
}

describe('cluster lock', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'gputel-cluster-lock-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  let folders = 0;
  const folder = (): string => {
    const dir = path.join(root, `d${++folders}`);
    mkdirSync(dir);
    return dir;
  };

  it('takes the lock with its pid and start time, and removes it on release (twice is safe)', () => {
    const dir = folder();
    const lock = acquireClusterLock(dir, 'up');
    assert.deepEqual(JSON.parse(readFileSync(lockFilePath(dir), 'utf8')), { pid: process.pid, startTime: processStartTime(process.pid), command: 'up' });
    lock.release();
    lock.release();
    assert.deepEqual(readdirSync(dir), [], 'no lock and no temporary file left');
  });

  it('refuses while a live process holds it, naming that pid and command (BAD_CONFIG)', async () => {
    const dir = folder();
    const holder = await sleeper();
    try {
      writeLock(dir, { pid: holder.pid, startTime: holder.startTime, command: 'down' });
      assert.throws(() => acquireClusterLock(dir, 'up'), gputelError('BAD_CONFIG', new RegExp(`another gputel cluster down \\(pid ${holder.pid}\\) is working on ${dir}`)));
      assert.equal(JSON.parse(readFileSync(lockFilePath(dir), 'utf8')).pid, holder.pid, 'the holder keeps its lock');
    } finally {
      await ended(holder.child);
    }
  });

  it('refuses a second taker in the same folder while the first holds it', () => {
    const dir = folder();
    const lock = acquireClusterLock(dir, 'up');
    try {
      assert.throws(() => acquireClusterLock(dir, 'down'), gputelError('BAD_CONFIG', new RegExp(`another gputel cluster up \\(pid ${process.pid}\\)`)));
    } finally {
      lock.release();
    }
  });

  it('takes over a lock whose holder has exited', async () => {
    const dir = folder();
    const holder = await sleeper();
    await ended(holder.child);
    writeLock(dir, { pid: holder.pid, startTime: holder.startTime, command: 'up' });
    const lock = acquireClusterLock(dir, 'down');
    assert.equal(JSON.parse(readFileSync(lockFilePath(dir), 'utf8')).pid, process.pid);
    lock.release();
  });

  it('leaves a dead holder\'s lock to the taker that holds the take-over guard, and removes a guard left by a taker that died', async () => {
    const dir = folder();
    const holder = await sleeper();
    await ended(holder.child);
    const dead = { pid: holder.pid, startTime: holder.startTime, command: 'up' };
    writeLock(dir, dead);
    const guard = `${lockFilePath(dir)}.takeover`;
    // A fresh guard: another taker is at work; this one gives up after its turns, and the dead lock is not touched by it.
    writeFileSync(guard, '');
    assert.throws(() => acquireClusterLock(dir, 'down'), gputelError('BAD_CONFIG', /other gputel cluster commands keep taking it/));
    assert.deepEqual(JSON.parse(readFileSync(lockFilePath(dir), 'utf8')), dead);
    // The same guard, 10 s old: its taker died mid-way (taking over lasts milliseconds); it is removed and the lock taken.
    const old = new Date(Date.now() - 10_000);
    utimesSync(guard, old, old);
    const lock = acquireClusterLock(dir, 'down');
    assert.equal(JSON.parse(readFileSync(lockFilePath(dir), 'utf8')).pid, process.pid);
    assert.equal(existsSync(guard), false);
    lock.release();
  });

  it('takes over a lock whose pid now belongs to another process (another start time)', async () => {
    const dir = folder();
    const other = await sleeper();
    try {
      writeLock(dir, { pid: other.pid, startTime: '1', command: 'up' });
      const lock = acquireClusterLock(dir, 'up');
      assert.equal(JSON.parse(readFileSync(lockFilePath(dir), 'utf8')).pid, process.pid);
      lock.release();
      assert.ok(processStartTime(other.pid) === other.startTime, 'the other process is left alone');
    } finally {
      await ended(other.child);
    }
  });

  it('takes over a file that is not a lock', () => {
    const dir = folder();
    writeFileSync(lockFilePath(dir), '{"pid":');
    const lock = acquireClusterLock(dir, 'up');
    lock.release();
    assert.equal(existsSync(lockFilePath(dir)), false);
  });

  it('does not remove on release a lock another process has taken over since', () => {
    const dir = folder();
    const lock = acquireClusterLock(dir, 'up');
    writeLock(dir, { pid: 4242, startTime: '7', command: 'down' });
    lock.release();
    assert.equal(JSON.parse(readFileSync(lockFilePath(dir), 'utf8')).pid, 4242);
  });
});
