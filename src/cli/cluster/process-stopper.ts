/**
 * Stopping the processes of the local cluster: only those `up` started,
 * each checked by pid and start time before it is signalled (a pid reused
 * by another process is left alone), SIGTERM first, SIGKILL after a grace.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterProcess, ClusterRole } from './cluster-state.js';
import { isSameProcess } from './process-identity.js';

export type StopOutcome = 'stopped' | 'killed' | 'not running';

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

/** Stops one process: SIGTERM, then SIGKILL once `graceMs` have passed; resolves when it is gone. Never throws. */
export async function stopProcess(entry: ClusterProcess, graceMs: number): Promise<StopOutcome> {
  if (!isRunning(entry)) return 'not running';
  signal(entry.pid, 'SIGTERM');
  const killAt = Date.now() + graceMs;
  while (Date.now() < killAt) {
    if (!isRunning(entry)) return 'stopped';
    await sleep(POLL_MS);
  }
  if (!isRunning(entry)) return 'stopped';
  signal(entry.pid, 'SIGKILL');
  // SIGKILL cannot be caught; the wait is for the kernel to finish it (bounded all the same).
  for (let i = 0; i < 100 && isRunning(entry); i++) await sleep(POLL_MS);
  return 'killed';
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // exited between the check and the signal
  }
}

/** Stops every process in waves (STOP_WAVES), each wave at once. Never throws. */
export async function stopClusterProcesses(processes: readonly ClusterProcess[], graceMs: number): Promise<StoppedProcess[]> {
  const results: StoppedProcess[] = [];
  const stopTimed = async (entry: ClusterProcess): Promise<StoppedProcess> => {
    const startedAt = Date.now();
    const outcome = await stopProcess(entry, graceMs);
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
