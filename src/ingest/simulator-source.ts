/**
 * A live simulated GPU fleet (default 4 hosts × 8 H100s, a sample every 10 s):
 * what `gputel start` runs when given no source, so that a newcomer's
 * dashboard fills at once and then moves.
 *
 * - It first back-fills the last hour (`backfillMs`), as fast as the consumer
 *   takes it, then emits one tick per interval on the wall clock, aligned to
 *   the interval.
 * - The values are dcgm-generator.ts's fleet: deterministic by seed, and the
 *   same values `gputel generate` writes for the same seed, start and interval.
 * - Position `{ originMs, nextMs, seed, hosts, gpusPerHost, intervalMs }`:
 *   the fleet's first tick and the next tick to emit. A restart rebuilds the
 *   fleet from the origin and fast-forwards it (without emitting) to `nextMs`,
 *   so it continues with no gap, no repeat, and the values an uninterrupted
 *   run would have had. Fast-forwarding costs ~1 s per simulated day of the
 *   default fleet; a fleet older than `maxFastForwardMs` (default 7 days)
 *   starts anew at `nextMs` instead (timestamps still continue; values jump).
 *   After a long stop, at most `maxCatchUpMs` (default 24 h) of missed ticks
 *   are emitted; older missed ticks are stepped through without rows.
 *   A position written with other settings (seed, size, interval) starts a new
 *   fleet at its `nextMs`.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { GputelError } from '../common/gputel-error.js';
import { abortableDelay } from './abortable-delay.js';
import { DcgmFleetSimulation, GENERATED_METRICS } from './dcgm-generator.js';
import { emptyRow } from './dcgm-row.js';
import type { RowSink, Source, SourcePosition } from './source.js';

/** Every simulator's source id starts so (ids also say its shape and seed). */
export const SIMULATOR_SOURCE_PREFIX = 'simulator-';

export interface SimulatorSourceOptions {
  /** Hosts, named gpu-node-01… (default 4). */
  hosts?: number;
  /** GPUs per host (default 8). */
  gpusPerHost?: number;
  /** The number of the first host (default 1): a share of a larger fleet (dcgm-generator.ts, `firstHost`). */
  firstHost?: number;
  /** Time between samples (ms, default 10 s). */
  intervalMs?: number;
  /** PRNG seed (default 1). */
  seed?: number;
  /** History emitted at once on a fresh start (ms, default 1 h; 0 for none). */
  backfillMs?: number;
  /** Longest history a restart fast-forwards through (ms, default 7 days). */
  maxFastForwardMs?: number;
  /** Longest run of missed ticks a restart emits (ms, default 24 h). */
  maxCatchUpMs?: number;
  /** The wall clock (default Date.now); tests fix it. */
  now?: () => number;
}

type SimulatorPosition = {
  originMs: number;
  nextMs: number;
  seed: number;
  hosts: number;
  gpusPerHost: number;
  intervalMs: number;
};

const HOUR_MS = 3_600_000;
/** GPU steps of a fast-forward between two turns of the event loop: ~50 ms of work. */
const FAST_FORWARD_STEPS_PER_TURN = 16_384;

function isPosition(value: unknown): value is SimulatorPosition {
  if (value === null || typeof value !== 'object') return false;
  const p = value as Record<string, unknown>;
  return ['originMs', 'nextMs', 'seed', 'hosts', 'gpusPerHost', 'intervalMs'].every((k) => Number.isSafeInteger(p[k]));
}

export class SimulatorSource implements Source {
  readonly id: string;
  readonly location: string;
  readonly resumable = true;
  private readonly hosts: number;
  private readonly gpusPerHost: number;
  private readonly firstHost: number;
  private readonly intervalMs: number;
  private readonly seed: number;
  private readonly backfillMs: number;
  private readonly maxFastForwardMs: number;
  private readonly maxCatchUpMs: number;
  private readonly now: () => number;

  /** Throws GputelError 'BAD_CONFIG' naming the bad option. */
  constructor(options: SimulatorSourceOptions = {}) {
    this.hosts = options.hosts ?? 4;
    this.gpusPerHost = options.gpusPerHost ?? 8;
    this.firstHost = options.firstHost ?? 1;
    this.intervalMs = options.intervalMs ?? 10_000;
    this.seed = options.seed ?? 1;
    this.backfillMs = options.backfillMs ?? HOUR_MS;
    this.maxFastForwardMs = options.maxFastForwardMs ?? 7 * 24 * HOUR_MS;
    this.maxCatchUpMs = options.maxCatchUpMs ?? 24 * HOUR_MS;
    this.now = options.now ?? Date.now;
    // Validates hosts, GPUs, interval and seed with the generator's own messages.
    new DcgmFleetSimulation(this.fleetOptions());
    if (!Number.isSafeInteger(this.backfillMs) || this.backfillMs < 0) {
      throw new GputelError('BAD_CONFIG', `simulator backfill must be a duration of 0 or more, got ${this.backfillMs} ms`);
    }
    // A share of a fleet (firstHost > 1) has an id of its own, so its streamer keeps its own position; the whole fleet keeps its old id.
    const share = this.firstHost === 1 ? '' : `-from-host-${this.firstHost}`;
    this.id = `${SIMULATOR_SOURCE_PREFIX}${this.hosts}x${this.gpusPerHost}-seed-${this.seed}${share}`;
    const count = `${this.hosts} ${this.hosts === 1 ? 'host' : 'hosts'}`;
    const hosts = this.firstHost === 1 ? count : `${count} from host ${this.firstHost}`;
    this.location = `simulated fleet: ${hosts} × ${this.gpusPerHost} GPUs every ${this.intervalMs} ms, seed ${this.seed}`;
  }

