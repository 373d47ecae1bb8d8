/**
 * `gputel cluster down`: stops every process `up` started and forgets the
 * cluster (its state, etcd's data, nginx's run folder), keeping the logs;
 * unless a process could not be stopped, when everything is kept so that
 * `status` still shows it and a later `down` can try again.
 */
import { existsSync, rmSync } from 'node:fs';
import { acquireClusterLock, type ClusterLock } from './cluster-lock.js';
import { readClusterState, stateFilePath } from './cluster-state.js';
import { clusterPaths } from './cluster-up.js';
import { SURVIVING_OUTCOMES, stopClusterProcesses, type Signaller, type StoppedProcess } from './process-stopper.js';

export interface ClusterDownResult {
  /** Every process of the state, with what became of it. */
  stopped: StoppedProcess[];
  /** Those still running ('not permitted', 'survived'): when there is one, nothing was removed. */
  survivors: StoppedProcess[];
}

/**
 * Stops the cluster in `dir` (taking D/cluster.lock while it works).
 * Throws NOT_FOUND when no cluster was started there, BAD_CONFIG when
 * another `up` or `down` works on it. `kill` is for tests.
 */
export async function clusterDown(dir: string, graceMs: number, kill?: Signaller): Promise<ClusterDownResult> {
  // No cluster (no folder, or no state in it): nothing to lock, and reading the state says so (NOT_FOUND), rather than
  // a lock that cannot be written in a folder that is not a cluster's.
  const lock: ClusterLock | undefined = existsSync(stateFilePath(dir)) ? acquireClusterLock(dir, 'down') : undefined;
  try {
    const state = readClusterState(dir);
    const stopped = await stopClusterProcesses(state.processes, graceMs, kill);
    const survivors = stopped.filter((result) => SURVIVING_OUTCOMES.includes(result.outcome));
    if (survivors.length === 0) {
      const paths = clusterPaths(dir);
      rmSync(stateFilePath(dir), { force: true });
      rmSync(paths.etcdData, { recursive: true, force: true });
      rmSync(paths.nginxRun, { recursive: true, force: true });
    }
    return { stopped, survivors };
  } finally {
    lock?.release();
  }
}

/** Why a process still runs, for people, with what to do. */
export function survivalReason(result: StoppedProcess): string {
  return result.outcome === 'not permitted'
    ? 'the signal was refused (EPERM: it runs as another user; run down as that user or root)'
    : 'still running after SIGKILL (stuck in the kernel, e.g. on a hung disk or mount; `cat /proc/PID/stack` shows where)';
}
