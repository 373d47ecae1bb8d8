/**
 * Label values taken from input (source ids, scrape URLs) with a bound on
 * how many distinct ones a process exports: each distinct value is a time
 * series in every Prometheus that scrapes it, and a glob over thousands of
 * files must not become thousands of series. Values past the bound are
 * counted under one overflow value, so totals stay exact.
 */
export const OVERFLOW_LABEL_VALUE = 'other';
/** Longest label value kept; longer ones are cut (a value is for reading, not for parsing). */
const MAX_LABEL_CHARS = 200;

export class BoundedLabelValues {
  private readonly known = new Set<string>();

  /** `maxValues`: distinct values exported before the rest fall under OVERFLOW_LABEL_VALUE. */
  constructor(private readonly maxValues: number) {}

  /** The label value to use for `raw`: itself (cut to 200 characters) while the bound allows, else the overflow value. */
  valueOf(raw: string): string {
    const value = raw.length > MAX_LABEL_CHARS ? raw.slice(0, MAX_LABEL_CHARS) : raw;
    if (this.known.has(value)) return value;
    if (this.known.size >= this.maxValues) return OVERFLOW_LABEL_VALUE;
    this.known.add(value);
    return value;
  }
}
