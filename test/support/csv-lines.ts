/** Small DCGM CSV texts for file-source tests: every row recognisable by its value. */
import { DCGM_CSV_COLUMNS } from '../../src/ingest/dcgm-row.js';

export const CSV_HEADER = DCGM_CSV_COLUMNS.join(',');

/**
 * `count` data lines of GPU `GPU-{tag}` on `host-{tag}`, rows `from` onwards,
 * a second apart from 2026-03-02T08:00:00Z unless `timeOf` says otherwise;
 * row i's value is tag × 100,000 + i.
 */
export function csvLines(count: number, tag: number, from = 0, timeOf = (i: number) => Date.UTC(2026, 2, 2, 8, 0, 0) + i * 1000): string {
  let text = '';
  for (let i = from; i < from + count; i++) {
    text += `"${new Date(timeOf(i)).toISOString()}","DCGM_FI_DEV_GPU_TEMP","0","nvidia0","GPU-${tag}","NVIDIA H100","host-${tag}","","","","${tag * 100_000 + i}","gpu=""0"""\n`;
  }
  return text;
}
