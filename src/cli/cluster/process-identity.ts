/**
 * Telling a process started by `gputel cluster up` from another that reuses
 * its pid: Linux's /proc/PID/stat start time (clock ticks since boot) is
 * fixed for a process's life, so pid + start time names one process.
 */
import { readFileSync } from 'node:fs';

/**
 * The start time of `pid` from /proc/PID/stat (field 22), or undefined when
 * there is no such process, it is a zombie (exited, not yet reaped), or /proc
 * cannot be read. Never throws.
 */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces and ')': split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so field 22 is fields[19].
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  return fields[19];
}

/** The command line of `pid` (arguments joined by spaces), or '' when it cannot be read. Never throws. */
export function processCommandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/**
 * Whether `pid` is still the process recorded with `startTime` and whose
 * command line named `program` (nginx retitles its master process, so the
 * program's base name is checked, not the whole line). False when it exited
 * or the pid now belongs to another process.
 */
export function isSameProcess(pid: number, startTime: string, program: string): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (processStartTime(pid) !== startTime) return false;
  const base = program.split('/').pop() ?? program;
  return processCommandLine(pid).includes(base);
}
