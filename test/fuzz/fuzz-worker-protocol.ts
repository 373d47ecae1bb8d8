/**
 * What the long runner's main thread (run-fuzz.ts, the watchdog) and its
 * worker thread (fuzz-worker.ts, which runs the properties) tell each other.
 */

/** One property to run, by name: the worker loads the same targets, so the names find the same property. */
export interface SelectedProperty {
  target: string;
  property: string;
}

/** The worker's workerData: everything it needs to run the whole selection. */
export interface FuzzWorkerPlan {
  selected: SelectedProperty[];
  runsEach: number;
  /** Seed of each property's first batch; batch b runs with batchSeed(seed, b), so the runner knows every batch's seed. */
  seed: number;
  /** Replay one failure: fast-check's path, with the seed. */
  path: string | undefined;
  /** All properties together stop after this long (each its equal share of what is left); undefined: no limit. */
  timeLimitMs: number | undefined;
  /** Int32Array over it; slot FINISHED_IN_BATCH counts the inputs the current batch has finished. */
  progress: SharedArrayBuffer;
}

/** The progress slot: reset at each batch's start, incremented (Atomics.add) after each input, read by the watchdog. */
export const FINISHED_IN_BATCH = 0;
export const PROGRESS_SLOTS = 1;

/** The seed of a property's batch `batch` (from 0): distinct per batch, and derived from the run's seed so a printed seed replays its own batch. */
export function batchSeed(seed: number, batch: number): number {
  return (seed + batch * 7919) | 0;
}

/** Posted before each batch runs: what the watchdog names if the batch never ends. */
export interface BatchStart {
  kind: 'batch';
  target: string;
  property: string;
  /** From 0, per property. */
  batch: number;
  seed: number;
  numRuns: number;
  /** Inputs this property ran in its earlier batches. */
  runsBefore: number;
}

/** Posted after each property: what the runner prints for it. */
export interface PropertyReport {
  kind: 'property';
  target: string;
  property: string;
  runs: number;
  elapsedMs: number;
  /** True when the time limit stopped it before its runs (not a failure). */
  interrupted: boolean;
  /** describeFailure's text when the property failed; undefined when it held. */
  failure: string | undefined;
}

export type FuzzWorkerMessage = BatchStart | PropertyReport;
