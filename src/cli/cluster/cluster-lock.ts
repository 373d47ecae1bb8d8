/**
 * D/cluster.lock: one `gputel cluster up` or `down` at a time in a folder.
 * Two at once would each read the state, start or stop processes, and
 * overwrite each other's state file: a cluster half-started with nothing
 * recording it, or etcd's data removed under a running member.
 */
import { closeSync, linkSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GputelError } from '../../common/gputel-error.js';
import { processStartTime } from './process-identity.js';

export const LOCK_FILE = 'cluster.lock';

/** What the lock file holds: who holds it, named as process-identity.ts names a process. */
interface LockHolder {
  pid: number;
  startTime: string;
  /** `up` or `down`, for the message another one gets. */
  command: string;
}

export interface ClusterLock {
  /** Removes the lock file if it is still this holder's. Safe to call twice. */
  release(): void;
}

export function lockFilePath(dir: string): string {
  return path.join(dir, LOCK_FILE);
}

/**
 * Takes D/cluster.lock for `command` (the folder must exist). The file is
 * written whole beside it and hard-linked into place, which fails when one
 * exists, so no reader sees half a lock. A lock whose holder is gone (that
 * pid no longer runs with that start time, or the file is not a lock this
 * code wrote) is taken over. Throws BAD_CONFIG naming the holder's pid when
 * it is alive. The lock is released when this process exits, whatever way.
 */
export function acquireClusterLock(dir: string, command: string): ClusterLock {
  const file = lockFilePath(dir);
  const me: LockHolder = { pid: process.pid, startTime: processStartTime(process.pid) ?? '0', command };
  const mine = JSON.stringify(me) + '\n';
  const candidate = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(candidate, mine);
  } catch (error) {
    throw lockError(file, error);
  }
  try {
    // Bounded: each round either takes the lock, meets a live holder, or removes a dead one; only racing takers loop
    // (waiting TAKEOVER_WAIT_MS while another takes over), so 100 rounds are at least 2 s of others' turns.
    for (let attempt = 0; attempt < 100; attempt++) {
      try {
        linkSync(candidate, file);
        return holding(file, mine);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw lockError(file, error);
      }
      const holder = readHolder(file);
      if (holder === 'gone') continue;
      if (holder !== undefined && processStartTime(holder.pid) === holder.startTime) {
        throw new GputelError(
          'BAD_CONFIG',
          `another gputel cluster ${holder.command} (pid ${holder.pid}) is working on ${dir} (it holds ${file}): wait until it ends, or stop it; then run this again`,
        );
      }
      takeOver(file, holder);
    }
    throw new GputelError('BAD_CONFIG', `cannot take ${file}: other gputel cluster commands keep taking it; run this again when they are done`);
  } finally {
    rmSync(candidate, { force: true });
  }
}

function holding(file: string, mine: string): ClusterLock {
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    process.off('exit', release);
    try {
      // Another process may have taken it over (it judged this one gone): leave its lock alone.
      if (readFileSync(file, 'utf8') === mine) rmSync(file, { force: true });
    } catch {
      // gone already
    }
  };
  // process.exit (a second Ctrl-C in `up`) runs no finally blocks, but does run exit listeners.
  process.on('exit', release);
  return { release };
}

/** The lock's holder; undefined when the file is not a lock (left half-written by an older gputel, or edited); 'gone' when the file went meanwhile. */
function readHolder(file: string): LockHolder | undefined | 'gone' {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw lockError(file, error);
  }
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    if (Number.isSafeInteger(value.pid) && typeof value.startTime === 'string' && typeof value.command === 'string') return value as LockHolder;
  } catch {
    // not a lock: taken over
  }
  return undefined;
}

/**
 * A lock of the take-over itself, D/cluster.lock.takeover: only its holder
 * may remove a dead holder's lock. Without it two takers could both judge
 * the same lock dead, and the later one remove the lock the earlier one has
 * taken since; with it, the lock file can change under the holder only by
 * a new lock linked in where there was none, which it sees (the re-read
 * below) and leaves alone. Never a moment without a lock file while one is
 * held. A guard left by a taker that died is older than TAKEOVER_STALE_MS
 * (taking over lasts milliseconds) and is removed.
 */
const TAKEOVER_STALE_MS = 5_000;

/** Removes `dead`'s lock if it is still the file there; returns without doing anything while another taker works. */
function takeOver(file: string, dead: LockHolder | undefined): void {
  const guard = `${file}.takeover`;
  let fd: number;
  try {
    fd = openSync(guard, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw lockError(file, error);
    const age = guardAge(guard);
    if (age !== undefined && age > TAKEOVER_STALE_MS) rmSync(guard, { force: true });
    else pause(TAKEOVER_WAIT_MS);
    return;
  }
  try {
    const now = readHolder(file);
    const stillDead = now === 'gone' ? false : dead === undefined ? now === undefined : now !== undefined && now.pid === dead.pid && now.startTime === dead.startTime;
    if (stillDead) rmSync(file, { force: true });
  } finally {
    closeSync(fd);
    rmSync(guard, { force: true });
  }
}

const TAKEOVER_WAIT_MS = 20;

/** Milliseconds since the guard was made; undefined when it went meanwhile. */
function guardAge(guard: string): number | undefined {
  try {
    return Date.now() - statSync(guard).mtimeMs;
  } catch {
    return undefined;
  }
}

/** A short synchronous wait (the lock is taken before anything else runs, in a CLI command). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function lockError(file: string, error: unknown): GputelError {
  return new GputelError('BAD_CONFIG', `cannot take ${file}: ${(error as Error).message}; check that the folder is writable`, { cause: error });
}
