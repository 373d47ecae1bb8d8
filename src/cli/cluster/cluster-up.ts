/**
 * `gputel cluster up`: real etcd member(s), each gputel role as its own
 * detached process, and nginx in front of the gateways, all on loopback,
 * with their state in D/cluster.json and their logs in D/logs. It returns
 * once every process is healthy; when one is not, it stops everything it
 * started and says which process failed, with the tail of its log.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readSync, fstatSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { GputelError } from '../../common/gputel-error.js';
import { findClusterBinaries } from './cluster-binaries.js';
import { hasClusterState, readClusterState, stateFilePath, writeClusterState, type ClusterProcess, type ClusterRole, type ClusterState } from './cluster-state.js';
import { findFreePorts, isPortFree } from './free-ports.js';
import { nginxConfig } from './nginx-config.js';
import { probeProcess } from './process-health.js';
import { isSameProcess, processStartTime } from './process-identity.js';
import { streamerSourceArgs, type StreamerSources } from './streamer-sources.js';
import { stopClusterProcesses } from './process-stopper.js';

export interface ClusterUpOptions {
  /** The cluster's folder (absolute): state, logs, etcd data, nginx's files. */
  dir: string;
  streamers: number;
  collectors: number;
  gateways: number;
  etcdMembers: 1 | 3;
  /** The load balancer's address and port (0: a free one). */
  host: string;
  port: number;
  sources: StreamerSources;
  /** How long every process has to become healthy. */
  readyTimeoutMs: number;
  /** Grace before SIGKILL when stopping after a failure. */
  stopGraceMs: number;
  /** Environment of every role (GPUTEL_* settings pass on to all of them). */
  env?: NodeJS.ProcessEnv;
  /** Aborted (Ctrl-C): `up` stops what it started, as after a failure. */
  signal?: AbortSignal;
}

export const MAX_PROCESSES_PER_ROLE = 32;
const HEALTH_POLL_MS = 100;
const LOG_TAIL_LINES = 20;

const GPUTEL_BIN = fileURLToPath(new URL('../../../../bin/gputel.js', import.meta.url));

/** The folders of a cluster under its D. */
export function clusterPaths(dir: string): { logs: string; etcdData: string; nginxRun: string; nginxConf: string } {
  return { logs: path.join(dir, 'logs'), etcdData: path.join(dir, 'etcd'), nginxRun: path.join(dir, 'nginx'), nginxConf: path.join(dir, 'nginx', 'nginx.conf') };
}

function checkCount(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min || value > MAX_PROCESSES_PER_ROLE) {
    throw new GputelError('BAD_CONFIG', `--${name} ${value}: must be a whole number from ${min} to ${MAX_PROCESSES_PER_ROLE}`);
  }
}

/**
 * Starts the cluster and resolves with its state once every process is
 * healthy. Throws BAD_CONFIG for bad counts, missing etcd or nginx (with the
 * install command), a load-balancer port in use, or a cluster already
 * running in `dir`; CLUSTER_START_FAILED when a process does not become
 * healthy within `readyTimeoutMs` (after stopping everything it started).
 */
