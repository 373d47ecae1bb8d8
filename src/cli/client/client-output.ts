/**
 * One description of a command's columns serves all three formats: JSON is
 * the API's `data` exactly (JSON.stringify of it, nothing added), CSV the
 * raw values under the API's field names, the table the same columns for
 * people (units, colours, ages), every stored text in it through printable().
 */
import { csvLine, formatCsv, printable, renderTable, type OutputFormat, type TerminalColors } from '../output-format.js';

export type CsvValue = string | number | boolean | null | undefined;

export interface Column<T> {
  /** The CSV header: the API's field name. */
  name: string;
  /** The table header. */
  title: string;
  /** The raw value for CSV. */
  value(row: T): CsvValue;
  /** The table cell (colours allowed); default: the value, `-` when there is none. */
  cell?(row: T, colors: TerminalColors): string;
  /** Numbers read best right-aligned. */
  right?: boolean;
}

/** A value as a table shows it by default. */
function plainCell(value: CsvValue): string {
  return value === null || value === undefined || value === '' ? '-' : String(value);
}

/**
 * `value` with every string in it, nested ones too, through printable():
 * stored text (hostnames, models, pods, ids) may hold terminal escapes, and
 * a cell's own colour codes must be the only ones that reach the terminal.
 * Filtering the row before the cells are made covers every column, custom
 * cells included, without each one having to remember it. Not cut: a cell
 * shows the whole value.
 */
function printableRow<T>(value: T): T {
  if (typeof value === 'string') return printable(value, Number.POSITIVE_INFINITY) as T;
  if (Array.isArray(value)) return value.map(printableRow) as T;
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([name, field]) => [name, printableRow(field)])) as T;
  return value;
}

/** A row's table cells, one per column, made from its printable() text (colours allowed). */
export function tableCells<T>(columns: readonly Column<T>[], row: T, colors: TerminalColors): string[] {
  const shown = printableRow(row);
  return columns.map((column) => (column.cell ? column.cell(shown, colors) : plainCell(column.value(shown))));
}

export function csvHeader<T>(columns: readonly Column<T>[]): string {
  return csvLine(columns.map((column) => column.name));
}

export function csvRow<T>(columns: readonly Column<T>[], row: T): string {
  return csvLine(columns.map((column) => column.value(row)));
}

/**
 * The output of a list command: `data` as JSON, or `rows` (the items of
 * `data`, or what a command derives from it) by `columns`.
 */
export function formatList<T>(format: OutputFormat, data: unknown, rows: readonly T[], columns: readonly Column<T>[], colors: TerminalColors): string {
  if (format === 'json') return `${JSON.stringify(data)}\n`;
  if (format === 'csv') return formatCsv(columns.map((c) => c.name), rows.map((row) => columns.map((c) => c.value(row))));
  return renderTable(
    columns.map((c) => c.title),
    rows.map((row) => tableCells(columns, row, colors)),
    { rightAligned: columns.flatMap((c, i) => (c.right ? [i] : [])) },
  );
}

/**
 * The output of a command about one thing (a GPU, a summary): JSON as
 * formatList, CSV one row, the table one field a line.
 */
export function formatDetail<T>(format: OutputFormat, data: unknown, row: T, columns: readonly Column<T>[], colors: TerminalColors): string {
  if (format !== 'table') return formatList(format, data, [row], columns, colors);
  const width = Math.max(...columns.map((c) => c.title.length));
  const cells = tableCells(columns, row, colors);
  return columns.map((c, i) => `${colors.bold(c.title.padEnd(width))}  ${cells[i]}`).join('\n') + '\n';
}
