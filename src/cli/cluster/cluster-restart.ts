/**
 * `gputel cluster restart NAME…`: starts named processes of a local cluster
 * again, each with the command, port, address and log file `up` gave it, and
 * waits until they are healthy. One that still runs is stopped first
 * (SIGTERM, SIGKILL after the grace). For a role that crashed, or to roll
 * one gateway at a time; the soak bench (bench/soak.ts) restarts the
 * collectors and a gateway it kills this way. The state file is updated
 * under D/cluster.lock, so `status` and `down` name the new pids.
 */
import { loadConfig } from '../../common/config.js';
import { GputelError } from '../../common/gputel-error.js';
import { acquireClusterLock } from './cluster-lock.js';
import { readClusterState, writeClusterState, type ClusterProcess } from './cluster-state.js';
import { launchDetached, waitHealthy } from './cluster-up.js';
import { SURVIVING_OUTCOMES, stopProcess, type StopOutcome } from './process-stopper.js';
import { refuseTlsConfigFile, roleEnvironment } from './role-environment.js';

export interface ClusterRestartOptions {
  /** How long a running process has to stop after SIGTERM before SIGKILL. */
  graceMs: number;
  /** How long each restarted process has to become healthy. */
  readyTimeoutMs: number;
  /** Environment of the restarted roles (as `up`'s: every GPUTEL_* but GPUTEL_TLS_*). */
  env?: NodeJS.ProcessEnv;
}

export interface RestartedProcess {
  /** The process as it runs now. */
  process: ClusterProcess;
  /** The pid it had before. */
  previousPid: number;
  /** What stopping the old one did: 'not running' for one that had died. */
  stopped: StopOutcome;
}

/**
 * Restarts the processes `names` of the cluster in `dir`, one after the
 * other, in the order given. Throws NOT_FOUND for a name the cluster does
 * not have (before anything is stopped), BAD_CONFIG when another `up`,
 * `down` or `restart` works on the folder, CLUSTER_START_FAILED when one
 * survives its stop or is not healthy in time (those before it stay
 * restarted, and the state names them).
 */
export async function clusterRestart(dir: string, names: readonly string[], options: ClusterRestartOptions, report: (line: string) => void = () => undefined): Promise<RestartedProcess[]> {
  if (names.length === 0) throw new GputelError('BAD_CONFIG', 'name the processes to restart (collector-1, gateway-2, …; `gputel cluster status` lists them)');
  const env = roleEnvironment(options.env ?? process.env);
  refuseTlsConfigFile(env);
  // The settings the restarted roles will read, checked before anything stops: a bad GPUTEL_* value is refused while
  // the process it would replace still runs (a restart must not turn a typo into an outage).
  loadConfig({ env });
  // Read first for its own error (no cluster there: NOT_FOUND), not to be locked in a folder that is not a cluster's.
  readClusterState(dir);
  const lock = acquireClusterLock(dir, 'restart');
  try {
    // Checked under the lock: a `down` and `up` with fewer roles in between would otherwise leave a name without its process.
    const known = readClusterState(dir).processes.map((entry) => entry.name);
    const unknown = names.filter((name) => !known.includes(name));
    if (unknown.length > 0) throw new GputelError('NOT_FOUND', `the cluster in ${dir} has no process named ${unknown.join(', ')}; it has: ${known.join(', ')}`);
    const restarted: RestartedProcess[] = [];
    for (const name of new Set(names)) {
      // Read again under the lock, and after each restart: the state written is always the newest.
      const state = readClusterState(dir);
      const index = state.processes.findIndex((entry) => entry.name === name);
      const old = state.processes[index];
      const stopped = await stopProcess(old, options.graceMs);
      if (SURVIVING_OUTCOMES.includes(stopped)) {
        throw new GputelError('CLUSTER_START_FAILED', `cannot restart ${name}: pid ${old.pid} still runs (${stopped}); nothing was started for it`);
      }
      report(`${name} (pid ${old.pid}): ${stopped}`);
      const fresh = launchDetached(old.role, old.name, { port: old.port, host: old.host }, old.command, old.logFile, env, 'restart');
      state.processes[index] = fresh;
      writeClusterState(dir, state);
      await waitHealthy([fresh], options.readyTimeoutMs, report, undefined, 'restart');
      restarted.push({ process: fresh, previousPid: old.pid, stopped });
    }
    return restarted;
  } finally {
    lock.release();
  }
}
