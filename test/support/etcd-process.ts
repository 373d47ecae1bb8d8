/**
 * Test harness: a REAL single-member etcd on loopback ports with a fresh
 * temporary data dir. Every process it starts is stopped by its pid, by
 * `stop()` or, if a test run dies first, when this process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, closeSync, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { findFreePorts } from '../../src/cli/cluster/free-ports.js';
import { GputelError } from '../../src/common/gputel-error.js';

export interface EtcdProcess {
  /** Client URLs, e.g. ['http://127.0.0.1:40123']. */
  endpoints: string[];
  /** With the `tls` option: the https:// client URL(s) beside the plain ones (which setup and health checks use). */
  tlsEndpoints: string[];
  /** The temporary directory holding etcd's data (`data/`) and its log (`etcd.log`). */
  dataDir: string;
  /** Pid of the running etcd (changes on restart). */
  readonly pid: number;
  /** Stops etcd (SIGTERM, then SIGKILL after 5 s) and removes the data dir. Safe to call twice. */
  stop(): Promise<void>;
  /**
   * Stops etcd and starts it again on the same ports and data; resolves when
   * it answers. `whileDown` runs while it is stopped (checks of how clients see the outage).
   */
  restart(whileDown?: () => Promise<void>): Promise<void>;
}

/** PEM files of an etcd that serves TLS (startEtcd's `tls`); `clientCertAuth` makes it require a client certificate signed by caFile. */
export interface EtcdTlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
  clientCertAuth?: boolean;
}

const READY_TIMEOUT_MS = 15_000;
const READY_POLL_MS = 50;
const STOP_GRACE_MS = 5_000;
const INSTALL_HINT = 'install it with `apt-get install -y etcd-server`';

/** Pids this process started and has not yet seen exit, killed as a last resort when it exits or is signalled. */
const running = new Set<number>();
let lastResortInstalled = false;

function killAllStarted(): void {
  for (const pid of running) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function installLastResort(): void {
  if (lastResortInstalled) return;
  lastResortInstalled = true;
  process.once('exit', killAllStarted);
  // A test run interrupted by a signal never reaches 'exit': kill our etcds,
  // then let the signal take its default course (the handler is gone by then).
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAllStarted();
      process.kill(process.pid, signal);
    });
  }
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it for a
 * listener on port 0, which is then closed). Another process may take it
 * before the caller binds it; on loopback in tests that is rare enough.
 */
export async function findFreePort(): Promise<number> {
  const [port] = await findFreePorts(1);
  return port;
}

/** `count` distinct free loopback ports (all listeners are open at once, so they differ): gputel cluster's own. */
export { findFreePorts };

/** The etcd binary: the first `etcd` on PATH, else /usr/bin/etcd. Throws with the install command when there is none. */
export function findEtcdBinary(): string {
  const candidates = [...(process.env.PATH ?? '').split(path.delimiter).filter((dir) => dir.length > 0).map((dir) => path.join(dir, 'etcd')), '/usr/bin/etcd'];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new GputelError('BAD_CONFIG', `etcd is not on PATH nor at /usr/bin/etcd: ${INSTALL_HINT}`);
}

/**
 * Starts etcd on two free loopback ports (client, peer) with a fresh temp
 * data dir, and resolves once its client URL answers /health (at most 15 s).
 * Throws if the binary is missing (with the install command) or etcd does
 * not become ready; in that case the process is stopped and the dir removed.
 * The caller must call `stop()`.
 */
export async function startEtcd(options: { extraArgs?: string[]; tls?: EtcdTlsFiles } = {}): Promise<EtcdProcess> {
  const binary = findEtcdBinary();
  installLastResort();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'gputel-etcd-'));
  const [clientPort, peerPort, tlsPort] = await findFreePorts(3);
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  // TLS is served on a second client URL; the plain one stays for the health check and test set-up (etcd serves both).
  const tlsUrls = options.tls === undefined ? [] : [`https://127.0.0.1:${tlsPort}`];
  const tlsArgs =
    options.tls === undefined
      ? []
      : ['--cert-file', options.tls.certFile, '--key-file', options.tls.keyFile, '--trusted-ca-file', options.tls.caFile, ...(options.tls.clientCertAuth ? ['--client-cert-auth'] : [])];
  const args = [
    '--name', 'test',
    '--data-dir', path.join(dataDir, 'data'),
    '--listen-client-urls', [clientUrl, ...tlsUrls].join(','),
    '--advertise-client-urls', clientUrl,
    '--listen-peer-urls', peerUrl,
    '--initial-advertise-peer-urls', peerUrl,
    '--initial-cluster', `test=${peerUrl}`,
    '--initial-cluster-state', 'new',
    '--logger', 'zap',
    '--log-level', 'warn',
    ...tlsArgs,
    ...(options.extraArgs ?? []),
  ];
  let child: ChildProcess | undefined;
  let stopped = false;

  const launch = async (): Promise<void> => {
    // etcd's log goes to a file in the data dir: quiet tests, and there to read when one fails.
    const logFd = openSync(path.join(dataDir, 'etcd.log'), 'a');
    try {
      child = spawn(binary, args, { stdio: ['ignore', logFd, logFd] });
    } finally {
      closeSync(logFd);
    }
    const started = child;
    if (started.pid === undefined) {
      throw new GputelError('INTERNAL', `could not start ${binary}: ${await exitReason(started)}`);
    }
    running.add(started.pid);
    started.once('exit', () => running.delete(started.pid!));
    await waitUntilHealthy(clientUrl, started, path.join(dataDir, 'etcd.log'));
  };

  const kill = async (): Promise<void> => {
    const current = child;
    if (current === undefined || current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
    current.kill('SIGTERM');
    const timer = setTimeout(() => current.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await kill();
    await rm(dataDir, { recursive: true, force: true });
  };

  try {
    await launch();
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    endpoints: [clientUrl],
    tlsEndpoints: tlsUrls,
    dataDir,
    get pid(): number {
      return child?.pid ?? -1;
    },
    stop,
    async restart(whileDown?: () => Promise<void>): Promise<void> {
      if (stopped) throw new GputelError('BAD_REQUEST', 'this etcd was stopped; start a new one');
      await kill();
      try {
        await whileDown?.();
      } finally {
        await launch();
      }
    },
  };
}

async function waitUntilHealthy(clientUrl: string, child: ChildProcess, logFile: string): Promise<void> {
  const giveUpAt = Date.now() + READY_TIMEOUT_MS;
  let lastProblem = 'no answer yet';
  while (Date.now() < giveUpAt) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new GputelError('INTERNAL', `etcd exited (${child.exitCode ?? child.signalCode}) before it was ready; see ${logFile}`);
    }
    try {
      const response = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1_000) });
      const body = (await response.json()) as { health?: string };
      if (response.ok && body.health === 'true') return;
      lastProblem = `/health answered ${response.status} ${JSON.stringify(body)}`;
    } catch (error) {
      lastProblem = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
  throw new GputelError('INTERNAL', `etcd at ${clientUrl} was not ready within ${READY_TIMEOUT_MS} ms (${lastProblem}); see ${logFile}`);
}

