/**
 * `gputel cluster down`: stops every process `up` started and forgets the
 * cluster (its state, etcd's data, nginx's run folder), keeping the logs;
 * unless a process could not be stopped, when everything is kept so that
 * `status` still shows it and a later `down` can try again.
 */
import { existsSync, rmSync } from 'node:fs';
import { acquireClusterLock, type ClusterLock } from './cluster-lock.js';
import { GputelError } from '../../common/gputel-error.js';
import { STATE_FILE, readClusterState, stateFilePath } from './cluster-state.js';
import { clusterPaths } from './cluster-up.js';
import { removePrometheusTargets } from './prometheus-targets.js';
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
  // No cluster (no folder, or no state in it): nothing to lock (a lock could not be written in a folder that is not a
  // cluster's) and nothing to stop, which is what down says, not how to start one.
  if (!existsSync(stateFilePath(dir))) {
    throw new GputelError('NOT_FOUND', `no cluster to stop in ${dir} (it has no ${STATE_FILE}: none was started there, or it was stopped already)`);
  }
  const lock: ClusterLock = acquireClusterLock(dir, 'down');
  try {
    const state = readClusterState(dir);
    const stopped = await stopClusterProcesses(state.processes, graceMs, kill);
    const survivors = stopped.filter((result) => SURVIVING_OUTCOMES.includes(result.outcome));
    if (survivors.length === 0) {
      const paths = clusterPaths(dir);
      rmSync(stateFilePath(dir), { force: true });
      rmSync(paths.etcdData, { recursive: true, force: true });
      rmSync(paths.nginxRun, { recursive: true, force: true });
      removePrometheusTargets(dir);
    }
    return { stopped, survivors };
  } finally {
    lock.release();
  }
}

/** Why a process still runs, for people, with what to do. */
export function survivalReason(result: StoppedProcess): string {
  return result.outcome === 'not permitted'
    ? 'the signal was refused (EPERM: it runs as another user; run down as that user or root)'
    : 'still running after SIGKILL (stuck in the kernel, e.g. on a hung disk or mount; `cat /proc/PID/stack` shows where)';
}