export async function clusterUp(options: ClusterUpOptions, report: (line: string) => void = () => undefined): Promise<ClusterState> {
  checkCount('streamers', options.streamers, 1);
  checkCount('collectors', options.collectors, 1);
  checkCount('gateways', options.gateways, 1);
  if (options.etcdMembers !== 1 && options.etcdMembers !== 3) throw new GputelError('BAD_CONFIG', `--etcd-members ${String(options.etcdMembers)}: must be 1 or 3`);
  const streamerArgs = streamerSourceArgs(options.sources, options.streamers);
  const binaries = findClusterBinaries(options.env ?? process.env);
  refuseRunningCluster(options.dir);

  const paths = clusterPaths(options.dir);
  refuseForeignFolder(options.dir);
  mkdirSync(options.dir, { recursive: true });
  writeFileSync(path.join(options.dir, CLUSTER_MARKER), 'a folder of gputel cluster up: its etcd/ and nginx/ are removed at each up\n');
  // A new cluster: etcd's old data names peers on ports that are gone, so it starts empty. Logs are kept (appended to).
  rmSync(paths.etcdData, { recursive: true, force: true });
  rmSync(paths.nginxRun, { recursive: true, force: true });
  for (const folder of [paths.logs, paths.etcdData, paths.nginxRun]) mkdirSync(folder, { recursive: true });

  if (options.port !== 0 && !(await isPortFree(options.port, options.host))) {
    throw new GputelError('BAD_CONFIG', `the load balancer cannot listen on ${options.host}:${options.port}: the port is in use. Pass --port with a free port, or --port 0 for any free one`);
  }
  const etcdPorts = await findFreePorts(2 * options.etcdMembers);
  const [lbPortPicked, ...rolePorts] = await findFreePorts(1 + options.collectors + options.gateways + options.streamers);
  const lbPort = options.port === 0 ? lbPortPicked : options.port;
  const lbHost = options.host;
  const urlHost = lbHost.includes(':') ? `[${lbHost}]` : lbHost === '0.0.0.0' ? '127.0.0.1' : lbHost;

  const etcdNames = Array.from({ length: options.etcdMembers }, (_, i) => `m${i}`);
  const clientUrls = etcdNames.map((_, i) => `http://127.0.0.1:${etcdPorts[2 * i]}`);
  const peerUrls = etcdNames.map((_, i) => `http://127.0.0.1:${etcdPorts[2 * i + 1]}`);
  const state: ClusterState = { url: `http://${urlHost}:${lbPort}`, etcd: clientUrls, startedAt: new Date().toISOString(), processes: [] };
  const env = { ...(options.env ?? process.env) };

  const launch = (role: ClusterRole, name: string, port: number, command: string[]): ClusterProcess => {
    const entry = launchDetached(role, name, port, command, path.join(paths.logs, `${name}.log`), env);
    state.processes.push(entry);
    // Written after every start: an `up` killed midway leaves what `down` needs to stop the rest.
    writeClusterState(options.dir, state);
    return entry;
  };

  try {
    const initialCluster = etcdNames.map((name, i) => `${name}=${peerUrls[i]}`).join(',');
    const token = `gputel-${randomBytes(6).toString('hex')}`;
    const members = etcdNames.map((name, i) =>
      launch('etcd', `etcd-${name}`, etcdPorts[2 * i], [
        binaries.etcd,
        '--name', name,
        '--data-dir', path.join(paths.etcdData, name),
        '--listen-client-urls', clientUrls[i],
        '--advertise-client-urls', clientUrls[i],
        '--listen-peer-urls', peerUrls[i],
        '--initial-advertise-peer-urls', peerUrls[i],
        '--initial-cluster', initialCluster,
        '--initial-cluster-token', token,
        '--initial-cluster-state', 'new',
        '--logger', 'zap',
        '--log-outputs', 'stderr',
      ]),
    );
    // All members at once: each waits for a quorum of its peers before it is healthy.
    await waitHealthy(members, options.readyTimeoutMs, report, options.signal);

    const etcdFlag = clientUrls.join(',');
    const role = (name: string, port: number, args: string[]): string[] => [process.execPath, GPUTEL_BIN, name, '--etcd', etcdFlag, '--host', '127.0.0.1', '--port', String(port), ...args];
    let next = 0;
    const roles: ClusterProcess[] = [];
    for (let i = 1; i <= options.collectors; i++) {
      const port = rolePorts[next++];
      roles.push(launch('collector', `collector-${i}`, port, role('collector', port, ['--consumer-id', `collector-${i}`])));
    }
    const gatewayPorts: number[] = [];
    for (let i = 1; i <= options.gateways; i++) {
      const port = rolePorts[next++];
      gatewayPorts.push(port);
      roles.push(launch('gateway', `gateway-${i}`, port, role('gateway', port, [])));
    }
    for (let i = 1; i <= options.streamers; i++) {
      const port = rolePorts[next++];
      roles.push(launch('streamer', `streamer-${i}`, port, role('streamer', port, ['--no-progress', ...streamerArgs[i - 1]])));
    }
    await waitHealthy(roles, options.readyTimeoutMs, report, options.signal);

    writeFileSync(
      paths.nginxConf,
      nginxConfig({ listenHost: lbHost, listenPort: lbPort, gateways: gatewayPorts.map((port) => `127.0.0.1:${port}`), runDir: paths.nginxRun, logDir: paths.logs }),
    );
    const nginx = launch('nginx', 'nginx', lbPort, [binaries.nginx, '-p', paths.nginxRun, '-c', paths.nginxConf, '-e', path.join(paths.logs, 'nginx-error.log'), '-g', 'daemon off;']);
    await waitHealthy([nginx], options.readyTimeoutMs, report, options.signal);
    return state;
  } catch (error) {
    report(`stopping the ${state.processes.length} process(es) started`);
    await stopClusterProcesses(state.processes, options.stopGraceMs);
    rmSync(stateFilePath(options.dir), { force: true });
    throw error;
  }
}