function exitReason(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    child.once('error', (error) => resolve(error.message));
    child.once('exit', (code, signal) => resolve(`exited ${code ?? signal}`));
  });
}

/** One member of a test cluster; `stop()` kills it (its data stays until the cluster stops), `start()` brings it back. */
export interface EtcdMember {
  name: string;
  clientUrl: string;
  readonly pid: number;
  readonly running: boolean;
  stop(): Promise<void>;
  /** Starts the member's process; see healthy() for when it serves. */
  start(): Promise<void>;
  healthy(): Promise<void>;
}

export interface EtcdCluster {
  /** Client URLs of every member. */
  endpoints: string[];
  members: EtcdMember[];
  dataDir: string;
  /** Stops every member and removes the data. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts a `size`-member etcd cluster on free loopback ports with fresh temp
 * data dirs, and resolves once every member answers /health. The caller must
 * call `stop()`.
 */
export async function startEtcdCluster(size = 3): Promise<EtcdCluster> {
  const binary = findEtcdBinary();
  installLastResort();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'gputel-etcd-cluster-'));
  const ports = await findFreePorts(2 * size);
  const names = Array.from({ length: size }, (_, i) => `m${i}`);
  const peerUrls = names.map((_, i) => `http://127.0.0.1:${ports[2 * i + 1]}`);
  const initialCluster = names.map((name, i) => `${name}=${peerUrls[i]}`).join(',');
  const members = names.map((name, i): EtcdMember => {
    const clientUrl = `http://127.0.0.1:${ports[2 * i]}`;
    const args = [
      '--name', name,
      '--data-dir', path.join(dataDir, name),
      '--listen-client-urls', clientUrl,
      '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', peerUrls[i],
      '--initial-advertise-peer-urls', peerUrls[i],
      '--initial-cluster', initialCluster,
      '--initial-cluster-token', path.basename(dataDir),
      '--initial-cluster-state', 'new',
      '--logger', 'zap',
      '--log-level', 'warn',
    ];
    let child: ChildProcess | undefined;
    const isRunning = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null;
    return {
      name,
      clientUrl,
      get pid(): number {
        return child?.pid ?? -1;
      },
      get running(): boolean {
        return isRunning();
      },
      async start(): Promise<void> {
        if (isRunning()) return;
        const logFd = openSync(path.join(dataDir, `${name}.log`), 'a');
        try {
          child = spawn(binary, args, { stdio: ['ignore', logFd, logFd] });
        } finally {
          closeSync(logFd);
        }
        const started = child;
        if (started.pid === undefined) throw new GputelError('INTERNAL', `could not start ${binary}: ${await exitReason(started)}`);
        running.add(started.pid);
        started.once('exit', () => running.delete(started.pid!));
        started.once('error', () => undefined);
      },
      /** Resolves when this member answers /health (it needs a quorum of its peers for that). */
      async healthy(): Promise<void> {
        if (child === undefined) throw new GputelError('BAD_REQUEST', `member ${name} was never started`);
        await waitUntilHealthy(clientUrl, child, path.join(dataDir, `${name}.log`));
      },
      async stop(): Promise<void> {
        const current = child;
        if (current === undefined || current.exitCode !== null || current.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
        current.kill('SIGKILL');
        await exited;
      },
    };
  });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(members.map((member) => member.stop()));
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    // All at once: a member waits for a quorum of its peers before it is healthy.
    await Promise.all(members.map((member) => member.start()));
    await Promise.all(members.map((member) => member.healthy()));
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoints: members.map((member) => member.clientUrl), members, dataDir, stop };
}
