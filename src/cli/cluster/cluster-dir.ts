/** The --dir every `gputel cluster` command takes: a folder, or one that does not exist yet. */
import { statSync } from 'node:fs';
import { GputelError } from '../../common/gputel-error.js';

/**
 * Throws BAD_CONFIG when `dir` exists and is not a folder: every command
 * would otherwise fail deeper down with ENOTDIR on D/cluster.json or
 * D/logs, which names neither the flag nor the mistake.
 */
export function checkClusterDir(dir: string): void {
  let stats;
  try {
    stats = statSync(dir, { throwIfNoEntry: false });
  } catch (error) {
    // ENOTDIR: a folder below a file (--dir afile/sub); EACCES and the like: say which and where.
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') throw new GputelError('BAD_CONFIG', `--dir ${dir} is below a file, not a folder: pass the folder of the cluster (default .gputel/cluster), or a new one for \`up\``);
    throw new GputelError('BAD_CONFIG', `--dir ${dir} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  if (stats !== undefined && !stats.isDirectory()) {
    throw new GputelError('BAD_CONFIG', `--dir ${dir} is a file, not a folder: pass the folder of the cluster (default .gputel/cluster), or a new one for \`up\``);
  }
}
