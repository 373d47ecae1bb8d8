/**
 * Keeping the cluster's logs from growing forever: every `up` appends to
 * the same D/logs/NAME.log, so at each `up` (when none of its processes
 * writes to them) a log over the limit is moved to NAME.log.1, replacing
 * the one generation kept before it.
 */
import { readdirSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';

/** 10 MiB: hundreds of thousands of log lines, still quick to read with `cluster logs`. */
export const MAX_LOG_BYTES = 10 * 1024 * 1024;

/**
 * Moves every `*.log` in `logsDir` larger than `maxBytes` to `*.log.1`
 * (replacing an older one) and returns the names moved. A folder that does
 * not exist has nothing to rotate. Throws the fs error of a rename that fails.
 */
export function rotateLogs(logsDir: string, maxBytes = MAX_LOG_BYTES): string[] {
  let names: string[];
  try {
    names = readdirSync(logsDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const rotated: string[] = [];
  for (const name of names.filter((file) => file.endsWith('.log')).sort()) {
    const file = path.join(logsDir, name);
    const stats = statSync(file, { throwIfNoEntry: false });
    if (stats === undefined || !stats.isFile() || stats.size <= maxBytes) continue;
    renameSync(file, `${file}.1`);
    rotated.push(name);
  }
  return rotated;
}
