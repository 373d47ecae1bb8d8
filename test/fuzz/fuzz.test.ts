/**
 * The fuzz properties of every target (test/fuzz/*.fuzz.ts), run briefly as
 * part of the suite: FUZZ_SUITE_RUNS inputs each, so all of them finish in
 * seconds. `npm run fuzz` runs the same properties for as long as asked
 * (docs/fuzzing.md); a failure it prints replays here with FUZZ_SEED and
 * FUZZ_PATH set.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FUZZ_TARGETS } from './fuzz-targets.js';
import { describeFailure, runFuzzProperty } from './fuzz-target.js';

/** Inputs per property in the suite: enough to catch a regression of a found bug, few enough for a time-limited CI. */
const FUZZ_SUITE_RUNS = 100;
/** No property runs longer than this in the suite, whatever the machine: the rest is the long runner's job. */
const FUZZ_SUITE_TIME_LIMIT_MS = 1_500;

const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const path = process.env.FUZZ_PATH;

for (const target of FUZZ_TARGETS) {
  describe(`fuzz: ${target.name}`, () => {
    for (const fuzz of target.properties) {
      it(fuzz.name, () => {
        const outcome = runFuzzProperty(target, fuzz, { numRuns: FUZZ_SUITE_RUNS, seed, path, timeLimitMs: FUZZ_SUITE_TIME_LIMIT_MS });
        assert.equal(outcome.failure, undefined, describeFailure(outcome));
      });
    }
  });
}
