/**
 * Writing `DcgmRow.labelsRaw` for sources that are not CSV files (scrape,
 * nvidia-smi): the same doubled-quote form a DCGM CSV export carries
 * (`k=""v"",k2=""v2""`, see labels-raw.ts), so that the driver version, MIG
 * labels and anything else reach the batch accumulator exactly as they do
 * from a file. Sources build it once per series, never per sample.
 */

/**
 * Formats labels as a CSV export's labels_raw holds them: sorted by name in
 * byte order (as Prometheus and dcgm-exporter sort them), each value escaped
 * for the Prometheus text format (`\\`, `\"`, `\n`) and then every quote
 * doubled.
 *
 * Contract: parseLabelsRaw(formatLabelsRaw(m)) equals m for label names of
 * `[A-Za-z_][A-Za-z0-9_]*` and any values. Never throws; the caller owns the
 * string.
 */
export function formatLabelsRaw(labels: Iterable<readonly [string, string]>): string {
  const sorted = [...labels].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  let out = '';
  for (const [name, value] of sorted) {
    const escaped = value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
    out += `${out === '' ? '' : ','}${name}=""${escaped.replaceAll('"', '""')}""`;
  }
  return out;
}
