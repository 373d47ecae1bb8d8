/**
 * D/cluster.json: what `gputel cluster up` started, for `status` and `down`.
 * Written once every process is up (and, while starting, after each start,
 * so that a killed `up` still leaves what `down` needs); read with every
 * field checked, since `down` signals the pids it names.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GputelError } from '../../common/gputel-error.js';

export const CLUSTER_ROLES = ['etcd', 'collector', 'gateway', 'streamer', 'nginx'] as const;
export type ClusterRole = (typeof CLUSTER_ROLES)[number];

/** One process `up` started. */
export interface ClusterProcess {
  role: ClusterRole;
  /** Unique in the cluster: etcd-m0, collector-1, gateway-2, streamer-1, nginx. */
  name: string;
  pid: number;
  /** /proc/PID/stat start time at launch: with the pid, names this process alone (process-identity.ts). */
  startTime: string;
  /** The port it serves: etcd's client port, a role's ops (or API) port, the load balancer's. */
  port: number;
  /** The address it listens on (`--host` for the load balancer, 127.0.0.1 for the rest); its health is asked there. */
  host: string;
  /** The program and its arguments, as started. */
  command: string[];
  /** Its stdout and stderr. */
  logFile: string;
}

export interface ClusterState {
  /** The load balancer's URL: the dashboard and the API. */
  url: string;
  /** etcd's client URLs. */
  etcd: string[];
  startedAt: string;
  processes: ClusterProcess[];
}

export const STATE_FILE = 'cluster.json';

/** Where every process but the load balancer listens, and the address of a process in a state file that names none. */
export const DEFAULT_PROCESS_HOST = '127.0.0.1';

export function stateFilePath(dir: string): string {
  return path.join(dir, STATE_FILE);
}

/** Writes the state atomically (a temporary file renamed over it): a reader never sees half a file. */
export function writeClusterState(dir: string, state: ClusterState): void {
  const file = stateFilePath(dir);
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(state, null, 2) + '\n', { mode: 0o644 });
  renameSync(temporary, file);
}

/** Whether D holds a state file. */
export function hasClusterState(dir: string): boolean {
  return existsSync(stateFilePath(dir));
}

/**
 * Reads and checks D/cluster.json. Throws NOT_FOUND when there is none (no
 * cluster was started there), BAD_CONFIG naming the file and the field when
 * it is not a state file this version wrote.
 */
export function readClusterState(dir: string): ClusterState {
  const file = stateFilePath(dir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new GputelError('NOT_FOUND', `no cluster in ${dir} (${file} does not exist: none was started there, or it was stopped): start one with \`gputel cluster up --dir ${dir}\``);
    }
    throw new GputelError('BAD_CONFIG', `cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new GputelError('BAD_CONFIG', `${file} is not JSON (${(error as Error).message}); it is written by \`gputel cluster up\``, { cause: error });
  }
  return parseClusterState(parsed, file);
}

/** Checks a parsed state file; `where` names it in errors (BAD_CONFIG). */
export function parseClusterState(value: unknown, where: string): ClusterState {
  const bad = (field: string, expected: string): never => {
    throw new GputelError('BAD_CONFIG', `${where}: ${field} must be ${expected}; the file is written by \`gputel cluster up\``);
  };
  if (!isObject(value)) return bad('the document', 'an object');
  if (typeof value.url !== 'string') bad('url', 'a string');
  if (typeof value.startedAt !== 'string') bad('startedAt', 'a string');
  if (!Array.isArray(value.etcd) || !value.etcd.every((url) => typeof url === 'string')) bad('etcd', 'an array of URLs');
  if (!Array.isArray(value.processes)) return bad('processes', 'an array');
  const processes = value.processes.map((entry: unknown, index): ClusterProcess => {
    const at = `processes[${index}]`;
    if (!isObject(entry)) return bad(at, 'an object');
    if (!CLUSTER_ROLES.includes(entry.role as ClusterRole)) bad(`${at}.role`, `one of ${CLUSTER_ROLES.join(', ')}`);
    if (typeof entry.name !== 'string' || entry.name === '') bad(`${at}.name`, 'a non-empty string');
    if (!Number.isSafeInteger(entry.pid) || (entry.pid as number) <= 1) bad(`${at}.pid`, 'a process id above 1');
    if (typeof entry.startTime !== 'string' || !/^\d+$/.test(entry.startTime)) bad(`${at}.startTime`, 'a string of digits');
    if (!Number.isSafeInteger(entry.port) || (entry.port as number) < 1 || (entry.port as number) > 65535) bad(`${at}.port`, 'a port from 1 to 65535');
    if (!Array.isArray(entry.command) || entry.command.length === 0 || !entry.command.every((arg) => typeof arg === 'string')) bad(`${at}.command`, 'a non-empty array of strings');
    if (typeof entry.logFile !== 'string') bad(`${at}.logFile`, 'a string');
    if (entry.host !== undefined && (typeof entry.host !== 'string' || entry.host === '')) bad(`${at}.host`, 'an address');
    return {
      role: entry.role as ClusterRole,
      name: entry.name as string,
      pid: entry.pid as number,
      startTime: entry.startTime as string,
      port: entry.port as number,
      // State files written before the address was recorded: every process then listened on 127.0.0.1 (or was probed there).
      host: (entry.host as string | undefined) ?? DEFAULT_PROCESS_HOST,
      command: entry.command as string[],
      logFile: entry.logFile as string,
    };
  });
  return { url: value.url as string, etcd: value.etcd as string[], startedAt: value.startedAt as string, processes };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
