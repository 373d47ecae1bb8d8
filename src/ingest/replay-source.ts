/**
 * Replay: wraps a finite source (a DCGM CSV file) to play it back at its own
 * pace, for demos, load tests and reproducing an incident.
 *
 * - `asfast`: rows pass straight through, as fast as the consumer takes them.
 * - `realtime`: rows are held back until their time has come, the file's gaps
 *   divided by `speed` (2 = twice as fast). Rows are released per timestamp;
 *   positions are yielded where the wrapped source yields them (for a CSV
 *   file, every piece it reads), so a checkpoint never covers a row not yet
 *   delivered.
 * - `rebaseTime`: timestamps are shifted so that the file plays as if now.
 *   With `realtime` the first row is stamped with the wall-clock time it is
 *   delivered at, and every later one with its due time: the file's time
 *   after the first row is divided by `speed`, so that a sped-up file never
 *   runs ahead of the clock. With `asfast` the
 *   file is read once beforehand to find its last timestamp, and the shift
 *   makes that last row "now" (the whole file is recent history, none of it
 *   in the future). Without `rebaseTime` the file's timestamps are kept.
 * - `loop`: at the end the file plays again, and pass k is shifted by k
 *   periods, the period being the file's span plus its sample interval (the
 *   smallest gap between two timestamps, 1 s for a single-timestamp file): the
 *   passes join into one series without gap, overlap or repeated timestamps.
 *   This holds with and without `rebaseTime` (without it, the first pass
 *   keeps the file's own timestamps). `asfast` + `loop` + `rebaseTime` is
 *   refused: each pass would land one period further in the future.
 *
 * Position: `{ pass, inner, rebaseMs, minMs, maxMs, stepMs }`. A restart
 * continues in the same pass after the wrapped source's own position, with
 * the same shift, so the replayed series has no gap or repeat. In `realtime`
 * the pace restarts from the first row after the restart; with `rebaseTime`
 * the shift is kept, so data resumed after a stop lags the clock by the stop.
 */
import { GputelError } from '../common/gputel-error.js';
import { abortableDelay } from './abortable-delay.js';
import { emptyRow, type DcgmRow, type RejectedRow } from './dcgm-row.js';
import type { RowSink, Source, SourcePosition } from './source.js';

export type ReplayMode = 'asfast' | 'realtime';

export interface ReplayOptions {
  mode: ReplayMode;
  /** Playback speed for `realtime` (default 1). */
  speed?: number;
  loop?: boolean;
  rebaseTime?: boolean;
  /** The wall clock (default Date.now). */
  now?: () => number;
}

type ReplayPosition = {
  pass: number;
  inner: SourcePosition;
  /** The rebase shift once known; 0 without rebaseTime. */
  rebaseMs: number | null;
  /** With rebaseTime: the play time stamped "now" by the shift, from which later times are divided by the speed (absent in positions of older versions). */
  originMs?: number | null;
  /** The first pass's timestamp range and smallest gap, which give the loop period. */
  minMs: number | null;
  maxMs: number | null;
  stepMs: number | null;
};

const DEFAULT_STEP_MS = 1_000;
/** File times whose stamps are remembered, so that rows of one time not adjacent in the file get the same stamp. */
const MAX_REMEMBERED_STAMPS = 4_096;

/** A held-back delivery in realtime mode: a row copy with its stamped time and its play time (the file's time plus the loop shift), or a refusal. */
type Held = { row: DcgmRow; playMs: number } | { rejected: RejectedRow };

function isReplayPosition(value: unknown): value is ReplayPosition {
  if (value === null || typeof value !== 'object') return false;
  const p = value as Record<string, unknown>;
  const numberOrNull = (v: unknown): boolean => v === null || Number.isFinite(v);
  return (
    Number.isSafeInteger(p.pass) && (p.pass as number) >= 0 && 'inner' in p &&
    numberOrNull(p.rebaseMs) && numberOrNull(p.originMs ?? null) && numberOrNull(p.minMs) && numberOrNull(p.maxMs) && numberOrNull(p.stepMs)
  );
}

function copyRow(row: DcgmRow, into: DcgmRow, timestampMs: number): DcgmRow {
  Object.assign(into, row);
  into.timestampMs = timestampMs;
  return into;
}

