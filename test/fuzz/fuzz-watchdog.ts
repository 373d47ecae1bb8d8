/**
 * The long runner's watchdog, on the main thread: it watches the worker that
 * runs the properties (fuzz-worker.ts) and stops it when no input has
 * finished for too long. RUN_BUDGET_MS (fuzz-target.ts) only judges an input
 * once it returns; an input that never returns would otherwise stall the run
 * forever. Worker.terminate() stops even a synchronous infinite loop.
 */
import { performance } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';
import { FINISHED_IN_BATCH, type BatchStart, type FuzzWorkerMessage, type PropertyReport } from './fuzz-worker-protocol.js';

/** How long the report waits for a terminated worker to be gone. */
const TERMINATE_WAIT_MS = 5_000;

/** Where the worker was stuck when the watchdog stopped it. */
export interface Hang {
  batch: BatchStart;
  /** The input that never finished, from 1 in its batch (shrink runs included): the same number in a replay of the batch. */
  inputNumber: number;
  /** How long no input had finished. */
  silentMs: number;
  /** How long the property had run, from its first batch, when it was stopped. */
  propertyElapsedMs: number;
}

/** How the worker's run ended. */
export type WorkerEnd = { kind: 'finished' } | { kind: 'hung'; hang: Hang } | { kind: 'crashed'; error: unknown };

/** How often the counter is read: often enough to stop a hang close to --hang-after, rarely enough to cost nothing. */
function pollIntervalMs(hangAfterMs: number): number {
  return Math.min(1_000, Math.max(50, hangAfterMs / 10));
}

/**
 * Watches `worker` until it ends, handing each property's report to
 * `onProperty`. Resolves 'hung' after terminating the worker when its
 * progress counter has not moved for `hangAfterMs` within a batch. Loading
 * the targets, before the first batch, is not watched: nothing to blame yet.
 */
export function watchFuzzWorker(worker: Worker, progress: SharedArrayBuffer, hangAfterMs: number, onProperty: (report: PropertyReport) => void): Promise<WorkerEnd> {
  const finishedInBatch = new Int32Array(progress);
  return new Promise((resolve) => {
    let current: BatchStart | undefined;
    let propertyStartedMs = 0;
    let lastCount = 0;
    let lastProgressMs = performance.now();
    let ended = false;
    const end = (result: WorkerEnd): void => {
      if (ended) return;
      ended = true;
      clearInterval(poll);
      resolve(result);
    };

    const poll = setInterval(() => {
      if (current === undefined || ended) return;
      const count = Atomics.load(finishedInBatch, FINISHED_IN_BATCH);
      const nowMs = performance.now();
      if (count !== lastCount) {
        lastCount = count;
        lastProgressMs = nowMs;
        return;
      }
      if (nowMs - lastProgressMs < hangAfterMs) return;
      const hang: Hang = { batch: current, inputNumber: count + 1, silentMs: nowMs - lastProgressMs, propertyElapsedMs: nowMs - propertyStartedMs };
      ended = true;
      clearInterval(poll);
      // The report waits for the worker to be gone, so that nothing it still prints lands after it; but not for
      // ever: a worker blocked in a native call may never end, and the hang is reported all the same.
      let reported = false;
      const hung = (): void => {
        if (reported) return;
        reported = true;
        clearTimeout(terminateWait);
        resolve({ kind: 'hung', hang });
      };
      const terminateWait = setTimeout(hung, TERMINATE_WAIT_MS);
      worker.terminate().then(hung, hung);
    }, pollIntervalMs(hangAfterMs));

    worker.on('message', (message: FuzzWorkerMessage) => {
      if (ended) return;
      if (message.kind === 'batch') {
        current = message;
        if (message.batch === 0) propertyStartedMs = performance.now();
        lastCount = Atomics.load(finishedInBatch, FINISHED_IN_BATCH);
        lastProgressMs = performance.now();
      } else {
        onProperty(message);
      }
    });
    worker.on('error', (error) => end({ kind: 'crashed', error }));
    worker.on('exit', (code) => end(code === 0 ? { kind: 'finished' } : { kind: 'crashed', error: new Error(`the fuzz worker exited with code ${code}`) }));
  });
}
