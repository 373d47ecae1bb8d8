/**
 * `gputel cluster up`: real etcd member(s), each gputel role as its own
 * detached process, and nginx in front of the gateways, all on loopback,
 * with their state in D/cluster.json and their logs in D/logs. It returns
 * once every process is healthy; when one is not, it stops everything it
 * started and says which process failed, with the tail of its log.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readSync, fstatSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { GputelError } from '../../common/gputel-error.js';
import { findClusterBinaries } from './cluster-binaries.js';
import { checkClusterDir } from './cluster-dir.js';
import { acquireClusterLock } from './cluster-lock.js';
import { DEFAULT_PROCESS_HOST, hasClusterState, readClusterState, stateFilePath, writeClusterState, type ClusterProcess, type ClusterRole, type ClusterState } from './cluster-state.js';
import { findFreePorts, whyPortUnavailable } from './free-ports.js';
import { httpUrl } from './listen-address.js';
import { rotateLogs } from './log-rotation.js';
import { nginxConfig } from './nginx-config.js';
import { takesErrorLogFlag } from './nginx-version.js';
import { probeProcess } from './process-health.js';
import { removePrometheusTargets, writePrometheusTargets } from './prometheus-targets.js';
import { isSameProcess, processStartTime } from './process-identity.js';
import { refuseTlsConfigFile, roleEnvironment } from './role-environment.js';
import { streamerSourceArgs, type StreamerSources } from './streamer-sources.js';
import { SURVIVING_OUTCOMES, stopClusterProcesses } from './process-stopper.js';

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
  /** Environment of every role (GPUTEL_* settings pass on to all of them, but GPUTEL_TLS_*: role-environment.ts). */
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
 * healthy, holding D/cluster.lock meanwhile. Throws BAD_CONFIG for bad
 * counts, missing etcd or nginx (with the install command), a --dir that is
 * a file, a load-balancer address or port that cannot be listened on (saying
 * why), a cluster already running in `dir`, or another `up` or `down` working
 * on it; CLUSTER_START_FAILED when a process does not become healthy within
 * `readyTimeoutMs` (after stopping everything it started: the state is
 * removed, unless a process could not be stopped).
 */
export async function clusterUp(options: ClusterUpOptions, report: (line: string) => void = () => undefined): Promise<ClusterState> {
  checkCount('streamers', options.streamers, 1);
  checkCount('collectors', options.collectors, 1);
  checkCount('gateways', options.gateways, 1);
  if (options.etcdMembers !== 1 && options.etcdMembers !== 3) throw new GputelError('BAD_CONFIG', `--etcd-members ${String(options.etcdMembers)}: must be 1 or 3`);
  const streamerArgs = streamerSourceArgs(options.sources, options.streamers);
  const binaries = findClusterBinaries(options.env ?? process.env);
  checkClusterDir(options.dir);
  refuseForeignFolder(options.dir);
  refuseTlsConfigFile(roleEnvironment(options.env ?? process.env));
  // Every check that can refuse runs before the folder is made: a refused `up` leaves no folder behind. A running
  // cluster of this folder may hold the port itself: then it is refused for running (under the lock, below) instead.
  if (runningProcesses(options.dir).length === 0) await refuseUnavailableAddress(options);
  // The first folder made (D, or a parent of it), or undefined when D was there.
  const created = mkdirSync(options.dir, { recursive: true });
  writeFileSync(path.join(options.dir, CLUSTER_MARKER), 'a folder of gputel cluster up: its etcd/ and nginx/ are removed at each up\n');
  // Refused the lock: another up or down works in this folder now (it may have made it first): it is theirs, left as is.
  const lock = acquireClusterLock(options.dir, 'up');
  const progress = { launched: 0 };
  try {
    return await startCluster(options, { binaries, streamerArgs }, report, progress);
  } catch (error) {
    // Refused before any process started (the address taken meanwhile, say): what this up made goes, while it still
    // holds the lock. Once one started, its log says why it failed, and is kept.
    if (created !== undefined && progress.launched === 0) removeMadeFolders(options.dir, created);
    throw error;
  } finally {
    lock.release();
  }
}

/**
 * Removes D, then each parent up to `created` (the first folder this up
 * made) that is empty: a parent may have gained another folder meanwhile
 * (another `up --dir` beside this one), which stays.
 */
function removeMadeFolders(dir: string, created: string): void {
  rmSync(dir, { recursive: true, force: true });
  for (let parent = path.dirname(dir); parent.length >= created.length && parent !== path.dirname(parent); parent = path.dirname(parent)) {
    try {
      rmdirSync(parent);
    } catch {
      return; // not empty, or gone: leave it and what is above it
    }
  }
}

