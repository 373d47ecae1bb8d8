/**
 * A live source that runs `nvidia-smi --query-gpu=… -lms <interval>` as ONE
 * long-lived child (DATA.md §3) and turns each line into DcgmRows
 * (nvidia-smi-line-parser.ts), for machines with an NVIDIA driver but no DCGM.
 *
 * - One child for the whole run, not one per interval: starting nvidia-smi
 *   costs ~100 ms of driver initialisation, and `-lms` keeps one handle open.
 * - The child runs with TZ=UTC. nvidia-smi prints its timestamps in the local
 *   time of its process with no zone; under UTC they are unambiguous (no DST
 *   hour that repeats or never happens) and read exactly with Date.UTC.
 * - When the child dies (driver reload, GPU lost, killed), it is restarted
 *   after a capped exponential backoff (1 s doubling up to 60 s by default);
 *   a child that printed a good line before dying starts the backoff over.
 *   A child that cannot be started at all on the first try (no such file, not
 *   executable) stops the source with a clear error: that is a setting to fix.
 * - The child runs in a process group of its own and is signalled as a group:
 *   `--nvidia-smi-path` may be a wrapper (a shell script, sudo, kubectl exec)
 *   that does not exec, and a signal to the wrapper alone would leave the
 *   real nvidia-smi running with our stdout pipe open.
 * - The child's end is its 'exit', not the close of its stdout: when a
 *   wrapper dies, what it started still holds the pipe. On exit the rest of
 *   the group is ended and its last lines read, so a dead wrapper is noticed
 *   and restarted.
 * - On abort (or on exit, for the rest of the group) the group gets SIGTERM,
 *   then SIGKILL after a grace period; if the pipe is still open one more
 *   grace period later (a process outside the group holds it, or one is stuck
 *   in the driver), the source logs it and gives up on it: stop never hangs.
 * - At most `maxPendingLines` lines wait for a slow consumer (a store that is
 *   down): beyond that the child's stdout is paused, so the pipe fills and
 *   nvidia-smi blocks on its write instead of gputel's memory growing.
 * - Not resumable: the position is `{ lastTimestampMs }`, the time of the
 *   newest line delivered; read() ignores the position it is given.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { hostname as machineHostname } from 'node:os';
import type { Logger } from '../common/logger.js';
import { counter } from '../common/metrics.js';
import { errorMessage, GputelError } from '../common/gputel-error.js';
import { abortableDelay } from './abortable-delay.js';
import { NVIDIA_SMI_QUERY_ARGS, NvidiaSmiLineParser } from './nvidia-smi-line-parser.js';
import type { RowSink, Source, SourcePosition } from './source.js';

export interface NvidiaSmiSourceOptions {
  /** Sampling interval in ms, passed as `-lms`. */
  intervalMs: number;
  /** The nvidia-smi executable (default `nvidia-smi` on PATH). */
  path?: string;
  /** The hostname of every row (default: this machine's, os.hostname()). */
  hostname?: string;
  logger?: Logger;
  /** First restart delay (ms, default 1000); doubles per failed start up to restartMaxMs. */
  restartInitialMs?: number;
  /** Longest restart delay (ms, default 60000). */
  restartMaxMs?: number;
  /** How long the child gets to exit after SIGTERM before SIGKILL (ms, default 2000). */
  killGraceMs?: number;
  /** Lines read but not yet taken by the consumer beyond which the child's stdout is paused (default 10000). */
  maxPendingLines?: number;
}

const restarts = counter('gputel_nvidia_smi_restarts_total', 'Times the nvidia-smi child died and was started again');
const STDERR_TAIL_CHARS = 2_000;
/** A line longer than this is not nvidia-smi query output; it is cut to bound memory. */
const MAX_LINE_CHARS = 64 * 1024;

/** One run of the child: its lines and how it ended. */
interface ChildRun {
  child: ChildProcess;
  lines: string[];
  /** The spawned process exited (or never started). */
  exited: boolean;
  /** Its stdout and stderr are closed: every line has been read. */
  closed: boolean;
  /** Exited and closed, or given up on after SIGKILL: the run is over. */
  done: boolean;
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  spawnError: NodeJS.ErrnoException | undefined;
  stderrTail: string;
  /** Called on every change (lines, exit, close); the read loop and stopChild both wait on it. */
  waiters: Set<() => void>;
  /** The ending of the group, once begun (stopChild). */
  stopping: Promise<void> | undefined;
}

