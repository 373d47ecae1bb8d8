/**
 * `gputel cluster up|status|down|restart|logs`: a local cluster without containers: etcd,
 * streamers, collectors and gateways as separate processes behind nginx, on
 * loopback, its state and logs in one folder (docs/cluster.md).
 */
import { Command, Option } from 'commander';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { GputelError } from '../../common/gputel-error.js';
import { parseDuration } from '../duration.js';
import { EXIT } from '../exit-codes.js';
import { formatTable, outputFormat } from '../output-format.js';
import { checkClusterDir } from './cluster-dir.js';
import { clusterDown, survivalReason } from './cluster-down.js';
import { clusterRestart } from './cluster-restart.js';
import { clusterPaths, clusterUp, logTail } from './cluster-up.js';
import { readClusterState, stateFilePath, type ClusterState } from './cluster-state.js';
import { probeProcess } from './process-health.js';

/** The widest HEALTH cell of the status table. */
const MAX_HEALTH_CHARS = 100;
export const DEFAULT_CLUSTER_DIR = path.join('.gputel', 'cluster');
const DEFAULT_LB_PORT = 8080;

/** What `status --output json` prints: exactly these fields. */
export interface ClusterStatus {
  url: string;
  etcd: string[];
  /** `name` is what `cluster restart NAME` takes; `log` is the process's log file. */
  processes: { name: string; role: string; pid: number; port: number; healthy: boolean; log: string }[];
}

/** Asks every process of the state for its health (at once). Never throws. */
export async function clusterStatus(state: ClusterState): Promise<{ status: ClusterStatus; problems: (string | undefined)[] }> {
  const health = await Promise.all(state.processes.map((entry) => probeProcess(entry)));
  return {
    status: {
      url: state.url,
      etcd: state.etcd,
      processes: state.processes.map((entry, index) => ({ name: entry.name, role: entry.role, pid: entry.pid, port: entry.port, healthy: health[index].healthy, log: entry.logFile })),
    },
    problems: health.map((result) => result.problem),
  };
}

/** The table people read: the URL, then one line per process. */
export function formatClusterTable(state: ClusterState, healthy: boolean[], problems: (string | undefined)[]): string {
  // A long reason (a whole /readyz answer) is cut: every row is padded to the widest, and `cluster logs NAME` has the rest.
  const health = (index: number): string => {
    const text = healthy[index] ? 'healthy' : `NOT HEALTHY: ${problems[index] ?? ''}`.trim();
    return text.length > MAX_HEALTH_CHARS ? `${text.slice(0, MAX_HEALTH_CHARS - 1)}…` : text;
  };
  const rows = state.processes.map((entry, index) => [entry.name, entry.role, entry.pid, entry.port, health(index), path.basename(entry.logFile)]);
  return `load balancer (dashboard and API): ${state.url}\netcd: ${state.etcd.join(',')}\n\n${formatTable(['NAME', 'ROLE', 'PID', 'PORT', 'HEALTH', 'LOG'], rows)}`;
}

function count(value: string, flag: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(number)) throw new GputelError('BAD_CONFIG', `${flag} "${value}" must be a whole number`);
  return number;
}

/** The --dir, absolute; throws BAD_CONFIG when it names a file. */
function dirOf(options: Record<string, unknown>): string {
  const dir = path.resolve((options.dir as string | undefined) ?? DEFAULT_CLUSTER_DIR);
  checkClusterDir(dir);
  return dir;
}

/** 128 + the signal's number: what a shell reports for a command ended by it. */
const SIGNAL_EXIT: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Ctrl-C (or SIGTERM) while `up` starts: the first aborts `signal`, and `up`
 * stops what it started, as after a failure; that may take the stop grace,
 * so a second one leaves the processes running and exits at once (130),
 * saying how to stop them: the state file, written after each start, stays.
 */
function interruptHandler(dir: string): { signal: AbortSignal; dispose: () => void } {
  const interrupted = new AbortController();
  const downCommand = `gputel cluster down --dir ${dir}`;
  const onSignal = (name: 'SIGINT' | 'SIGTERM'): void => {
    if (!interrupted.signal.aborted) {
      process.stderr.write(`gputel cluster up: interrupted: stopping the processes started so far. Press Ctrl-C again to leave them running (stop them later with \`${downCommand}\`)
`);
      interrupted.abort();
      return;
    }
    process.stderr.write(`gputel cluster up: interrupted again: the processes started are left running; stop them with \`${downCommand}\`
`);
    process.exit(SIGNAL_EXIT[name]);
  };
  const onInt = (): void => onSignal('SIGINT');
  const onTerm = (): void => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    signal: interrupted.signal,
    dispose: () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}

