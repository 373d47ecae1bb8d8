/**
 * The charts' time range: a preset ("now" mode: the last 15 min … 7 d, ending
 * at the newest sample and following new ones live) or a custom from/to.
 * In the URL as `range=1h`, or `from=…&to=…` (RFC 3339).
 */
export const PRESETS = [
  ['15m', '15 min', 15 * 60_000],
  ['1h', '1 h', 3_600_000],
  ['6h', '6 h', 6 * 3_600_000],
  ['24h', '24 h', 24 * 3_600_000],
  ['7d', '7 d', 7 * 86_400_000],
] as const;

export const DEFAULT_RANGE = '1h';

export type TimeRange = { mode: 'now'; preset: string; spanMs: number } | { mode: 'custom'; startMs: number; endMs: number };

/** The range a URL asks for: from/to when both parse and from < to, else its preset, else 1 h. */
export function rangeFromQuery(query: URLSearchParams): TimeRange {
  const from = Date.parse(query.get('from') ?? '');
  const to = Date.parse(query.get('to') ?? '');
  if (!Number.isNaN(from) && !Number.isNaN(to) && from < to) return { mode: 'custom', startMs: from, endMs: to };
  const preset = PRESETS.find(([name]) => name === query.get('range')) ?? PRESETS.find(([name]) => name === DEFAULT_RANGE);
  const [name, , spanMs] = preset ?? PRESETS[1];
  return { mode: 'now', preset: name, spanMs };
}

/**
 * The window to read: a custom range as given; "now" mode ends at `newestMs`
 * (the newest sample of what is shown: the wall clock for a live GPU, and
 * still the GPU's last data for a stale one or a replayed export).
 */
export function windowOf(range: TimeRange, newestMs: number): { startMs: number; endMs: number } {
  return range.mode === 'custom' ? { startMs: range.startMs, endMs: range.endMs } : { startMs: newestMs - range.spanMs, endMs: newestMs };
}

/** The query parameters of a range, for links. */
export function rangeQuery(range: TimeRange): Record<string, string> {
  return range.mode === 'custom' ? { from: new Date(range.startMs).toISOString(), to: new Date(range.endMs).toISOString() } : { range: range.preset };
}

const LOCAL_TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$/;

/**
 * A time typed in a range field: `2026-12-01 06:31[:20]` in the browser's
 * zone (as the page shows times), or RFC 3339 with its own zone
 * (`2026-12-01T06:31:20Z`, `…+01:00`). NaN for anything else, or a date
 * that does not exist (`2026-02-30`).
 */
export function parseTypedTime(text: string): number {
  const trimmed = text.trim();
  const local = LOCAL_TIME.exec(trimmed);
  if (local === null) return /(Z|[+-]\d{2}:\d{2})$/i.test(trimmed) ? Date.parse(trimmed) : NaN;
  const [year, month, day, hour, minute, second] = local.slice(1).map((part) => Number(part ?? '0'));
  const at = new Date(year, month - 1, day, hour, minute, second);
  // Date rolls an impossible day or hour over (Feb 30 → Mar 2): refuse it instead.
  return at.getMonth() === month - 1 && at.getDate() === day && at.getHours() === hour ? at.getTime() : NaN;
}
