/**
 * How a client command prints: a table for people on a terminal, JSON for
 * scripts (the default when stdout is not a terminal), unless --output says;
 * CSV for spreadsheets where a command offers it.
 */
import Table from 'cli-table3';
import picocolors from 'picocolors';
import { GputelError } from '../common/gputel-error.js';
import { quoteInput } from '../ingest/quote-input.js';

export type OutputFormat = 'json' | 'table' | 'csv';

/**
 * The format `--output` names, or the one stdout calls for. `formats` are
 * those the command offers (json and table unless it says). Throws
 * BAD_CONFIG for anything else.
 */
export function outputFormat(option: unknown, isTty = process.stdout.isTTY === true, formats: readonly OutputFormat[] = ['json', 'table']): OutputFormat {
  if (option === undefined) return isTty ? 'table' : 'json';
  if (formats.includes(option as OutputFormat)) return option as OutputFormat;
  throw new GputelError('BAD_CONFIG', `--output ${JSON.stringify(option)}: use ${formats.slice(0, -1).join(', ')} or ${formats[formats.length - 1]}`);
}

/** Columns padded to their widest cell, two spaces apart. */
export function formatTable(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  return cells.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]))).join('  ')).join('\n') + '\n';
}

/** A short age for people: 850ms, 12.3s, 4m05s, 2h10m, 3d04h (from 48 h on: hours alone stop being readable). */
export function formatAge(ms: number): string {
  if (ms < 1_000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}s`;
  if (ms < 172_800_000) return `${Math.floor(ms / 3_600_000)}h${String(Math.floor((ms % 3_600_000) / 60_000)).padStart(2, '0')}m`;
  return `${Math.floor(ms / 86_400_000)}d${String(Math.floor((ms % 86_400_000) / 3_600_000)).padStart(2, '0')}h`;
}

/**
 * Text from the store (or a server) made safe for a terminal: every control
 * character (C0, DEL, C1: ESC, BEL, CSI, NUL, line breaks) shown as a `\xNN`
 * escape, so that a hostname like `evil\x1b]0;pwned\x07` cannot retitle,
 * clear or move the terminal, and a backslash doubled so that an escape seen
 * was made here; text longer than `max` characters is cut (`...`). The one
 * filter of table cells, `watch` lines and quoted values: it is the
 * ingest's quoteInput(), so input quoted in a rejection and output shown in
 * a table are escaped alike. Never throws.
 */
export function printable(text: string, max = 100): string {
  return quoteInput(text, max);
}

/** One CSV field (RFC 4180): quoted, quotes doubled, when it holds a comma, a quote or a line break; null and undefined are empty. */
export function csvField(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One CSV record with its CRLF line ending (RFC 4180). */
export function csvLine(fields: readonly (string | number | boolean | null | undefined)[]): string {
  return `${fields.map(csvField).join(',')}\r\n`;
}

/** A header row and the rows, as RFC 4180 CSV. */
export function formatCsv(header: readonly string[], rows: readonly (readonly (string | number | boolean | null | undefined)[])[]): string {
  return csvLine(header) + rows.map(csvLine).join('');
}

/**
 * A borderless table (cli-table3) whose cells may hold colour codes: widths
 * count what shows, not the escapes. cli-table3's own colours are off, so
 * that colour is only what terminalColors() allows.
 */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[], options: { rightAligned?: readonly number[] } = {}): string {
  const table = new Table({
    head: [...header],
    chars: {
      top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
      bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
      left: '', 'left-mid': '', mid: '', 'mid-mid': '',
      right: '', 'right-mid': '', middle: '  ',
    },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
    colAligns: header.map((_, column) => (options.rightAligned?.includes(column) ? 'right' : 'left')),
  });
  table.push(...rows.map((row) => [...row]));
  // cli-table3 pads the last column too: trailing spaces only make copied lines dirty.
  return `${table.toString().split('\n').map((line) => line.trimEnd()).join('\n')}\n`;
}

export type TerminalColors = ReturnType<typeof picocolors.createColors>;

/**
 * Colours for stdout: on only on a terminal and without NO_COLOR (set and
 * not empty, as no-color.org says); FORCE_COLOR turns them on anyway unless
 * NO_COLOR is set. Decided here rather than by picocolors' own test, which
 * also colours piped output under CI=1.
 */
export function terminalColors(env: NodeJS.ProcessEnv = process.env, isTty = process.stdout.isTTY === true): TerminalColors {
  const noColor = env.NO_COLOR !== undefined && env.NO_COLOR !== '';
  const forced = env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return picocolors.createColors(!noColor && (forced || isTty));
}