export class NvidiaSmiSource implements Source {
  readonly id: string;
  readonly location: string;
  readonly resumable = false;
  private readonly intervalMs: number;
  private readonly path: string;
  private readonly hostname: string;
  private readonly logger: Logger | undefined;
  private readonly restartInitialMs: number;
  private readonly restartMaxMs: number;
  private readonly killGraceMs: number;
  private readonly maxPendingLines: number;

  /** Throws GputelError 'BAD_CONFIG' naming the bad setting. */
  constructor(options: NvidiaSmiSourceOptions) {
    if (!Number.isInteger(options.intervalMs) || options.intervalMs < 1) {
      throw new GputelError('BAD_CONFIG', `--interval must be a positive duration, got ${options.intervalMs} ms`);
    }
    this.intervalMs = options.intervalMs;
    this.path = options.path ?? 'nvidia-smi';
    if (this.path === '') throw new GputelError('BAD_CONFIG', '--nvidia-smi-path is empty: give the nvidia-smi executable');
    this.hostname = options.hostname ?? machineHostname();
    if (this.hostname === '') throw new GputelError('BAD_CONFIG', '--hostname is empty: give the name of this machine');
    this.logger = options.logger;
    this.restartInitialMs = options.restartInitialMs ?? 1_000;
    this.restartMaxMs = options.restartMaxMs ?? 60_000;
    this.killGraceMs = options.killGraceMs ?? 2_000;
    this.maxPendingLines = options.maxPendingLines ?? 10_000;
    this.id = `nvidia-smi-${this.hostname}`;
    this.location = [this.path, ...NVIDIA_SMI_QUERY_ARGS, '-lms', String(this.intervalMs)].join(' ');
  }

  /** Runs the child until `signal` aborts; see the module comment. */
  async *read(_from: SourcePosition, sink: RowSink, signal: AbortSignal): AsyncIterable<SourcePosition> {
    const parser = new NvidiaSmiLineParser({ hostname: this.hostname, timeZone: 'utc' });
    let lineNumber = 0;
    let backoffMs = this.restartInitialMs;
    let everStarted = false;
    let lastTimestampMs: number | undefined;
    while (!signal.aborted) {
      const run = this.startChild();
      let goodLines = 0;
      try {
        for (;;) {
          if (run.lines.length > 0) {
            const lines = run.lines.splice(0);
            run.child.stdout?.resume();
            for (const line of lines) {
              lineNumber++;
              const timestampMs = parser.parse(line, lineNumber, sink);
              if (timestampMs !== undefined) {
                goodLines++;
                lastTimestampMs = lastTimestampMs === undefined ? timestampMs : Math.max(lastTimestampMs, timestampMs);
              }
            }
            yield lastTimestampMs === undefined ? null : { lastTimestampMs };
            continue;
          }
          if (run.done || signal.aborted) break;
          // The process is gone but something it started holds the pipe: end the rest of its group.
          if (run.exited) run.stopping ??= this.stopChild(run);
          await this.waitForChild(run, signal);
        }
      } finally {
        // Also when the consumer stops iterating early: the child never outlives the read.
        await this.stopChild(run);
      }
      if (signal.aborted) return;
      const code = run.spawnError?.code;
      if (!everStarted && run.spawnError !== undefined && (code === 'ENOENT' || code === 'EACCES')) {
        throw new GputelError(
          'BAD_CONFIG',
          `cannot run ${this.path}: ${code === 'ENOENT' ? 'no such file' : 'permission denied'}. Install the NVIDIA driver (it provides nvidia-smi) or pass --nvidia-smi-path`,
          { cause: run.spawnError },
        );
      }
      everStarted = true;
      if (goodLines > 0) backoffMs = this.restartInitialMs;
      restarts.inc();
      this.logger?.warn(
        {
          command: this.path,
          exitCode: run.exitCode,
          exitSignal: run.exitSignal,
          error: run.spawnError === undefined ? undefined : errorMessage(run.spawnError),
          stderr: run.stderrTail.trim() || undefined,
          restartInMs: backoffMs,
        },
        'nvidia-smi exited; restarting it',
      );
      if (!(await abortableDelay(backoffMs, signal))) return;
      backoffMs = Math.min(backoffMs * 2, this.restartMaxMs);
    }
  }

