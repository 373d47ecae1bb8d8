/**
 * D/cluster.lock: one `gputel cluster up` or `down` at a time in a folder.
 * Two at once would each read the state, start or stop processes, and
 * overwrite each other's state file: a cluster half-started with nothing
 * recording it, or etcd's data removed under a running member.
 */
import { linkSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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
    // Bounded: each round either takes the lock, meets a live holder, or removes a dead one; only racing takers loop.
    for (let attempt = 0; attempt < 10; attempt++) {
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
 * Removes a dead holder's lock. It is renamed away first and checked: two
 * takers may both judge the same lock dead, and the later one must not
 * remove the lock the earlier one has taken since; such a lock is put back.
 */
function takeOver(file: string, dead: LockHolder | undefined): void {
  const aside = `${file}.${process.pid}.stale`;
  try {
    renameSync(file, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw lockError(file, error);
  }
  const moved = readHolder(aside);
  const isTheDeadOne = dead === undefined ? moved === undefined : moved !== undefined && moved !== 'gone' && moved.pid === dead.pid && moved.startTime === dead.startTime;
  if (!isTheDeadOne) {
    try {
      linkSync(aside, file);
    } catch {
      // a third taker holds it now: it goes on, and the next round here reads its lock
    }
  }
  rmSync(aside, { force: true });
}

function lockError(file: string, error: unknown): GputelError {
  return new GputelError('BAD_CONFIG', `cannot take ${file}: ${(error as Error).message}; check that the folder is writable`, { cause: error });
}