export class ReplaySource implements Source {
  readonly id: string;
  readonly location: string;
  readonly resumable: boolean;
  private readonly inner: Source;
  private readonly mode: ReplayMode;
  private readonly speed: number;
  private readonly loop: boolean;
  private readonly rebaseTime: boolean;
  private readonly now: () => number;

  /** Throws GputelError 'BAD_CONFIG' for a speed that is not a positive number or a refused combination. */
  constructor(inner: Source, options: ReplayOptions) {
    if (options.mode !== 'asfast' && options.mode !== 'realtime') {
      throw new GputelError('BAD_CONFIG', `--replay must be asfast or realtime, got "${String(options.mode)}"`);
    }
    const speed = options.speed ?? 1;
    if (!Number.isFinite(speed) || speed <= 0) throw new GputelError('BAD_CONFIG', `--speed must be a positive number, got ${String(options.speed)}`);
    if (options.speed !== undefined && options.mode === 'asfast') {
      throw new GputelError('BAD_CONFIG', '--speed applies to --replay realtime; asfast has no pace to scale');
    }
    if (options.mode === 'asfast' && options.loop === true && options.rebaseTime === true) {
      throw new GputelError('BAD_CONFIG', '--loop with --rebase-time needs --replay realtime: as fast as possible, each pass would be stamped one file span further in the future');
    }
    // Looping and measuring read the source again from the start, which stdin cannot do.
    if (!inner.resumable && (options.loop === true || (options.mode === 'asfast' && options.rebaseTime === true))) {
      const what = options.loop === true ? '--loop' : '--replay asfast --rebase-time';
      throw new GputelError('BAD_CONFIG', `${what} reads ${inner.location} more than once, which it cannot be: give a file`);
    }
    this.inner = inner;
    this.mode = options.mode;
    this.speed = speed;
    this.loop = options.loop ?? false;
    this.rebaseTime = options.rebaseTime ?? false;
    this.now = options.now ?? Date.now;
    // Its own checkpoint: a replay's positions (pass, shift) differ from a plain read's.
    this.id = `${inner.id}-replay`;
    this.location = inner.location;
    this.resumable = inner.resumable;
  }

  /** Plays the wrapped source as described in the module comment. */
  async *read(from: SourcePosition, sink: RowSink, signal: AbortSignal): AsyncIterable<SourcePosition> {
    const state: ReplayPosition = isReplayPosition(from)
      ? { ...from }
      : { pass: 0, inner: null, rebaseMs: this.rebaseTime ? null : 0, originMs: null, minMs: null, maxMs: null, stepMs: null };
    if (state.rebaseMs === null && this.mode === 'asfast') {
      // Read once to find the last timestamp: the file is to end now.
      const range = await this.measure(signal);
      if (range === undefined) return;
      state.rebaseMs = range.maxMs === null ? 0 : this.now() - range.maxMs;
    }

    const out = emptyRow();
    // Distinct file times keep distinct stamps: at a speed where a step of the
    // file is under 1 ms, rounding would stamp two samples of one GPU alike,
    // and the store keeps one of them. A later time gets at least the last
    // stamp + 1 ms (the stamps then run slightly ahead of the pace).
    const stamps = new Map<number, number>();
    let lastPlayMs = -Infinity;
    let lastStampMs = -Infinity;
    const stampOf = (playMs: number): number => {
      let stamped = stamps.get(playMs);
      if (stamped !== undefined) return stamped;
      stamped = this.stamp(state, playMs);
      if (playMs > lastPlayMs) {
        if (stamped <= lastStampMs) stamped = lastStampMs + 1;
        lastPlayMs = playMs;
        lastStampMs = stamped;
      }
      if (stamps.size >= MAX_REMEMBERED_STAMPS) stamps.clear();
      stamps.set(playMs, stamped);
      return stamped;
    };
    let previousRawMs: number | null = null;
    let anchor: { wallMs: number; playMs: number } | undefined;
    for (;;) {
      const pass = state.pass;
      const period = pass === 0 ? 0 : this.periodOf(state);
      const held: Held[] = [];
      const passSink: RowSink = {
        row: (row) => {
          const raw = row.timestampMs;
          if (pass === 0) {
            state.minMs = state.minMs === null ? raw : Math.min(state.minMs, raw);
            state.maxMs = state.maxMs === null ? raw : Math.max(state.maxMs, raw);
            if (previousRawMs !== null && raw !== previousRawMs) {
              const gap = Math.abs(raw - previousRawMs);
              state.stepMs = state.stepMs === null ? gap : Math.min(state.stepMs, gap);
            }
            previousRawMs = raw;
          }
          const playMs = raw + pass * period;
          // realtime + rebase: the first row ever played is stamped "now".
          if (state.rebaseMs === null) {
            state.rebaseMs = this.now() - playMs;
            state.originMs = playMs;
          }
          const stamped = stampOf(playMs);
          if (this.mode === 'asfast') sink.row(copyRow(row, out, stamped));
          else held.push({ row: copyRow(row, emptyRow(), stamped), playMs });
        },
        reject: (rejected) => {
          if (this.mode === 'asfast') sink.reject(rejected);
          else held.push({ rejected });
        },
      };
      for await (const innerPosition of this.inner.read(state.inner, passSink, signal)) {
        if (held.length > 0) {
          anchor ??= this.anchorFor(held);
          if (!(await this.release(held, anchor, sink, signal))) return;
        }
        state.inner = innerPosition;
        yield { ...state };
      }
      if (signal.aborted) return;
      // Rows a source delivered after its last position are still played.
      if (held.length > 0) {
        anchor ??= this.anchorFor(held);
        if (!(await this.release(held, anchor, sink, signal))) return;
      }
      if (!this.loop || state.minMs === null) return;
      state.pass = pass + 1;
      state.inner = null;
      yield { ...state };
    }
  }

