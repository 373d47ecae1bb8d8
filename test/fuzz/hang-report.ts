/**
 * The HANG report the long runner prints when its watchdog stopped a
 * property's input that never finished, with the command that replays that
 * batch: same target, property, batch seed and batch size, so fast-check
 * draws the same inputs in the same order and hangs on the same one.
 */
import { EXTRA_TARGETS_VARIABLE } from './fuzz-targets.js';
import type { SelectedProperty } from './fuzz-worker-protocol.js';
import type { Hang } from './fuzz-watchdog.js';

/** What the replay command must carry beyond the batch itself. */
export interface HangReplayContext {
  /** --hang-after as given, so that the replay stops as soon. */
  hangAfterSeconds: number;
  /** --path as given (it changes what the batch runs). */
  path: string | undefined;
  /** FUZZ_EXTRA_TARGETS as set (tests only): the hanging property may live there. */
  extraTargetsModule: string | undefined;
}

/** Quotes `word` for a POSIX shell when it needs it (property names hold spaces and apostrophes). */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The command that reruns the hung batch alone: its seed as --seed is that of the replay's first batch, its size as --runs. */
export function hangReplayCommand(hang: Hang, context: HangReplayContext): string {
  const { batch } = hang;
  const environment = context.extraTargetsModule === undefined ? [] : [`${EXTRA_TARGETS_VARIABLE}=${shellQuote(context.extraTargetsModule)}`];
  const args = ['--target', batch.target, '--property', batch.property, '--seed', String(batch.seed), '--runs', String(batch.numRuns)];
  if (context.path !== undefined) args.push('--path', context.path);
  args.push('--hang-after', String(context.hangAfterSeconds));
  return [...environment, 'npm', 'run', 'fuzz', '--', ...args.map(shellQuote)].join(' ');
}

/** The report: what hung, where in its batch, how to replay it, and what did not run because of it. */
export function describeHang(hang: Hang, context: HangReplayContext, notRun: readonly SelectedProperty[]): string {
  const { batch } = hang;
  return [
    `HANG ${batch.target} / ${batch.property}: input ${hang.inputNumber} of batch ${batch.batch + 1} did not finish in ${(hang.silentMs / 1000).toFixed(1)} s (--hang-after ${context.hangAfterSeconds}); its worker was terminated`,
    `  target: ${batch.target}  property: ${batch.property}`,
    `  batch seed: ${batch.seed}  batch runs: ${batch.numRuns}  hanging input: ${hang.inputNumber} (counted from 1 in the batch, shrink runs included)`,
    `  replay: ${hangReplayCommand(hang, context)}`,
    notRun.length === 0
      ? '  no other property was left to run'
      : `  not run after the hang (${notRun.length}): ${notRun.map((p) => `${p.target} / ${p.property}`).join('; ')}`,
  ].join('\n');
}
