/** Every fuzz target, in the order the runner and the suite run them. */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chunkCodecTarget } from './chunk-codec.fuzz.js';
import { dcgmCsvTarget } from './dcgm-csv.fuzz.js';
import type { FuzzTarget } from './fuzz-target.js';
import { gatewayParamsTarget } from './gateway-params.fuzz.js';
import { keySpaceTarget } from './key-space.fuzz.js';
import { messageCodecTarget } from './message-codec.fuzz.js';
import { nvidiaSmiLineTarget } from './nvidia-smi-line.fuzz.js';
import { prometheusTextTarget } from './prometheus-text.fuzz.js';

export const FUZZ_TARGETS: readonly FuzzTarget[] = [
  dcgmCsvTarget,
  prometheusTextTarget,
  nvidiaSmiLineTarget,
  messageCodecTarget,
  chunkCodecTarget,
  keySpaceTarget,
  gatewayParamsTarget,
];

/**
 * For tests only: the path of a compiled module whose `EXTRA_FUZZ_TARGETS`
 * the long runner offers after FUZZ_TARGETS. fuzz-watchdog.test.ts gives the
 * runner a property that hangs this way, so that the watchdog is tested
 * against a real hang while no such property ships in the list above. An
 * environment variable, not a flag: the runner's worker thread inherits it,
 * and the usage message stays about fuzzing.
 */
export const EXTRA_TARGETS_VARIABLE = 'FUZZ_EXTRA_TARGETS';

/** The targets the long runner selects from: FUZZ_TARGETS, then those of the module FUZZ_EXTRA_TARGETS names, if set. */
export async function loadRunnerTargets(): Promise<readonly FuzzTarget[]> {
  const modulePath = process.env[EXTRA_TARGETS_VARIABLE];
  if (modulePath === undefined || modulePath === '') return FUZZ_TARGETS;
  const module = (await import(pathToFileURL(resolve(modulePath)).href)) as { EXTRA_FUZZ_TARGETS?: readonly FuzzTarget[] };
  if (!Array.isArray(module.EXTRA_FUZZ_TARGETS)) throw new Error(`${EXTRA_TARGETS_VARIABLE}=${modulePath}: the module exports no EXTRA_FUZZ_TARGETS array`);
  return [...FUZZ_TARGETS, ...module.EXTRA_FUZZ_TARGETS];
}