  /** Span plus sample interval of the first pass: pass k is shifted by k of these. */
  private periodOf(state: ReplayPosition): number {
    const span = (state.maxMs ?? 0) - (state.minMs ?? 0);
    return span + (state.stepMs ?? DEFAULT_STEP_MS);
  }

  /**
   * The timestamp a row playing at `playMs` gets. Without rebaseTime, its own.
   * With it, the shift makes the origin "now", and the time after the origin
   * is divided by the speed, so that in realtime every row is stamped with
   * the wall time it is delivered at: a file played 60 times faster never
   * runs ahead of the clock (its samples come 60 times closer together).
   */
  private stamp(state: ReplayPosition, playMs: number): number {
    if (!this.rebaseTime) return playMs;
    const originMs = state.originMs ?? playMs;
    return Math.round(originMs + (state.rebaseMs ?? 0) + (playMs - originMs) / this.speed);
  }

  /** The wall time the first held row is played at, and its play time: the pace is measured from them. */
  private anchorFor(held: Held[]): { wallMs: number; playMs: number } {
    const first = held.find((h): h is { row: DcgmRow; playMs: number } => 'row' in h);
    return { wallMs: this.now(), playMs: first === undefined ? 0 : first.playMs };
  }

  /** Delivers held rows at their due times, one timestamp at a time; false when aborted first. */
  private async release(held: Held[], anchor: { wallMs: number; playMs: number }, sink: RowSink, signal: AbortSignal): Promise<boolean> {
    for (const entry of held) {
      if ('rejected' in entry) {
        sink.reject(entry.rejected);
        continue;
      }
      const dueMs = anchor.wallMs + (entry.playMs - anchor.playMs) / this.speed;
      const waitMs = dueMs - this.now();
      if (waitMs > 0 && !(await abortableDelay(waitMs, signal))) return false;
      sink.row(entry.row);
    }
    held.length = 0;
    return true;
  }

  /** One read of the whole wrapped source for its timestamp range; undefined when aborted. */
  private async measure(signal: AbortSignal): Promise<{ minMs: number | null; maxMs: number | null } | undefined> {
    let minMs: number | null = null;
    let maxMs: number | null = null;
    const measuring: RowSink = {
      row: (row) => {
        minMs = minMs === null ? row.timestampMs : Math.min(minMs, row.timestampMs);
        maxMs = maxMs === null ? row.timestampMs : Math.max(maxMs, row.timestampMs);
      },
      reject: () => undefined,
    };
    for await (const _ of this.inner.read(null, measuring, signal)) {
      // Positions of the measuring read are not used.
    }
    return signal.aborted ? undefined : { minMs, maxMs };
  }
}
