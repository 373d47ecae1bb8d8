/** Every fuzz target, in the order the runner and the suite run them. */
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
