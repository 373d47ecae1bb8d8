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

/** A time as a datetime-local input's value (local time, minutes). */
export function localInputValue(ms: number): string {
  const date = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return date.toISOString().slice(0, 16);
}
