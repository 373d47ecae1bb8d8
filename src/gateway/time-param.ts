/**
 * Time parameters of the API: RFC 3339 (`2026-03-02T09:15:00Z`, with an
 * offset or fractional seconds), epoch milliseconds (`1772442900000`), or a
 * time relative to now (`now`, `now-15m`, `now-1h`, `now-7d`).
 */
import { GputelError } from '../common/gputel-error.js';
import { parseRfc3339 } from '../ingest/rfc3339.js';

const RELATIVE = /^now(?:([+-])(\d+)(ms|s|m|h|d|w))?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parses a time parameter to epoch ms; throws BAD_REQUEST naming the parameter. */
export function parseTimeParam(raw: string, name: string, nowMs = Date.now()): number {
  const text = raw.trim();
  if (/^\d{1,16}$/.test(text)) return Number(text);
  const relative = RELATIVE.exec(text);
  if (relative) {
    if (!relative[1]) return nowMs;
    const offset = Number(relative[2]) * UNIT_MS[relative[3]];
    return relative[1] === '-' ? nowMs - offset : nowMs + offset;
  }
  // The strict parser of the ingest side: 2026-02-30 is an error, not 2 March.
  const ms = parseRfc3339(text);
  if (Number.isFinite(ms)) return ms;
  throw new GputelError(
    'BAD_REQUEST',
    `${name} "${raw}" is not a time: use RFC 3339 (2026-03-02T09:15:00Z), epoch milliseconds, or now-15m style (units ms, s, m, h, d, w)`,
  );
}

/** RFC 3339 with milliseconds, UTC. */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString();
}
