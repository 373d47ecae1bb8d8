/** Durations on the command line: `500ms`, `10s`, `15m`, `1h`, `7d`. */
import { parseDurationMs } from '../common/config.js';
import { GputelError } from '../common/gputel-error.js';

export function parseDuration(text: string, name: string): number {
  const ms = parseDurationMs(text);
  if (!(ms > 0)) {
    throw new GputelError('BAD_CONFIG', `${name} "${text}" is not a duration: use a positive number with ms, s, m, h or d (e.g. 10s, 1h)`);
  }
  return ms;
}
