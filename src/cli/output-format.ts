/**
 * How a client command prints: a table for people on a terminal, JSON for
 * scripts (the default when stdout is not a terminal), unless --output says.
 */
import { GputelError } from '../common/gputel-error.js';

export type OutputFormat = 'json' | 'table';

/** The format `--output` names, or the one stdout calls for. Throws BAD_CONFIG for anything else. */
export function outputFormat(option: unknown, isTty = process.stdout.isTTY === true): OutputFormat {
  if (option === undefined) return isTty ? 'table' : 'json';
  if (option === 'json' || option === 'table') return option;
  throw new GputelError('BAD_CONFIG', `--output ${JSON.stringify(option)}: use json or table`);
}

/** Columns padded to their widest cell, two spaces apart. */
export function formatTable(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  return cells.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]))).join('  ')).join('\n') + '\n';
}

/** A short age for people: 850ms, 12.3s, 4m05s, 2h10m. */
export function formatAge(ms: number): string {
  if (ms < 1_000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}s`;
  return `${Math.floor(ms / 3_600_000)}h${String(Math.floor((ms % 3_600_000) / 60_000)).padStart(2, '0')}m`;
}

/** Quotes text from the store for a terminal: control characters escaped, long text cut. */
export function printable(text: string, max = 100): string {
  const escaped = JSON.stringify(text).slice(1, -1);
  return escaped.length > max ? `${escaped.slice(0, max - 1)}…` : escaped;
}