function upCommand(): Command {
  return new Command('up')
    .description('start etcd, streamers, collectors and gateways as separate processes, and nginx load-balancing HTTP and WebSocket over the gateways; waits until all are healthy')
    .option('--streamers <n>', 'streamer processes', '1')
    .option('--collectors <n>', 'collector processes', '1')
    .option('--gateways <n>', 'gateway processes', '1')
    .addOption(new Option('--etcd-members <n>', 'etcd members: 1, or 3 for a cluster that survives the loss of one').choices(['1', '3']).default('1'))
    .option('--dir <dir>', `folder of the cluster's state, logs and etcd data (default ${DEFAULT_CLUSTER_DIR})`)
    .option('--port <port>', 'load balancer port; 0 for any free one', String(DEFAULT_LB_PORT))
    .option('--host <address>', 'load balancer address (the gateways run without API keys: think before opening it to a network)', '127.0.0.1')
    .option('--file <paths...>', 'DCGM CSV files, dealt out over the streamers and followed (tail -F); without it, a simulated fleet split over the streamers')
    .option('--simulate-hosts <n>', 'hosts of the simulated fleet, split over the streamers (default 4)')
    .option('--simulate-gpus-per-host <n>', 'GPUs per simulated host (default 8)')
    .option('--simulate-backfill <duration>', 'history the simulated fleet fills in at start; 0 for none (default 1h)')
    .option('--interval <duration>', 'sampling interval of the simulated fleet (default 10s)')
    .option('--ready-timeout <duration>', 'how long every process has to become healthy', '60s')
    .option('--output <format>', 'json or table (default: table on a terminal, else json)')
    .action(async (options: Record<string, unknown>) => {
      const format = outputFormat(options.output);
      const dir = dirOf(options);
      const port = count(options.port as string, '--port');
      if (port > 65535) throw new GputelError('BAD_CONFIG', `--port ${port}: must be 0 to 65535`);
      // Ctrl-C while starting stops what was started (as a failure does) rather than leaving it running.
      const interrupt = interruptHandler(dir);
      const state = await clusterUp(
        {
          dir,
          streamers: count(options.streamers as string, '--streamers'),
          collectors: count(options.collectors as string, '--collectors'),
          gateways: count(options.gateways as string, '--gateways'),
          etcdMembers: Number(options.etcdMembers) as 1 | 3,
          host: options.host as string,
          port,
          sources: {
            files: (options.file as string[] | undefined) ?? [],
            simulateHosts: options.simulateHosts === undefined ? undefined : count(options.simulateHosts as string, '--simulate-hosts'),
            simulateGpusPerHost: options.simulateGpusPerHost === undefined ? undefined : count(options.simulateGpusPerHost as string, '--simulate-gpus-per-host'),
            simulateBackfill: options.simulateBackfill as string | undefined,
            interval: options.interval as string | undefined,
          },
          readyTimeoutMs: parseDuration(options.readyTimeout as string, '--ready-timeout'),
          stopGraceMs: 10_000,
          signal: interrupt.signal,
        },
        (line) => process.stderr.write(`gputel cluster up: ${line}\n`),
      ).finally(() => interrupt.dispose());
      const { status, problems } = await clusterStatus(state);
      process.stdout.write(
        format === 'json'
          ? JSON.stringify(status) + '\n'
          : `${formatClusterTable(state, status.processes.map((p) => p.healthy), problems)}\nstate ${stateFilePath(dir)}, logs ${path.join(dir, 'logs')}; stop with: gputel cluster down --dir ${dir}\n`,
      );
    });
}

function statusCommand(): Command {
  return new Command('status')
    .description(`every process of the local cluster with its pid, port and health; exit ${EXIT.FAILED} when one is not healthy`)
    .option('--dir <dir>', `the cluster's folder (default ${DEFAULT_CLUSTER_DIR})`)
    .option('--output <format>', 'json or table (default: table on a terminal, else json)')
    .action(async (options: Record<string, unknown>) => {
      const format = outputFormat(options.output);
      const state = readClusterState(dirOf(options));
      const { status, problems } = await clusterStatus(state);
      process.stdout.write(format === 'json' ? JSON.stringify(status) + '\n' : formatClusterTable(state, status.processes.map((p) => p.healthy), problems));
      if (status.processes.some((p) => !p.healthy)) process.exitCode = EXIT.FAILED;
    });
}

