/**
 * The long fuzz run: `npm run fuzz -- --runs 10000000 [--target NAME]
 * [--property NAME] [--seed N] [--path P] [--minutes M] [--hang-after S]`.
 * Runs the properties of test/fuzz/*.fuzz.ts (the suite runs the same ones
 * briefly), `--runs` inputs in all, shared evenly between the properties
 * selected. Prints runs and elapsed time per property and per target; on a
 * failure, the seed, the path and the shrunk counterexample to replay it,
 * and exits 1. The properties run in a worker thread (fuzz-worker.ts) that
 * this thread watches (fuzz-watchdog.ts): an input that does not finish
 * within --hang-after seconds stops the run with a HANG report and the
 * command that replays it (hang-report.ts), exit 1.
 * docs/fuzzing.md says how to run it and read it.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { RUN_BUDGET_MS, type FuzzTarget } from './fuzz-target.js';
import { EXTRA_TARGETS_VARIABLE, loadRunnerTargets } from './fuzz-targets.js';
import { PROGRESS_SLOTS, type FuzzWorkerPlan, type PropertyReport, type SelectedProperty } from './fuzz-worker-protocol.js';
import { watchFuzzWorker, type Hang } from './fuzz-watchdog.js';
import { describeHang } from './hang-report.js';

/** Seconds an input may go without finishing before the watchdog calls it a hang: ten times RUN_BUDGET_MS, so a slow input is a FAIL, not a HANG. */
const DEFAULT_HANG_AFTER_SECONDS = 10;

function usage(targets: readonly FuzzTarget[], message: string): never {
  console.error(`${message}\nusage: npm run fuzz -- [--runs N] [--target ${targets.map((t) => t.name).join('|')}] [--property NAME] [--seed N] [--path P] [--minutes M] [--hang-after SECONDS]`);
  process.exit(2);
}

/** A seed for a run given none: random, but chosen here, so that every batch's seed is known and a hang can be replayed. */
function randomSeed(): number {
  return randomBytes(4).readInt32LE(0);
}

/**
 * The arguments with `--seed -N` written `--seed=-N`: parseArgs takes a value
 * starting with '-' for an option and refuses it, yet half of all seeds are
 * negative and the replay lines print them as `--seed -N`.
 */
function withNegativeSeedsJoined(args: readonly string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--seed' && /^-\d+$/.test(args[i + 1] ?? '')) joined.push(`--seed=${args[++i]}`);
    else joined.push(args[i]);
  }
  return joined;
}

/** How one property ended, as the per-target summary counts it. */
interface PropertyResult {
  target: string;
  runs: number;
  elapsedMs: number;
  verdict: 'held' | 'failed' | 'hung';
}

