/**
 * The long fuzz run: `npm run fuzz -- --runs 10000000 [--target NAME]
 * [--property NAME] [--seed N] [--path P] [--minutes M]`. Runs the properties
 * of test/fuzz/*.fuzz.ts (the suite runs the same ones briefly), `--runs`
 * inputs in all, shared evenly between the properties selected. Prints runs
 * and elapsed time per property and per target; on a failure, the seed, the
 * path and the shrunk counterexample to replay it, and exits 1.
 * docs/fuzzing.md says how to run it and read it.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { FUZZ_TARGETS } from './fuzz-targets.js';
import { describeFailure, runFuzzProperty, type FuzzOutcome } from './fuzz-target.js';

/** Runs handed to fast-check at a time: progress shows between batches, and each batch has its own seed (printed on failure). */
const RUNS_PER_BATCH = 20_000;

function usage(message: string): never {
  console.error(`${message}\nusage: npm run fuzz -- [--runs N] [--target ${FUZZ_TARGETS.map((t) => t.name).join('|')}] [--property NAME] [--seed N] [--path P] [--minutes M]`);
  process.exit(2);
}

function positive(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!(value > 0) || !Number.isFinite(value)) usage(`--${name} must be a positive number, got "${text}"`);
  return value;
}

function main(): number {
  let values;
  try {
    ({ values } = parseArgs({
      options: { runs: { type: 'string' }, target: { type: 'string', multiple: true }, property: { type: 'string' }, seed: { type: 'string' }, path: { type: 'string' }, minutes: { type: 'string' } },
      strict: true,
    }));
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error));
  }
  const totalRuns = Math.floor(positive(values.runs, 'runs', 100_000));
  const deadlineMs = values.minutes === undefined ? Infinity : performance.now() + positive(values.minutes, 'minutes', 1) * 60_000;
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if (seed !== undefined && !Number.isInteger(seed)) usage(`--seed must be an integer, got "${values.seed}"`);
  const names = (values.target ?? []).flatMap((t) => t.split(','));
  for (const name of names) if (!FUZZ_TARGETS.some((t) => t.name === name)) usage(`no fuzz target "${name}"`);
  const targets = names.length === 0 ? FUZZ_TARGETS : FUZZ_TARGETS.filter((t) => names.includes(t.name));
  const selected = targets.flatMap((target) => target.properties.filter((p) => values.property === undefined || p.name === values.property).map((property) => ({ target, property })));
  if (selected.length === 0) usage(`no property "${values.property}" in ${targets.map((t) => t.name).join(', ')}`);
  if (values.path !== undefined && (seed === undefined || selected.length !== 1)) usage('--path replays one failure: give it with --seed, --target and --property');

  const runsEach = Math.max(1, Math.floor(totalRuns / selected.length));
  console.log(`fuzzing ${selected.length} properties of ${targets.length} targets, ${runsEach} runs each${values.minutes === undefined ? '' : `, at most ${values.minutes} min in all`}`);
  const startedMs = performance.now();
  const outcomes: FuzzOutcome[] = [];
  let failed = false;
  for (const [index, { target, property }] of selected.entries()) {
    // An equal share of the time left to each property still to run.
    const shareEndMs = performance.now() + (deadlineMs - performance.now()) / (selected.length - index);
    let runs = 0;
    let elapsedMs = 0;
    let batch = 0;
    let failure: FuzzOutcome | undefined;
    while (runs < runsEach && performance.now() < shareEndMs) {
      // One seed per batch, derived from --seed when given, so a printed seed replays its own batch.
      const batchSeed = seed === undefined ? undefined : (seed + batch * 7919) | 0;
      const outcome = runFuzzProperty(target, property, {
        numRuns: Math.min(RUNS_PER_BATCH, runsEach - runs),
        seed: batchSeed,
        path: values.path,
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
    const outcome: FuzzOutcome = { target: target.name, property: property.name, runs, elapsedMs, failure: failure?.failure, interrupted: runs < runsEach && failure === undefined };
    outcomes.push(outcome);
    const rate = elapsedMs > 0 ? Math.round((runs / elapsedMs) * 1000) : 0;
    console.log(`${failure === undefined ? 'ok  ' : 'FAIL'} ${target.name} / ${property.name}: ${runs} runs in ${(elapsedMs / 1000).toFixed(1)} s (${rate}/s)${outcome.interrupted ? ', stopped by the time limit' : ''}`);
    if (failure !== undefined) {
      failed = true;
      console.log(describeFailure(failure));
    }
  }
  console.log('\nper target:');
  for (const target of targets) {
    const mine = outcomes.filter((o) => o.target === target.name);
    const runs = mine.reduce((sum, o) => sum + o.runs, 0);
    const seconds = mine.reduce((sum, o) => sum + o.elapsedMs, 0) / 1000;
    console.log(`  ${target.name.padEnd(16)} ${String(runs).padStart(10)} runs  ${seconds.toFixed(1).padStart(7)} s  ${mine.some((o) => o.failure !== undefined) ? 'FAILED' : 'held'}`);
  }
  const total = outcomes.reduce((sum, o) => sum + o.runs, 0);
  console.log(`total: ${total} runs in ${((performance.now() - startedMs) / 1000).toFixed(1)} s, ${failed ? 'FAILED' : 'every property held'}`);
  return failed ? 1 : 0;
}

process.exitCode = main();
