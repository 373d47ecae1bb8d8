/**
 * Progress of long work (streaming files, replaying dead letters) on
 * stderr: a bar with rows/s and ETA (cli-progress) when stderr is a
 * terminal, plain periodic lines when it is not (a log file, CI), never
 * both. It polls the work's own counters (Streamer.progress(), the replay's
 * count), so the work pays nothing per row for being watched.
 */
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import type { GputelConfig } from '../common/config.js';
import { parseDuration } from './duration.js';
import { formatAge } from './output-format.js';

/** Where progress goes: process.stderr, or a fake terminal in tests. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** How far one piece of work is. `done`/`total` measure its size (bytes of a file, dead letters); `count` what people count (rows). */
export interface ProgressSnapshot {
  count: number;
  done: number;
  /** `done` when the work began (a resumed file starts past 0): the rate, and so the ETA, counts from there. */
  startDone: number;
  /** Undefined when the size is unknown (stdin): no percentage, no ETA. */
  total?: number;
  /** performance.now() when the work began. */
  startedAtMs: number;
}

/** One piece of work, watched while it runs. */
export interface ProgressTask {
  /** What is worked on: a file's path, "dead letters of topic telemetry". */
  label: string;
  /** What `count` counts, plural: "rows". */
  unit: string;
  /** Undefined until the work has begun. */
  snapshot(): ProgressSnapshot | undefined;
}

/** The figures a progress display shows. */
export interface ProgressFigures {
  count: number;
  perSecond: number;
  /** 0-100, when the size is known. */
  percent?: number;
  /** When the size is known and some of it is done. */
  etaMs?: number;
}

/** Figures of a snapshot at `nowMs` (performance.now()). */
export function progressFigures(snapshot: ProgressSnapshot, nowMs: number): ProgressFigures {
  const seconds = Math.max(nowMs - snapshot.startedAtMs, 1) / 1000;
  const figures: ProgressFigures = { count: snapshot.count, perSecond: snapshot.count / seconds };
  if (snapshot.total !== undefined && snapshot.total > 0) {
    figures.percent = Math.min(100, (snapshot.done / snapshot.total) * 100);
    const donePerSecond = (snapshot.done - snapshot.startDone) / seconds;
    if (donePerSecond > 0) figures.etaMs = Math.round((Math.max(snapshot.total - snapshot.done, 0) / donePerSecond) * 1000);
  }
  return figures;
}

const number = (value: number): string => Math.round(value).toLocaleString('en-US');

/** The counts, rate, percentage and ETA, as both displays write them. */
function describe(task: ProgressTask, figures: ProgressFigures, separator: string): string {
  const parts = [`${number(figures.count)} ${task.unit}`, `${number(figures.perSecond)} ${task.unit}/s`];
  if (figures.percent !== undefined) parts.push(`${Math.floor(figures.percent)}%`);
  if (figures.etaMs !== undefined) parts.push(`ETA ${formatAge(figures.etaMs)}`);
  return parts.join(separator);
}

/** The plain line written every interval when stderr is not a terminal. */
export function formatProgressLine(task: ProgressTask, figures: ProgressFigures): string {
  return `progress ${task.label}: ${describe(task, figures, ', ')}`;
}

const BAR_WIDTH = 24;

/** The terminal's line: label, a bar when the size is known, and the figures. */
export function formatProgressBar(task: ProgressTask, figures: ProgressFigures): string {
  const filled = figures.percent === undefined ? 0 : Math.round((figures.percent / 100) * BAR_WIDTH);
  const bar = figures.percent === undefined ? '' : ` ${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}`;
  return `${task.label}${bar} | ${describe(task, figures, ' | ')}`;
}

/** How often the terminal's bar is redrawn. */
const BAR_REDRAW_MS = 200;

/**
 * Reports tasks run one after another: the latest one that has begun is
 * shown. On a terminal a bar is redrawn in place (a finished task's bar
 * stays, the next gets its own line); elsewhere a line is written every
 * `intervalMs`. start() and stop() are each safe twice; stop() draws the
 * last state of the bar.
 */