/** Throws BAD_CONFIG saying why when the load balancer cannot listen on --host:--port (port 0: on --host at all). */
async function refuseUnavailableAddress(options: ClusterUpOptions): Promise<void> {
  const lbProblem = await whyPortUnavailable(options.port, options.host);
  if (lbProblem !== undefined) throw new GputelError('BAD_CONFIG', `the load balancer cannot listen on ${options.host}:${options.port}: ${lbProblem}`);
}

/** clusterUp's work once it holds the folder's lock. */
async function startCluster(
  options: ClusterUpOptions,
  { binaries, streamerArgs }: { binaries: { etcd: string; nginx: string }; streamerArgs: string[][] },
  report: (line: string) => void,
  progress: { launched: number },
): Promise<ClusterState> {
  refuseRunningCluster(options.dir);
  // Asked again under the lock (and after a running cluster, whose own port this may be, is refused): a --host that
  // is not this machine's, or a --port in use, is a mistake to fix first. Port 0: whether --host can be listened on.
  await refuseUnavailableAddress(options);
  // The targets of an earlier cluster name ports that are gone.
  removePrometheusTargets(options.dir);
  const paths = clusterPaths(options.dir);
  // A new cluster: etcd's old data names peers on ports that are gone, so it starts empty. Logs are kept (appended to).
  rmSync(paths.etcdData, { recursive: true, force: true });
  rmSync(paths.nginxRun, { recursive: true, force: true });
  for (const folder of [paths.logs, paths.etcdData, paths.nginxRun]) mkdirSync(folder, { recursive: true });
  // No process of the folder runs now (refuseRunningCluster): a log can be moved without one writing on into the old file.
  for (const name of rotateLogs(paths.logs)) report(`${name} is over 10 MiB: moved to ${name}.1 (the one before it is dropped)`);

  const lbHost = options.host;
  const roleCount = options.collectors + options.gateways + options.streamers;
  // Every port from one call, all listeners open at once, so no two are the same; the load balancer's on its own
  // address, a given --port held meanwhile so that no role is given it.
  const ports = await findFreePorts([
    ...Array.from({ length: 2 * options.etcdMembers + roleCount }, () => DEFAULT_PROCESS_HOST),
    options.port === 0 ? lbHost : { host: lbHost, port: options.port },
  ]);
  const etcdPorts = ports.slice(0, 2 * options.etcdMembers);
  const rolePorts = ports.slice(2 * options.etcdMembers, 2 * options.etcdMembers + roleCount);
  const lbPort = ports[ports.length - 1];

  const etcdNames = Array.from({ length: options.etcdMembers }, (_, i) => `m${i}`);
  const clientUrls = etcdNames.map((_, i) => `http://127.0.0.1:${etcdPorts[2 * i]}`);
  const peerUrls = etcdNames.map((_, i) => `http://127.0.0.1:${etcdPorts[2 * i + 1]}`);
  const state: ClusterState = { url: httpUrl(lbHost, lbPort), etcd: clientUrls, startedAt: new Date().toISOString(), processes: [] };
  const given = options.env ?? process.env;
  const env = roleEnvironment(given);
  const dropped = Object.keys(given).filter((name) => !(name in env));
  if (dropped.length > 0) report(`not passing ${dropped.join(', ')} on to the roles: the health probes and nginx talk plain HTTP to them`);

  const launch = (role: ClusterRole, name: string, port: number, command: string[], host = DEFAULT_PROCESS_HOST): ClusterProcess => {
    progress.launched++;
    const entry = launchDetached(role, name, { port, host }, command, path.join(paths.logs, `${name}.log`), env);
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
      // nginx connects from 127.0.0.1: its X-Forwarded-For names the client (per-client rate limits and log lines).
      roles.push(launch('gateway', `gateway-${i}`, port, role('gateway', port, ['--trust-proxy', '127.0.0.1'])));
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
    // `-e FILE` (errors before the configuration is read, e.g. a bad flag) exists since nginx 1.19.5, and an older
    // nginx refuses to start with it. Without it those few errors go to nginx's built-in path (or stderr, in its log
    // here); everything after start-up goes where the configuration's error_log directive says: D/logs/nginx-error.log.
    const errorLogFlag = takesErrorLogFlag(binaries.nginx) ? ['-e', path.join(paths.logs, 'nginx-error.log')] : [];
    const nginx = launch('nginx', 'nginx', lbPort, [binaries.nginx, '-p', paths.nginxRun, '-c', paths.nginxConf, ...errorLogFlag, '-g', 'daemon off;'], lbHost);
    await waitHealthy([nginx], options.readyTimeoutMs, report, options.signal);
    writePrometheusTargets(options.dir, state);
    return state;
  } catch (error) {
    removePrometheusTargets(options.dir);
    report(`stopping the ${state.processes.length} process(es) started`);
    const survivors = (await stopClusterProcesses(state.processes, options.stopGraceMs)).filter((result) => SURVIVING_OUTCOMES.includes(result.outcome));
    // A process that still runs stays in the state, so that `down` can stop it later.
    if (survivors.length === 0) rmSync(stateFilePath(options.dir), { force: true });
    for (const { process: entry, outcome } of survivors) report(`${entry.name} (pid ${entry.pid}) could not be stopped (${outcome}); the state is kept: stop it with \`gputel cluster down --dir ${options.dir}\``);
    throw error;
  }
}

