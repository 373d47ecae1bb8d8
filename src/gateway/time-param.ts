/**
 * Time parameters of the API: RFC 3339 (`2026-03-02T09:15:00Z`, with an
 * offset or fractional seconds), epoch milliseconds (`1772442900000`), or a
 * time relative to now (`now`, `now-15m`, `now-1h`, `now-7d`).
 */
import { GputelError } from '../common/gputel-error.js';
import { parseRfc3339 } from '../ingest/rfc3339.js';

const RELATIVE = /^now(?:([+-])(\d+)(ms|s|m|h|d|w))?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
/** The largest time a Date holds (year 275760): beyond it no time can be written back, so it is an error, not a clamp. */
export const MAX_TIME_MS = 8.64e15;

/**
 * Parses a time parameter to epoch ms; throws BAD_REQUEST naming the
 * parameter, for a value that is not a time and for one outside the times a
 * Date holds (±8.64e15 ms, about ±275,000 years from 1970).
 */
export function parseTimeParam(raw: string, name: string, nowMs = Date.now()): number {
  const text = raw.trim();
  if (/^-?\d+$/.test(text)) return inRange(Number(text), raw, name);
  const relative = RELATIVE.exec(text);
  if (relative) {
    if (!relative[1]) return nowMs;
    const offset = Number(relative[2]) * UNIT_MS[relative[3]];
    return inRange(relative[1] === '-' ? nowMs - offset : nowMs + offset, raw, name);
  }
  // The strict parser of the ingest side: 2026-02-30 is an error, not 2 March.
  const ms = parseRfc3339(text);
  if (Number.isFinite(ms)) return inRange(ms, raw, name);
  throw new GputelError(
    'BAD_REQUEST',
    `${name} "${raw}" is not a time: use RFC 3339 (2026-03-02T09:15:00Z), epoch milliseconds, or now-15m style (units ms, s, m, h, d, w)`,
  );
}

function inRange(ms: number, raw: string, name: string): number {
  if (Math.abs(ms) <= MAX_TIME_MS) return ms;
  throw new GputelError(
    'BAD_REQUEST',
    `${name} "${raw}" is out of range: times run from -271821-04-20T00:00:00Z to +275760-09-13T00:00:00Z (epoch ms -8640000000000000 to 8640000000000000)`,
  );
}

/** RFC 3339 with milliseconds, UTC. */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString();
}