function downCommand(): Command {
  return new Command('down')
    .description(`stop every process \`cluster up\` started (by pid, checked first), SIGTERM then SIGKILL after --grace; removes the state and etcd data, keeps the logs; exit ${EXIT.FAILED}, keeping the state, when one could not be stopped`)
    .option('--dir <dir>', `the cluster's folder (default ${DEFAULT_CLUSTER_DIR})`)
    .option('--grace <duration>', 'how long a process has to stop after SIGTERM before SIGKILL', '10s')
    .action(async (options: Record<string, unknown>) => {
      const dir = dirOf(options);
      const { stopped, survivors } = await clusterDown(dir, parseDuration(options.grace as string, '--grace'));
      for (const result of stopped) {
        const { process: entry, outcome, elapsedMs } = result;
        const detail = survivors.includes(result) ? `: ${survivalReason(result)}` : outcome === 'not running' ? '' : ` in ${(elapsedMs / 1000).toFixed(1)} s`;
        process.stderr.write(`gputel cluster down: ${entry.name} (pid ${entry.pid}): ${outcome}${detail}\n`);
      }
      const gone = stopped.filter((r) => r.outcome === 'stopped' || r.outcome === 'killed').length;
      if (survivors.length > 0) {
        process.stderr.write(
          `gputel cluster down: ${survivors.length} process(es) still run: ${survivors.map((r) => `${r.process.name} (pid ${r.process.pid})`).join(', ')}. ` +
            `The state (${stateFilePath(dir)}) and etcd's data are kept; stop them, then run \`gputel cluster down --dir ${dir}\` again\n`,
        );
        process.stdout.write(`stopped ${gone} process(es); ${survivors.length} still running\n`);
        process.exitCode = EXIT.FAILED;
        return;
      }
      process.stdout.write(`stopped ${gone} process(es); logs kept in ${path.join(dir, 'logs')}\n`);
    });
}

function restartCommand(): Command {
  return new Command('restart')
    .description('start processes of the local cluster again (a role that died, or one gateway at a time), each with the command, port and log `up` gave it; one still running is stopped first (SIGTERM, SIGKILL after --grace); waits until they are healthy')
    .argument('<names...>', 'processes to restart: collector-1, gateway-2, … (`cluster status` lists them)')
    .option('--dir <dir>', `the cluster's folder (default ${DEFAULT_CLUSTER_DIR})`)
    .option('--grace <duration>', 'how long a running process has to stop after SIGTERM before SIGKILL', '10s')
    .option('--ready-timeout <duration>', 'how long each process has to become healthy', '60s')
    .action(async (names: string[], options: Record<string, unknown>) => {
      const restarted = await clusterRestart(
        dirOf(options),
        names,
        { graceMs: parseDuration(options.grace as string, '--grace'), readyTimeoutMs: parseDuration(options.readyTimeout as string, '--ready-timeout') },
        (line) => process.stderr.write(`gputel cluster restart: ${line}\n`),
      );
      for (const { process: entry, previousPid } of restarted) process.stdout.write(`${entry.name}: restarted (pid ${previousPid} → ${entry.pid}, port ${entry.port})\n`);
    });
}

function logsCommand(): Command {
  return new Command('logs')
    .description('the last lines of each process\'s log (or of the NAMEs given: etcd-m0, collector-1, gateway-2, nginx-access, …); works after down too, which keeps the logs')
    .argument('[names...]', 'processes to show (default: all)')
    .option('--dir <dir>', `the cluster's folder (default ${DEFAULT_CLUSTER_DIR})`)
    .option('--lines <n>', 'lines per log (0: none, as tail -n 0)', '20')
    .action((names: string[], options: Record<string, unknown>) => {
      const logs = clusterPaths(dirOf(options)).logs;
      const lines = count(options.lines as string, '--lines');
      if (!existsSync(logs)) throw new GputelError('NOT_FOUND', `no cluster logs in ${logs}: start a cluster with \`gputel cluster up --dir ${dirOf(options)}\``);
      const available = readdirSync(logs).filter((file) => file.endsWith('.log')).map((file) => file.slice(0, -'.log'.length)).sort();
      const unknown = names.filter((name) => !available.includes(name));
      if (unknown.length > 0) throw new GputelError('NOT_FOUND', `no log named ${unknown.join(', ')} in ${logs}; there are: ${available.join(', ')}`);
      for (const name of names.length > 0 ? names : available) {
        process.stdout.write(`==> ${path.join(logs, `${name}.log`)} <==\n${logTail(path.join(logs, `${name}.log`), lines, '')}\n\n`);
      }
    });
}

export function clusterCommand(): Command {
  return new Command('cluster')
    .description('a local cluster without containers: etcd, streamers, collectors and gateways as processes behind nginx (docs/cluster.md)')
    .addCommand(upCommand())
    .addCommand(statusCommand())
    .addCommand(downCommand())
    .addCommand(restartCommand())
    .addCommand(logsCommand());
}
