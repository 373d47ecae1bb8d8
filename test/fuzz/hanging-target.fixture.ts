/**
 * A fuzz target for fuzz-watchdog.test.ts only, never in FUZZ_TARGETS: one
 * property whose predicate never returns for one digit, as a parser caught in
 * catastrophic backtracking would, and one that holds. The runner offers it
 * only when FUZZ_EXTRA_TARGETS names this module (fuzz-targets.ts).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fuzzProperty, type FuzzTarget } from './fuzz-target.js';

/** The digit that hangs: any seed draws it within a few dozen inputs, and seldom first, so the input's number is worth checking. */
const HANGING_DIGIT = 7;
const digit = fc.integer({ min: 0, max: 9 });

const hangingTarget: FuzzTarget = {
  name: 'hanging',
  properties: [
    fuzzProperty(`never returns for the digit ${HANGING_DIGIT}`, digit, (drawn) => {
      if (drawn !== HANGING_DIGIT) return;
      for (;;) {
        // A synchronous loop that never ends: only Worker.terminate() stops it.
      }
    }),
    fuzzProperty("a digit's value is under 10", digit, (drawn) => assert.ok(drawn < 10)),
  ],
};

export const EXTRA_FUZZ_TARGETS: readonly FuzzTarget[] = [hangingTarget];
