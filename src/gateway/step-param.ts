/** The `step` parameter of downsampled telemetry: a whole number and a unit, `500ms`, `10s`, `5m`, `1h`, `1d`, `1w`. */
import { GputelError } from '../common/gputel-error.js';

const STEP = /^(\d{1,13})(ms|s|m|h|d|w)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
/** Longest step: one bucket a year is the coarsest view that still says something. */
export const MAX_STEP_MS = 366 * 86_400_000;

/** Parses a step to ms; throws BAD_REQUEST naming the parameter. */
export function parseStepParam(raw: string, name = 'step'): number {
  const match = STEP.exec(raw.trim());
  const stepMs = match ? Number(match[1]) * UNIT_MS[match[2]] : NaN;
  if (!(stepMs >= 1 && stepMs <= MAX_STEP_MS)) {
    throw new GputelError('BAD_REQUEST', `${name} "${raw}" is not a step: use a whole number with ms, s, m, h, d or w (e.g. 30s, 5m, 1h), from 1ms to 366d`);
  }
  return stepMs;
}
