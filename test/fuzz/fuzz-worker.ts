/**
 * The long runner's worker thread: runs the properties run-fuzz.ts selected,
 * batch by batch, and tells the main thread where it is. Properties run here,
 * not on the main thread, because a synchronous predicate that never returns
 * (catastrophic backtracking, a loop that never ends) blocks its thread for
 * good; the main thread stays free to notice and terminate this one
 * (fuzz-watchdog.ts).
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { describeFailure, reportEachFinishedInput, runFuzzProperty, type FuzzOutcome } from './fuzz-target.js';
import { loadRunnerTargets } from './fuzz-targets.js';
import { batchSeed, FINISHED_IN_BATCH, type BatchStart, type FuzzWorkerPlan, type PropertyReport } from './fuzz-worker-protocol.js';

/** Runs handed to fast-check at a time: progress shows between batches, and each batch has its own seed (printed on failure or hang). */
const RUNS_PER_BATCH = 20_000;

if (parentPort === null) throw new Error('fuzz-worker.js runs only as the worker of run-fuzz.js');
const mainThread = parentPort;
const plan = workerData as FuzzWorkerPlan;

// One shared counter, not a message per input: a message each would cost more than many of the inputs themselves.
const progress = new Int32Array(plan.progress);
reportEachFinishedInput(() => Atomics.add(progress, FINISHED_IN_BATCH, 1));

const targets = await loadRunnerTargets();
const deadlineMs = plan.timeLimitMs === undefined ? Infinity : performance.now() + plan.timeLimitMs;
for (const [index, selected] of plan.selected.entries()) {
  const target = targets.find((t) => t.name === selected.target);
  const property = target?.properties.find((p) => p.name === selected.property);
  if (target === undefined || property === undefined) throw new Error(`no property ${selected.target} / ${selected.property}`);
  // An equal share of the time left to each property still to run.
  const shareEndMs = performance.now() + (deadlineMs - performance.now()) / (plan.selected.length - index);
  let runs = 0;
  let elapsedMs = 0;
  let batch = 0;
  let failure: FuzzOutcome | undefined;
  while (runs < plan.runsEach && performance.now() < shareEndMs) {
    const start: BatchStart = {
      kind: 'batch',
      target: target.name,
      property: property.name,
      batch,
      seed: batchSeed(plan.seed, batch),
      numRuns: Math.min(RUNS_PER_BATCH, plan.runsEach - runs),
      runsBefore: runs,
    };
    // Reset before posting: once the watchdog has the message, the counter is this batch's.
    Atomics.store(progress, FINISHED_IN_BATCH, 0);
    mainThread.postMessage(start);
    const outcome = runFuzzProperty(target, property, {
      numRuns: start.numRuns,
      seed: start.seed,
      path: plan.path,
      timeLimitMs: Number.isFinite(shareEndMs) ? Math.max(1, shareEndMs - performance.now()) : undefined,
    });
    runs += outcome.runs;
    elapsedMs += outcome.elapsedMs;
    batch++;
    if (outcome.failure !== undefined) {
      failure = outcome;
      break;
    }
    if (outcome.runs === 0) break;
  }
  const report: PropertyReport = {
    kind: 'property',
    target: target.name,
    property: property.name,
    runs,
    elapsedMs,
    interrupted: runs < plan.runsEach && failure === undefined,
    failure: failure === undefined ? undefined : describeFailure(failure),
  };
  mainThread.postMessage(report);
}
