/**
 * Stopping the processes of the local cluster: only those `up` started,
 * each checked by pid and start time before it is signalled (a pid reused
 * by another process is left alone), SIGTERM first, SIGKILL after a grace.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterProcess, ClusterRole } from './cluster-state.js';
import { isSameProcess } from './process-identity.js';

/**
 * 'not permitted': a signal was refused (EPERM: another user's process);
 * 'survived': still alive after SIGKILL and a bounded wait (a process stuck
 * in the kernel). Either way the process still runs.
 */
export type StopOutcome = 'stopped' | 'killed' | 'not running' | 'not permitted' | 'survived';

/** The outcomes after which the process still runs: its state must be kept so that a later `down` can stop it. */
export const SURVIVING_OUTCOMES: readonly StopOutcome[] = ['not permitted', 'survived'];

/** Sends a signal, as process.kill does (throws EPERM, ESRCH); tests pass one that refuses or does nothing. */
export type Signaller = (pid: number, signal: NodeJS.Signals) => void;

export interface StoppedProcess {
  process: ClusterProcess;
  outcome: StopOutcome;
  /** From the first signal to the process gone. */
  elapsedMs: number;
}

const POLL_MS = 50;

/**
 * The order of stopping: first what takes input (the load balancer, the
 * gateways, the streamers, which flush and commit), then the collectors,
 * and etcd last, since every role needs it to stop cleanly. The etcd members
 * stop one at a time: a leader told to stop hands its leadership to a live
 * peer first, which hangs (until SIGKILL) when every peer is stopping too.
 */
const STOP_WAVES: readonly { roles: readonly ClusterRole[]; oneByOne: boolean }[] = [
  { roles: ['nginx', 'gateway', 'streamer'], oneByOne: false },
  { roles: ['collector'], oneByOne: false },
  { roles: ['etcd'], oneByOne: true },
];

function isRunning(entry: ClusterProcess): boolean {
  return isSameProcess(entry.pid, entry.startTime, entry.command[0]);
}

/** How long a process has to be gone after SIGKILL before it counts as 'survived'. */
const KILL_WAIT_MS = 5_000;

/**
 * Stops one process: SIGTERM, then SIGKILL once `graceMs` have passed;
 * resolves when it is gone, or with 'not permitted' / 'survived' when it
 * still runs. Never throws.
 */
export async function stopProcess(entry: ClusterProcess, graceMs: number, kill: Signaller = process.kill.bind(process)): Promise<StopOutcome> {
  if (!isRunning(entry)) return 'not running';
  if (!signal(kill, entry.pid, 'SIGTERM')) return 'not permitted';
  const killAt = Date.now() + graceMs;
  while (Date.now() < killAt) {
    if (!isRunning(entry)) return 'stopped';
    await sleep(POLL_MS);
  }
  if (!isRunning(entry)) return 'stopped';
  if (!signal(kill, entry.pid, 'SIGKILL')) return 'not permitted';
  // SIGKILL cannot be caught; the wait is for the kernel to finish it (bounded: one stuck in the kernel may never go).
  const givenUpAt = Date.now() + KILL_WAIT_MS;
  while (isRunning(entry)) {
    if (Date.now() >= givenUpAt) return 'survived';
    await sleep(POLL_MS);
  }
  return 'killed';
}

/** False when the signal was refused (EPERM); a process that exited between the check and the signal (ESRCH) is no refusal. */
function signal(kill: Signaller, pid: number, name: NodeJS.Signals): boolean {
  try {
    kill(pid, name);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'EPERM';
  }
}

/** Stops every process in waves (STOP_WAVES), each wave at once. Never throws. */
export async function stopClusterProcesses(processes: readonly ClusterProcess[], graceMs: number, kill?: Signaller): Promise<StoppedProcess[]> {
  const results: StoppedProcess[] = [];
  const stopTimed = async (entry: ClusterProcess): Promise<StoppedProcess> => {
    const startedAt = Date.now();
    const outcome = await stopProcess(entry, graceMs, kill);
    return { process: entry, outcome, elapsedMs: Date.now() - startedAt };
  };
  for (const wave of STOP_WAVES) {
    const members = processes.filter((entry) => wave.roles.includes(entry.role));
    if (wave.oneByOne) {
      for (const entry of members) results.push(await stopTimed(entry));
    } else {
      results.push(...(await Promise.all(members.map(stopTimed))));
    }
  }
  return results;
}
