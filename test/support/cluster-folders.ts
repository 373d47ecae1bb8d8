/** Folders for the --dir of `gputel cluster up` in e2e tests, and stopping what each `up` started. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { hasClusterState, readClusterState, type ClusterProcess } from '../../src/cli/cluster/cluster-state.js';
import { stopClusterProcesses } from '../../src/cli/cluster/process-stopper.js';

/** The smallest cluster: one of each role, a one-GPU simulated fleet without back-fill, any free port, JSON output. */
export const SMALL_CLUSTER_FLAGS = ['--port', '0', '--simulate-backfill', '0', '--simulate-hosts', '1', '--simulate-gpus-per-host', '1', '--output', 'json'];

export interface ClusterFolders {
  /** A new temporary folder: give each cluster a --dir below it. */
  root: string;
  /** Records the processes the state in `dir` names (none when there is no state), to be stopped after the suite. */
  remember(dir: string): void;
}

/**
 * Call in a `describe`: registers an `after` hook that stops, by pid, every
 * process remembered (a test that failed midway included) and removes the
 * root folder.
 */
export function useClusterFolders(prefix: string): ClusterFolders {
  const root = mkdtempSync(path.join(tmpdir(), prefix));
  const started: ClusterProcess[] = [];
  after(async () => {
    await stopClusterProcesses(started, 2_000);
    rmSync(root, { recursive: true, force: true });
  });
  return {
    root,
    remember(dir) {
      if (hasClusterState(dir)) started.push(...readClusterState(dir).processes);
    },
  };
}