  private startChild(): ChildRun {
    const child = spawn(this.path, [...NVIDIA_SMI_QUERY_ARGS, '-lms', String(this.intervalMs)], {
      env: { ...process.env, TZ: 'UTC' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // A process group of its own, to signal a wrapper and what it started together.
      detached: true,
    });
    const run: ChildRun = {
      child,
      lines: [],
      exited: false,
      closed: false,
      done: false,
      exitCode: null,
      exitSignal: null,
      spawnError: undefined,
      stderrTail: '',
      waiters: new Set(),
      stopping: undefined,
    };
    const wake = (): void => {
      if (run.exited && run.closed) run.done = true;
      for (const waiter of [...run.waiters]) waiter();
    };
    let partial = '';
    let openStreams = 2;
    const streamClosed = (): void => {
      if (--openStreams > 0) return;
      if (partial !== '') run.lines.push(partial);
      partial = '';
      run.closed = true;
      wake();
    };
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (piece: string) => {
      const text = partial + piece;
      const parts = text.split('\n');
      partial = parts.pop() ?? '';
      if (partial.length > MAX_LINE_CHARS) partial = partial.slice(0, MAX_LINE_CHARS);
      if (parts.length > 0) {
        for (const part of parts) run.lines.push(part);
        // Backpressure on the child while the consumer is behind; not while ending it, when the
        // pipe must drain to close (stopChild resumes it).
        if (run.lines.length >= this.maxPendingLines && run.stopping === undefined) child.stdout?.pause();
        wake();
      }
    });
    child.stdout?.on('close', streamClosed);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (piece: string) => {
      run.stderrTail = (run.stderrTail + piece).slice(-STDERR_TAIL_CHARS);
    });
    child.stderr?.on('close', streamClosed);
    child.on('error', (error: NodeJS.ErrnoException) => {
      run.spawnError = error;
      // A failed spawn emits no 'exit' or 'close' in every Node version: count it as the end.
      if (child.pid === undefined) {
        run.exited = true;
        run.closed = true;
        wake();
      }
    });
    child.on('exit', (code, exitSignal) => {
      run.exited = true;
      run.exitCode = code;
      run.exitSignal = exitSignal;
      wake();
    });
    return run;
  }

  /** Resolves on the next change of the run, or when `signal` aborts. */
  private waitForChild(run: ChildRun, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const finish = (): void => {
        run.waiters.delete(finish);
        signal.removeEventListener('abort', finish);
        resolve();
      };
      run.waiters.add(finish);
      signal.addEventListener('abort', finish, { once: true });
    });
  }

  /** Resolves once the run is done or `ms` have passed. */
  private async waitDone(run: ChildRun, ms: number): Promise<void> {
    const timeUp = new AbortController();
    const timer = setTimeout(() => timeUp.abort(), ms);
    try {
      while (!run.done && !timeUp.signal.aborted) await this.waitForChild(run, timeUp.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Ends the child's whole process group: SIGTERM, SIGKILL after the grace
   * period, and after one more grace period gives up on whatever still holds
   * the pipe (destroying our ends of it) so that the caller never hangs.
   * Idempotent; also called when the child exited but its pipe is still open.
   */
  private stopChild(run: ChildRun): Promise<void> {
    run.stopping ??= (async () => {
      run.child.stdout?.resume();
      for (const signalName of ['SIGTERM', 'SIGKILL'] as const) {
        if (run.done) return;
        this.signalGroup(run, signalName);
        await this.waitDone(run, this.killGraceMs);
      }
      if (run.done) return;
      this.logger?.warn(
        { command: this.path, pid: run.child.pid, exited: run.exited },
        'nvidia-smi or a process it started is still running after SIGKILL; leaving it behind',
      );
      run.child.stdout?.destroy();
      run.child.stderr?.destroy();
      run.done = true;
      for (const waiter of [...run.waiters]) waiter();
    })();
    return run.stopping;
  }

  private signalGroup(run: ChildRun, signalName: NodeJS.Signals): void {
    const pid = run.child.pid;
    if (pid === undefined) return;
    if (process.platform === 'win32') {
      run.child.kill(signalName);
      return;
    }
    try {
      // The negative pid names the group (the child leads it, see startChild).
      process.kill(-pid, signalName);
    } catch (error) {
      // ESRCH: the whole group is gone already.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') this.logger?.warn({ command: this.path, pid, error: errorMessage(error) }, `cannot send ${signalName} to nvidia-smi`);
    }
  }
}