/** Refuses a D where a cluster still runs; forgets the state of one whose processes are all gone. */
function refuseRunningCluster(dir: string): void {
  if (!hasClusterState(dir)) return;
  const previous = readClusterState(dir);
  const alive = runningProcesses(dir, previous);
  if (alive.length > 0) {
    throw new GputelError(
      'BAD_CONFIG',
      `a cluster is running in ${dir} (${alive.length} of its ${previous.processes.length} processes alive, load balancer ${previous.url}): stop it with \`gputel cluster down --dir ${dir}\`, or pass another --dir`,
    );
  }
  rmSync(stateFilePath(dir), { force: true });
}

/** The processes of D's state that still run (none when D has no state). Throws BAD_CONFIG for a state file that does not read. */
function runningProcesses(dir: string, state?: ClusterState): ClusterProcess[] {
  if (state === undefined && !hasClusterState(dir)) return [];
  return (state ?? readClusterState(dir)).processes.filter((entry) => isSameProcess(entry.pid, entry.startTime, entry.command[0]));
}

/**
 * Spawns `command` in a session of its own (it outlives `up`, and a Ctrl-C
 * in `up`'s terminal does not reach it), stdout and stderr appended to
 * `logFile` (after a line naming `by`, the command that started it). Throws
 * CLUSTER_START_FAILED when it exits at once.
 */
export function launchDetached(role: ClusterRole, name: string, listen: { port: number; host: string }, command: string[], logFile: string, env: NodeJS.ProcessEnv, by = 'up'): ClusterProcess {
  const logFd = openSync(logFile, 'a');
  let pid: number | undefined;
  try {
    writeFileSync(logFd, `--- ${new Date().toISOString()} gputel cluster ${by}: ${command.join(' ')}\n`);
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
    throw startFailed(name, logFile, `${command[0]} could not be started or exited at once`, by);
  }
  return { role, name, pid, startTime, port: listen.port, host: listen.host, command, logFile };
}

/** Waits until every process is healthy; throws CLUSTER_START_FAILED naming the first that exited or is not healthy by the deadline, or when `signal` aborts. */
export async function waitHealthy(entries: readonly ClusterProcess[], timeoutMs: number, report: (line: string) => void, signal?: AbortSignal, by = 'up'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(entries);
  const problems = new Map<ClusterProcess, string>();
  while (pending.size > 0) {
    if (signal?.aborted) throw new GputelError('CLUSTER_START_FAILED', `cluster ${by} was interrupted while waiting for ${[...pending].map((entry) => entry.name).join(', ')}`);
    const checks = await Promise.all([...pending].map(async (entry) => ({ entry, health: await probeProcess(entry) })));
    for (const { entry, health } of checks) {
      if (health.healthy) {
        pending.delete(entry);
        report(`${entry.name} healthy (pid ${entry.pid}, port ${entry.port})`);
      } else if (health.problem === 'not running') {
        throw startFailed(entry.name, entry.logFile, `it exited before it was healthy (pid ${entry.pid})`, by);
      } else {
        problems.set(entry, health.problem ?? 'not healthy');
      }
    }
    if (pending.size === 0) return;
    if (Date.now() >= deadline) {
      const first = [...pending][0];
      throw startFailed(first.name, first.logFile, `it was not healthy within ${Math.round(timeoutMs / 1000)} s (${problems.get(first)})`, by);
    }
    await sleep(HEALTH_POLL_MS);
  }
}

function startFailed(name: string, logFile: string, why: string, by = 'up'): GputelError {
  const tail = logTail(logFile, LOG_TAIL_LINES);
  return new GputelError('CLUSTER_START_FAILED', `cluster ${by} failed: ${name}: ${why}. Last lines of ${logFile}:\n${tail === '' ? '(empty)' : tail}`);
}

/** The last `lines` non-empty lines of a file (read from its last 64 KiB), each after `indent`; '' when it cannot be read, or `lines` is 0. */
export function logTail(file: string, lines: number, indent = '  '): string {
  // slice(-0) is slice(0), the whole array: 0 lines must be none, as with tail -n 0.
  if (lines <= 0) return '';
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
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') checkClusterDir(dir);
    throw new GputelError('BAD_CONFIG', `--dir ${dir}: cannot be read as a folder (${(error as Error).message})`);
  }
  if (entries.length > 0 && !entries.includes(CLUSTER_MARKER)) {
    throw new GputelError('BAD_CONFIG', `--dir ${dir} already holds files and is not a folder of gputel cluster up (no ${CLUSTER_MARKER}): up removes its etcd/ and nginx/ folders, so give an empty or new folder`);
  }
}
