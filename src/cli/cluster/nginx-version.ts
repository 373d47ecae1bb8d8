/**
 * The version of the nginx `gputel cluster up` runs, for the flags it may
 * pass: `-e FILE` (the error log before the configuration is read) exists
 * since nginx 1.19.5 only, and older nginx refuses to start with it.
 */
import { spawnSync } from 'node:child_process';

export type NginxVersion = readonly [major: number, minor: number, patch: number];

/** The first nginx with `-e FILE`. */
export const ERROR_LOG_FLAG_SINCE: NginxVersion = [1, 19, 5];

/** The version in `nginx -v`'s output ("nginx version: nginx/1.22.1", or "openresty/1.21.4.1"), or undefined when there is none. */
export function parseNginxVersion(output: string): NginxVersion | undefined {
  const match = /nginx version: [\w.-]+\/(\d+)\.(\d+)\.(\d+)/.exec(output);
  return match === null ? undefined : [Number(match[1]), Number(match[2]), Number(match[3])];
}

/** Whether `version` is `since` or later. */
export function isAtLeast(version: NginxVersion, since: NginxVersion): boolean {
  for (let i = 0; i < 3; i++) {
    if (version[i] !== since[i]) return version[i] > since[i];
  }
  return true;
}

/** The version of the nginx at `binary` (`nginx -v` prints it on stderr), or undefined when it cannot be run or read. Never throws. */
export function nginxVersion(binary: string): NginxVersion | undefined {
  const result = spawnSync(binary, ['-v'], { encoding: 'utf8', timeout: 10_000 });
  return parseNginxVersion(`${result.stderr ?? ''}\n${result.stdout ?? ''}`);
}

/** Whether the nginx at `binary` takes `-e FILE`; false when its version is unknown (omitting the flag is what every version accepts). */
export function takesErrorLogFlag(binary: string): boolean {
  const version = nginxVersion(binary);
  return version !== undefined && isAtLeast(version, ERROR_LOG_FLAG_SINCE);
}
