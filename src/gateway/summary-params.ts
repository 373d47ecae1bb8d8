/** The parameters of a fleet or host summary, shared by REST and GraphQL: the idle window and threshold. */
import { parseDurationMs } from '../common/config.js';
import { GputelError } from '../common/gputel-error.js';
import { SUMMARY_MAX_WINDOW_MS, SUMMARY_MIN_WINDOW_MS } from '../store/fleet-summary.js';

export const DEFAULT_WINDOW = '1h';
export const DEFAULT_IDLE_THRESHOLD = 5;
const WEEK_MS = 7 * 86_400_000;

/** The window in ms; throws BAD_REQUEST naming the parameter, the value and what is allowed. */
export function parseWindow(raw: string): number {
  // Weeks as step and times take them (1w is the longest window); the other units as every duration setting.
  const weeks = /^(\d+(?:\.\d+)?)w$/.exec(raw.trim());
  const ms = weeks ? Math.round(Number(weeks[1]) * WEEK_MS) : parseDurationMs(raw);
  if (Number.isNaN(ms)) throw new GputelError('BAD_REQUEST', `window "${raw}" is not a duration: use a number with s, m, h, d or w, from 1m to 7d (e.g. 15m, 1h, 7d, 1w)`);
  if (ms < SUMMARY_MIN_WINDOW_MS) throw new GputelError('BAD_REQUEST', `window "${raw}" is shorter than 1m, the finest utilisation bucket`);
  if (ms > SUMMARY_MAX_WINDOW_MS) throw new GputelError('BAD_REQUEST', `window "${raw}" is longer than 7d, the longest window the utilisation rollups keep`);
  return ms;
}
