/**
 * What a fuzz target is, and how its properties run. The same properties run
 * in the test suite (fuzz.test.ts, a few hundred runs each, seconds in all)
 * and in the long runner (run-fuzz.ts, `npm run fuzz`), so a property that
 * fails in a long run is replayed by the suite with the seed and path it
 * prints (docs/fuzzing.md).
 */
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { GputelError, type ErrorCode } from '../../src/common/gputel-error.js';

/**
 * Longest any one input may take. A synchronous predicate cannot be
 * interrupted, so a slow input shows up as a run over this budget once it
 * returns (a super-linear parse of a long line takes seconds; every linear
 * one here takes milliseconds on the slowest CI machine). An input that
 * never returns is the long runner's watchdog's to catch (run-fuzz.ts).
 */
export const RUN_BUDGET_MS = 1_000;

/** One named property of a target: what every input must give. */
export interface FuzzProperty {
  name: string;
  property: fc.IProperty<never>;
}

/** One module under fuzz: its properties, run together by name. */
export interface FuzzTarget {
  /** The name `--target` selects (kebab-case, as the module's file). */
  name: string;
  properties: FuzzProperty[];
}

/** Called after every input of every property, whether it held or threw; a no-op unless the long runner's worker listens. */
let onInputFinished: () => void = () => {};

/**
 * Calls `listener` after each input any property finishes (shrink runs
 * included). The long runner's worker counts them for its watchdog
 * (fuzz-worker.ts): an input that never finishes is a hang.
 */
export function reportEachFinishedInput(listener: () => void): void {
  onInputFinished = listener;
}

/** The failure of a run that took longer than RUN_BUDGET_MS. */
class RunOverBudget extends Error {}

/**
 * A property whose predicate must also finish within RUN_BUDGET_MS: a run
 * over it fails like a broken assertion, and fast-check shrinks it (shrinking
 * keeps the smallest input still over the budget).
 */
export function fuzzProperty<Ts extends [unknown, ...unknown[]]>(
  name: string,
  ...args: [...arbitraries: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> }, predicate: (...values: Ts) => void]
): FuzzProperty {
  const predicate = args[args.length - 1] as (...values: Ts) => void;
  const arbitraries = args.slice(0, -1) as { [K in keyof Ts]: fc.Arbitrary<Ts[K]> };
  const timed = (...values: Ts): void => {
    const startedMs = performance.now();
    try {
      predicate(...values);
    } finally {
      onInputFinished();
    }
    const tookMs = performance.now() - startedMs;
    if (tookMs > RUN_BUDGET_MS) throw new RunOverBudget(`one input took ${tookMs.toFixed(0)} ms, over the ${RUN_BUDGET_MS} ms budget: a hang or a super-linear path`);
  };
  const property = fc.property(...arbitraries, timed) as unknown as fc.IProperty<never>;
  return { name, property };
}

/**
 * Runs `call`: it must return, or throw a GputelError with one of `codes`.
 * Anything else thrown (TypeError, RangeError, a string, another code) is
 * rethrown as a failure naming it. Returns the result, or undefined after a
 * typed error.
 */
export function resultOrTypedError<T>(call: () => T, codes: readonly ErrorCode[]): T | undefined {
  try {
    return call();
  } catch (error) {
    if (error instanceof GputelError && codes.includes(error.code)) return undefined;
    const what = error instanceof GputelError ? `GputelError ${error.code}` : error instanceof Error ? `${error.constructor.name}` : typeof error;
    throw new Error(`threw ${what} where a result or GputelError ${codes.join('/')} was due: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/** How one property ran. */
export interface FuzzOutcome {
  target: string;
  property: string;
  runs: number;
  elapsedMs: number;
  /** fast-check's run details when the property failed; undefined when it held. */
  failure: fc.RunDetails<unknown> | undefined;
  /** True when the time limit stopped it before `runs` (not a failure). */
  interrupted: boolean;
}

export interface FuzzRunOptions {
  numRuns: number;
  seed?: number;
  /** Stop the property after this long, as a pass of the runs done so far. */
  timeLimitMs?: number;
  /** Replay one failure: the path fast-check printed with its seed. */
  path?: string;
}

/** Runs one property and reports how it went; never throws for a failing property. */
export function runFuzzProperty(target: FuzzTarget, fuzz: FuzzProperty, options: FuzzRunOptions): FuzzOutcome {
  const startedMs = performance.now();
  const details = fc.check(fuzz.property, {
    numRuns: options.numRuns,
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    ...(options.path === undefined ? {} : { path: options.path }),
    ...(options.timeLimitMs === undefined ? {} : { interruptAfterTimeLimit: options.timeLimitMs, markInterruptAsFailure: false }),
  });
  return {
    target: target.name,
    property: fuzz.name,
    runs: details.numRuns,
    elapsedMs: performance.now() - startedMs,
    failure: details.failed ? (details as unknown as fc.RunDetails<unknown>) : undefined,
    interrupted: details.interrupted,
  };
}

/** The counterexample and how to replay it, as the runner and the suite print it. */
export function describeFailure(outcome: FuzzOutcome): string {
  const failure = outcome.failure;
  if (failure === undefined) return `${outcome.target} / ${outcome.property}: held`;
  const error = failure.errorInstance;
  return [
    `${outcome.target} / ${outcome.property}: FAILED after ${failure.numRuns} runs (${failure.numShrinks} shrinks)`,
    `  seed: ${failure.seed}  path: ${failure.counterexamplePath ?? '(none)'}`,
    `  replay: npm run fuzz -- --target ${outcome.target} --property '${outcome.property}' --seed ${failure.seed} --path ${failure.counterexamplePath ?? ''}`,
    `  counterexample: ${failure.counterexample === null ? '(none)' : fc.stringify(failure.counterexample).slice(0, 2_000)}`,
    `  error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  ].join('\n');
}
