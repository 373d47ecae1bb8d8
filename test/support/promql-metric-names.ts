/**
 * The metric names a PromQL expression reads, for checking a dashboard
 * against what gputel exports. Not a PromQL parser: it removes what cannot
 * be a metric name (strings, label matchers, range and offset durations,
 * grouping clauses) and keeps the identifiers that are not functions,
 * aggregations or keywords. Histogram and summary series (`_bucket`, `_sum`,
 * `_count`) are reported under their family's name by `metricFamilyOf`.
 */
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'inf', 'nan']);

export function promqlMetricNames(expression: string): string[] {
  const stripped = expression
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ') // string literals
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // range and subquery durations
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\boffset\s+-?[0-9a-z]+/gi, ' ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const name = match[0];
    const after = stripped.slice(match.index + name.length).trimStart();
    if (after.startsWith('(')) continue; // a function or an aggregation
    if (KEYWORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names];
}

/**
 * The family a series name belongs to among `families` (name → type as
 * `# TYPE` declares it): the name itself, or for `X_bucket`, `X_sum` and
 * `X_count` the histogram or summary X. Undefined when no family has it.
 */
export function metricFamilyOf(name: string, families: ReadonlyMap<string, string>): string | undefined {
  if (families.has(name)) return name;
  const suffix = /_(bucket|sum|count)$/.exec(name);
  if (!suffix) return undefined;
  const base = name.slice(0, -suffix[0].length);
  const type = families.get(base);
  if (type === 'histogram' || (type === 'summary' && suffix[1] !== 'bucket')) return base;
  return undefined;
}
