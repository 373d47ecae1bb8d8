/** The programs `gputel cluster up` runs beside gputel: etcd and nginx, found on PATH (or Debian's paths), with how to install them when missing. */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { GputelError } from '../../common/gputel-error.js';

export interface Program {
  name: string;
  /** Where Debian's package puts it, tried after PATH (/usr/sbin is not on every user's PATH). */
  debianPath: string;
  debianPackage: string;
}

export const ETCD: Program = { name: 'etcd', debianPath: '/usr/bin/etcd', debianPackage: 'etcd-server' };
export const NGINX: Program = { name: 'nginx', debianPath: '/usr/sbin/nginx', debianPackage: 'nginx' };

function findProgram(program: Program, env: NodeJS.ProcessEnv): string | undefined {
  const dirs = (env.PATH ?? '').split(path.delimiter).filter((dir) => dir.length > 0);
  for (const candidate of [...dirs.map((dir) => path.join(dir, program.name)), program.debianPath]) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // the next one
    }
  }
  return undefined;
}

/**
 * The etcd and nginx binaries. Throws BAD_CONFIG naming every missing one
 * and the command that installs it (Debian's packages; the nginx package's
 * system service is not used: the cluster runs its own nginx process).
 * `programs`: where to look (tests name binaries that do not exist).
 */
export function findClusterBinaries(env: NodeJS.ProcessEnv = process.env, programs: { etcd: Program; nginx: Program } = { etcd: ETCD, nginx: NGINX }): { etcd: string; nginx: string } {
  const etcd = findProgram(programs.etcd, env);
  const nginx = findProgram(programs.nginx, env);
  const missing = [etcd === undefined ? programs.etcd : undefined, nginx === undefined ? programs.nginx : undefined].filter((program): program is Program => program !== undefined);
  if (missing.length > 0) {
    const names = missing.map((program) => program.name).join(' and ');
    const packages = missing.map((program) => program.debianPackage).join(' ');
    throw new GputelError(
      'BAD_CONFIG',
      `gputel cluster up needs ${names}, not found on PATH nor at ${missing.map((program) => program.debianPath).join(', ')}. ` +
        `Install with: sudo apt-get update && sudo apt-get install -y ${packages} (or put the binaries on PATH; etcd 3.4 or later)`,
    );
  }
  return { etcd: etcd!, nginx: nginx! };
}