/** Refuses a D where a cluster still runs; forgets the state of one whose processes are all gone. */
function refuseRunningCluster(dir: string): void {
  if (!hasClusterState(dir)) return;
  const previous = readClusterState(dir);
  const alive = previous.processes.filter((entry) => isSameProcess(entry.pid, entry.startTime, entry.command[0]));
  if (alive.length > 0) {
    throw new GputelError(
      'BAD_CONFIG',
      `a cluster is running in ${dir} (${alive.length} of its ${previous.processes.length} processes alive, load balancer ${previous.url}): stop it with \`gputel cluster down --dir ${dir}\`, or pass another --dir`,
    );
  }
  rmSync(stateFilePath(dir), { force: true });
}

/**
 * Spawns `command` in a session of its own (it outlives `up`, and a Ctrl-C
 * in `up`'s terminal does not reach it), stdout and stderr appended to
 * `logFile`. Throws CLUSTER_START_FAILED when it exits at once.
 */
function launchDetached(role: ClusterRole, name: string, port: number, command: string[], logFile: string, env: NodeJS.ProcessEnv): ClusterProcess {
  const logFd = openSync(logFile, 'a');
  let pid: number | undefined;
  try {
    writeFileSync(logFd, `--- ${new Date().toISOString()} gputel cluster up: ${command.join(' ')}\n`);
    const child = spawn(command[0], command.slice(1), { detached: true, stdio: ['ignore', logFd, logFd], env });
    // A spawn failure (ENOENT, EACCES) arrives as an event; the start time read below tells it anyway.
    child.once('error', () => undefined);
    child.unref();
    pid = child.pid;
  } finally {
    closeSync(logFd);
  }
  const startTime = pid === undefined ? undefined : processStartTime(pid);
  if (pid === undefined || startTime === undefined) {
    throw startFailed(name, logFile, `${command[0]} could not be started or exited at once`);
  }
  return { role, name, pid, startTime, port, command, logFile };
}

/** Waits until every process is healthy; throws CLUSTER_START_FAILED naming the first that exited or is not healthy by the deadline, or when `signal` aborts. */
async function waitHealthy(entries: readonly ClusterProcess[], timeoutMs: number, report: (line: string) => void, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(entries);
  const problems = new Map<ClusterProcess, string>();
  while (pending.size > 0) {
    if (signal?.aborted) throw new GputelError('CLUSTER_START_FAILED', `cluster up was interrupted while waiting for ${[...pending].map((entry) => entry.name).join(', ')}`);
    const checks = await Promise.all([...pending].map(async (entry) => ({ entry, health: await probeProcess(entry) })));
    for (const { entry, health } of checks) {
      if (health.healthy) {
        pending.delete(entry);
        report(`${entry.name} healthy (pid ${entry.pid}, port ${entry.port})`);
      } else if (health.problem === 'not running') {
        throw startFailed(entry.name, entry.logFile, `it exited before it was healthy (pid ${entry.pid})`);
      } else {
        problems.set(entry, health.problem ?? 'not healthy');
      }
    }
    if (pending.size === 0) return;
    if (Date.now() >= deadline) {
      const first = [...pending][0];
      throw startFailed(first.name, first.logFile, `it was not healthy within ${Math.round(timeoutMs / 1000)} s (${problems.get(first)})`);
    }
    await sleep(HEALTH_POLL_MS);
  }
}

function startFailed(name: string, logFile: string, why: string): GputelError {
  const tail = logTail(logFile, LOG_TAIL_LINES);
  return new GputelError('CLUSTER_START_FAILED', `cluster up failed: ${name}: ${why}. Last lines of ${logFile}:\n${tail === '' ? '(empty)' : tail}`);
}

/** The last `lines` non-empty lines of a file (read from its last 64 KiB), each after `indent`; '' when it cannot be read. */
export function logTail(file: string, lines: number, indent = '  '): string {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    const length = Math.min(size, 65_536);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return buffer.toString('utf8').split('\n').filter((line) => line.trim() !== '').slice(-lines).map((line) => `${indent}${line}`).join('\n');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The file that marks a folder as gputel cluster's own, so that up may empty its etcd/ and nginx/. */
const CLUSTER_MARKER = '.gputel-cluster';

/**
 * Refuses a --dir that holds files but was never a cluster's folder: up
 * removes D/etcd and D/nginx, which in any other folder (--dir ~) would be
 * someone else's.
 */
function refuseForeignFolder(dir: string): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new GputelError('BAD_CONFIG', `--dir ${dir}: cannot be read as a folder (${(error as Error).message})`);
  }
  if (entries.length > 0 && !entries.includes(CLUSTER_MARKER)) {
    throw new GputelError('BAD_CONFIG', `--dir ${dir} already holds files and is not a folder of gputel cluster up (no ${CLUSTER_MARKER}): up removes its etcd/ and nginx/ folders, so give an empty or new folder`);
  }
}
