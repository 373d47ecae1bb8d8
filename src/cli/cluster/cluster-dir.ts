/** The --dir every `gputel cluster` command takes: a folder, or one that does not exist yet. */
import { statSync } from 'node:fs';
import { GputelError } from '../../common/gputel-error.js';

/**
 * Throws BAD_CONFIG when `dir` exists and is not a folder: every command
 * would otherwise fail deeper down with ENOTDIR on D/cluster.json or
 * D/logs, which names neither the flag nor the mistake.
 */
export function checkClusterDir(dir: string): void {
  const stats = statSync(dir, { throwIfNoEntry: false });
  if (stats !== undefined && !stats.isDirectory()) {
    throw new GputelError('BAD_CONFIG', `--dir ${dir} is a file, not a folder: pass the folder of the cluster (default .gputel/cluster), or a new one for \`up\``);
  }
}
