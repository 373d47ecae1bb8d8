/** Durations on the command line: `500ms`, `10s`, `15m`, `1h`, `7d`. */
import { GputelError } from '../common/gputel-error.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string, name: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match || Number(match[1]) <= 0) {
    throw new GputelError('BAD_CONFIG', `${name} "${text}" is not a duration: use a positive number with ms, s, m, h or d (e.g. 10s, 1h)`);
  }
  return Math.round(Number(match[1]) * UNIT_MS[match[2]]);
}