async function main(): Promise<number> {
  const targets = await loadRunnerTargets();
  let values;
  try {
    ({ values } = parseArgs({
      args: withNegativeSeedsJoined(process.argv.slice(2)),
      options: {
        runs: { type: 'string' },
        target: { type: 'string', multiple: true },
        property: { type: 'string' },
        seed: { type: 'string' },
        path: { type: 'string' },
        minutes: { type: 'string' },
        'hang-after': { type: 'string' },
      },
      strict: true,
    }));
  } catch (error) {
    usage(targets, error instanceof Error ? error.message : String(error));
  }
  const positive = (text: string | undefined, name: string, fallback: number): number => {
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!(value > 0) || !Number.isFinite(value)) usage(targets, `--${name} must be a positive number, got "${text}"`);
    return value;
  };
  const totalRuns = Math.floor(positive(values.runs, 'runs', 100_000));
  const timeLimitMs = values.minutes === undefined ? undefined : positive(values.minutes, 'minutes', 1) * 60_000;
  const hangAfterSeconds = positive(values['hang-after'], 'hang-after', DEFAULT_HANG_AFTER_SECONDS);
  // At most the budget, a slow input that would have finished (a FAIL, with its counterexample) is called hung instead.
  if (hangAfterSeconds * 1000 < 2 * RUN_BUDGET_MS) usage(targets, `--hang-after must be at least ${(2 * RUN_BUDGET_MS) / 1000} s (twice an input's ${RUN_BUDGET_MS / 1000} s budget, so that a slow input is a FAIL with its counterexample), got "${values['hang-after']}"`);
  const givenSeed = values.seed === undefined ? undefined : Number(values.seed);
  if (givenSeed !== undefined && !Number.isInteger(givenSeed)) usage(targets, `--seed must be an integer, got "${values.seed}"`);
  const names = (values.target ?? []).flatMap((t) => t.split(','));
  for (const name of names) if (!targets.some((t) => t.name === name)) usage(targets, `no fuzz target "${name}"`);
  const chosen = names.length === 0 ? targets : targets.filter((t) => names.includes(t.name));
  const selected: SelectedProperty[] = chosen.flatMap((target) =>
    target.properties.filter((p) => values.property === undefined || p.name === values.property).map((p) => ({ target: target.name, property: p.name })),
  );
  if (selected.length === 0) usage(targets, `no property "${values.property}" in ${chosen.map((t) => t.name).join(', ')}`);
  if (values.path !== undefined && (givenSeed === undefined || selected.length !== 1)) usage(targets, '--path replays one failure: give it with --seed, --target and --property');

  const runsEach = Math.max(1, Math.floor(totalRuns / selected.length));
  const seed = givenSeed ?? randomSeed();
  const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;
  console.log(`fuzzing ${plural(selected.length, 'property', 'properties')} of ${plural(chosen.length, 'target', 'targets')}, ${runsEach} runs each${values.minutes === undefined ? '' : `, at most ${values.minutes} min in all`}`);
  if (givenSeed === undefined) console.log(`seed: ${seed} (drawn at random; --seed ${seed} runs these batches again)`);
  const startedMs = performance.now();

  const results: PropertyResult[] = [];
  let failed = false;
  const printProperty = (report: PropertyReport): void => {
    results.push({ target: report.target, runs: report.runs, elapsedMs: report.elapsedMs, verdict: report.failure === undefined ? 'held' : 'failed' });
    const rate = report.elapsedMs > 0 ? Math.round((report.runs / report.elapsedMs) * 1000) : 0;
    console.log(`${report.failure === undefined ? 'ok  ' : 'FAIL'} ${report.target} / ${report.property}: ${report.runs} runs in ${(report.elapsedMs / 1000).toFixed(1)} s (${rate}/s)${report.interrupted ? ', stopped by the time limit' : ''}`);
    if (report.failure !== undefined) {
      failed = true;
      console.log(report.failure);
    }
  };

  const progress = new SharedArrayBuffer(PROGRESS_SLOTS * Int32Array.BYTES_PER_ELEMENT);
  const plan: FuzzWorkerPlan = { selected, runsEach, seed, path: values.path, timeLimitMs, progress };
  const worker = new Worker(new URL('./fuzz-worker.js', import.meta.url), { workerData: plan });
  const end = await watchFuzzWorker(worker, progress, hangAfterSeconds * 1000, printProperty);

  let hang: Hang | undefined;
  if (end.kind === 'hung') {
    hang = end.hang;
    const notRun = selected.slice(results.length + 1);
    results.push({ target: hang.batch.target, runs: hang.batch.runsBefore + hang.inputNumber - 1, elapsedMs: hang.propertyElapsedMs, verdict: 'hung' });
    console.log(describeHang(hang, { hangAfterSeconds, path: values.path, extraTargetsModule: process.env[EXTRA_TARGETS_VARIABLE] || undefined }, notRun));
  } else if (end.kind === 'crashed' || results.length < selected.length) {
    const error = end.kind === 'crashed' ? end.error : new Error(`the fuzz worker ended after ${results.length} of ${selected.length} properties`);
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    return 1;
  }

  console.log('\nper target:');
  for (const target of chosen) {
    const mine = results.filter((r) => r.target === target.name);
    const runs = mine.reduce((sum, r) => sum + r.runs, 0);
    const seconds = mine.reduce((sum, r) => sum + r.elapsedMs, 0) / 1000;
    const verdict = mine.some((r) => r.verdict === 'hung') ? 'HUNG' : mine.some((r) => r.verdict === 'failed') ? 'FAILED' : 'held';
    console.log(`  ${target.name.padEnd(16)} ${String(runs).padStart(10)} runs  ${seconds.toFixed(1).padStart(7)} s  ${verdict}`);
  }
  const total = results.reduce((sum, r) => sum + r.runs, 0);
  const verdict = hang !== undefined ? 'HUNG (properties after it not run)' : failed ? 'FAILED' : 'every property held';
  console.log(`total: ${total} runs in ${((performance.now() - startedMs) / 1000).toFixed(1)} s, ${verdict}`);
  return failed || hang !== undefined ? 1 : 0;
}

// exit(), not exitCode: a terminated worker blocked in a native call would keep the process alive (stdout and files are written synchronously on Linux).
process.exit(await main());