export class ProgressReporter {
  private timer: NodeJS.Timeout | undefined;
  private bar: cliProgress.SingleBar | undefined;
  private barTask: ProgressTask | undefined;

  constructor(
    private readonly tasks: ProgressTask[],
    private readonly options: { stream: ProgressStream; intervalMs: number; now?: () => number },
  ) {}

  start(): void {
    if (this.timer !== undefined || this.tasks.length === 0) return;
    const terminal = this.options.stream.isTTY === true;
    this.timer = setInterval(() => (terminal ? this.drawBar() : this.writeLine()), terminal ? BAR_REDRAW_MS : this.options.intervalMs);
    // Progress never keeps the process alive.
    this.timer.unref();
    if (terminal) this.drawBar();
  }

  stop(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.bar?.stop();
    this.bar = undefined;
  }

  private now(): number {
    return (this.options.now ?? (() => performance.now()))();
  }

  private current(): { task: ProgressTask; snapshot: ProgressSnapshot } | undefined {
    for (let i = this.tasks.length - 1; i >= 0; i--) {
      const snapshot = this.tasks[i].snapshot();
      if (snapshot !== undefined) return { task: this.tasks[i], snapshot };
    }
    return undefined;
  }

  private writeLine(): void {
    const current = this.current();
    if (current) this.options.stream.write(formatProgressLine(current.task, progressFigures(current.snapshot, this.now())) + '\n');
  }

  private drawBar(): void {
    const current = this.current();
    if (!current) return;
    if (current.task !== this.barTask) {
      this.bar?.stop();
      this.barTask = current.task;
      const task = current.task;
      this.bar = new cliProgress.SingleBar({
        // The line is ours (formatProgressBar); cli-progress draws it in place and keeps the cursor tidy.
        format: () => {
          const snapshot = task.snapshot();
          return snapshot === undefined ? task.label : formatProgressBar(task, progressFigures(snapshot, this.now()));
        },
        stream: this.options.stream as NodeJS.WritableStream,
        hideCursor: true,
        linewrap: false,
        // The roles' own SIGINT/SIGTERM handling stops everything, this included.
        gracefulExit: false,
        fps: 1000 / BAR_REDRAW_MS,
      });
      this.bar.start(current.snapshot.total ?? 0, current.snapshot.done);
    }
    this.bar?.update(current.snapshot.done);
  }
}

/** Adds --progress-interval and --no-progress to a command doing long work. */
export function withProgressOptions(command: Command): Command {
  return command
    .option('--progress-interval <duration>', 'when stderr is not a terminal: write a progress line this often (default 5s); on a terminal a bar shows rows/s and ETA')
    .option('--no-progress', 'no progress bar or lines (also off at log level error, fatal or silent, from --log-level or GPUTEL_LOG_LEVEL)');
}

/** Whether progress is shown (the flags and the log level allow it), and the plain lines' interval. Throws BAD_CONFIG for a bad interval. */
export function progressSettingsOf(options: Record<string, unknown>, config: Pick<GputelConfig, 'logLevel'>): { enabled: boolean; intervalMs: number } {
  const intervalMs = options.progressInterval === undefined ? 5_000 : parseDuration(String(options.progressInterval), '--progress-interval');
  const quietLog = config.logLevel === 'error' || config.logLevel === 'fatal' || config.logLevel === 'silent';
  return { enabled: options.progress !== false && !quietLog, intervalMs };
}

/** Starts a reporter of `tasks` on stderr when the settings allow it; returns its stop (a no-op otherwise). */
export function reportProgress(tasks: ProgressTask[], settings: { enabled: boolean; intervalMs: number }, stream: ProgressStream = process.stderr): () => void {
  if (!settings.enabled || tasks.length === 0) return () => undefined;
  const reporter = new ProgressReporter(tasks, { stream, intervalMs: settings.intervalMs });
  reporter.start();
  return () => reporter.stop();
}