  private fleetOptions(): { hosts: number; gpusPerHost: number; intervalMs: number; seed: number; firstHost: number } {
    return { hosts: this.hosts, gpusPerHost: this.gpusPerHost, intervalMs: this.intervalMs, seed: this.seed, firstHost: this.firstHost };
  }

  private alignDown(ms: number): number {
    return Math.floor(ms / this.intervalMs) * this.intervalMs;
  }

  /** Emits ticks from `from` (or the back-fill start) until `signal` aborts; see the module comment. */
  async *read(from: SourcePosition, sink: RowSink, signal: AbortSignal): AsyncIterable<SourcePosition> {
    const interval = this.intervalMs;
    let originMs: number;
    let nextMs: number;
    if (isPosition(from)) {
      const same = from.seed === this.seed && from.hosts === this.hosts && from.gpusPerHost === this.gpusPerHost && from.intervalMs === interval;
      nextMs = from.nextMs;
      originMs = same && from.originMs <= from.nextMs && (from.nextMs - from.originMs) % interval === 0 ? from.originMs : from.nextMs;
    } else {
      // The first tick of the back-fill: the hour before now, aligned.
      nextMs = this.alignDown(this.now() - this.backfillMs) + (this.backfillMs === 0 ? interval : 0);
      originMs = nextMs;
    }
    // After a long stop, ticks older than maxCatchUpMs are skipped (stepped through below, not emitted).
    const oldestMs = this.now() - this.maxCatchUpMs;
    if (nextMs < oldestMs) nextMs += Math.ceil((oldestMs - nextMs) / interval) * interval;
    if (nextMs - originMs > this.maxFastForwardMs) originMs = nextMs;

    const fleet = new DcgmFleetSimulation(this.fleetOptions());
    const gpuCount = fleet.gpus.length;
    const values = new Array<string>(GENERATED_METRICS.length);
    // Fast-forward a restarted fleet to where it stopped: the values an uninterrupted run would have.
    // It takes up to seconds (~1 s per simulated day): timers, I/O and a stop get their turn between slices.
    let steps = 0;
    for (let t = originMs; t < nextMs; t += interval) {
      for (let g = 0; g < gpuCount; g++) fleet.stepGpu(g, values);
      steps += gpuCount;
      if (steps >= FAST_FORWARD_STEPS_PER_TURN) {
        steps = 0;
        await nextTurn();
        if (signal.aborted) return;
      }
    }

    const row = emptyRow();
    let lastAttribution = '';
    let attribution = ['', '', ''];
    for (;;) {
      while (nextMs <= this.now()) {
        if (signal.aborted) return;
        row.timestampMs = nextMs;
        for (let g = 0; g < gpuCount; g++) {
          const kubernetes = fleet.stepGpu(g, values);
          if (kubernetes !== lastAttribution) {
            lastAttribution = kubernetes;
            attribution = kubernetes.split('","');
          }
          const gpu = fleet.gpus[g];
          row.gpuId = gpu.gpuId;
          row.device = gpu.device;
          row.uuid = gpu.uuid;
          row.modelName = gpu.modelName;
          row.hostname = gpu.hostname;
          row.container = attribution[0];
          row.pod = attribution[1];
          row.namespace = attribution[2];
          for (let m = 0; m < GENERATED_METRICS.length; m++) {
            row.lineNumber++;
            row.metricName = GENERATED_METRICS[m];
            row.sourceMetricName = GENERATED_METRICS[m];
            row.value = Number(values[m]);
            row.labelsRaw = gpu.labelsRaw[m];
            sink.row(row);
          }
        }
        nextMs += interval;
        const position: SimulatorPosition = { originMs, nextMs, seed: this.seed, hosts: this.hosts, gpusPerHost: this.gpusPerHost, intervalMs: interval };
        yield position;
      }
      if (!(await abortableDelay(nextMs - this.now(), signal))) return;
    }
  }
}
