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
 * - On abort the child gets SIGTERM, then SIGKILL after a grace period, and
 *   the read ends once it is gone: no process is left behind.
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
}

const restarts = counter('gputel_nvidia_smi_restarts_total', 'Times the nvidia-smi child died and was started again');
const STDERR_TAIL_CHARS = 2_000;
/** A line longer than this is not nvidia-smi query output; it is cut to bound memory. */
const MAX_LINE_CHARS = 64 * 1024;

/** One run of the child: its lines and how it ended. */
interface ChildRun {
  child: ChildProcess;
  lines: string[];
  exited: boolean;
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  spawnError: NodeJS.ErrnoException | undefined;
  stderrTail: string;
  /** Resolves the current wait for more lines or the exit. */
  wake: (() => void) | undefined;
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
          if (run.exited || signal.aborted) break;
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
    });
    const run: ChildRun = { child, lines: [], exited: false, exitCode: null, exitSignal: null, spawnError: undefined, stderrTail: '', wake: undefined };
    const wake = (): void => {
      const resolve = run.wake;
      run.wake = undefined;
      resolve?.();
    };
    let partial = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (piece: string) => {
      const text = partial + piece;
      const parts = text.split('\n');
      partial = parts.pop() ?? '';
      if (partial.length > MAX_LINE_CHARS) partial = partial.slice(0, MAX_LINE_CHARS);
      if (parts.length > 0) {
        for (const part of parts) run.lines.push(part);
        wake();
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (piece: string) => {
      run.stderrTail = (run.stderrTail + piece).slice(-STDERR_TAIL_CHARS);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      run.spawnError = error;
      // A failed spawn emits no 'close' in every Node version: count it as the end.
      if (child.pid === undefined) {
        run.exited = true;
        wake();
      }
    });
    child.on('close', (code, exitSignal) => {
      if (partial !== '') run.lines.push(partial);
      partial = '';
      run.exited = true;
      run.exitCode = code;
      run.exitSignal = exitSignal;
      wake();
    });
    return run;
  }

  private waitForChild(run: ChildRun, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const onAbort = (): void => {
        run.wake = undefined;
        resolve();
      };
      run.wake = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves once the child is gone. */
  private async stopChild(run: ChildRun): Promise<void> {
    if (run.exited || run.child.pid === undefined) return;
    const gone = new Promise<void>((resolve) => {
      if (run.exited) resolve();
      else run.child.once('close', () => resolve());
    });
    run.child.kill('SIGTERM');
    const graceOver = new AbortController();
    const killer = abortableDelay(this.killGraceMs, graceOver.signal).then((expired) => {
      if (expired && !run.exited) run.child.kill('SIGKILL');
    });
    await gone;
    graceOver.abort();
    await killer;
  }
}
