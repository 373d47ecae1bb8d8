/**
 * `gputel watch`: records live from the gateway's WebSocket stream (`/ws`,
 * docs/websocket.md), one line each as it arrives, until Ctrl-C (exit 0),
 * --count records or --for a while. A gateway that goes away ends it with
 * UNAVAILABLE (EXIT.GATEWAY_UNREACHABLE).
 */
import { Command } from 'commander';
import type WebSocket from 'ws';
import { GputelError, type ErrorCode } from '../../common/gputel-error.js';
import type { ApiGpu, ApiRecord } from '../../gateway/api-schemas.js';
import { parseDuration } from '../duration.js';
import { printable, type OutputFormat, type TerminalColors } from '../output-format.js';
import { clientContextOf, withClientOptions } from './client-options.js';
import { csvHeader, csvRow, tableCells, type Column } from './client-output.js';
import type { GatewayClient } from './gateway-client.js';
import { gpuLabel } from './human-units.js';
import { GPU_LABEL_COLUMN, IDENTITY_CSV_COLUMNS, TIME_COLUMN, metricColumns, metricsOption } from './record-columns.js';
import { writeOutputNow } from './write-output.js';

/** The subscription's id: the one subscription of this connection. */
const SUBSCRIPTION_ID = 'watch';
/** The gateway pings every 30 s: without a ping or a frame for this long, the connection is dead. */
const SILENCE_LIMIT_MS = 75_000;

/** What the close codes a client sees most mean (RFC 6455, 7.4.1), for a close without a reason. */
const CLOSE_REASONS: Record<number, string> = { 1001: 'the gateway is going away', 1005: 'no reason given', 1006: 'the connection was lost', 1008: 'policy violation', 1011: 'a gateway fault' };

interface ServerFrame {
  type: string;
  id?: string;
  data?: ApiRecord;
  count?: number;
  error?: { code?: string; message?: string };
}

/** Unwritten output (bytes) past which records are dropped rather than queued: a reader that stalled. */
const MAX_QUEUED_OUTPUT_BYTES = 4 * 1024 * 1024;

/** The codes a refused subscription may carry, kept so that the exit code says what went wrong. */
const FRAME_CODES = new Set<ErrorCode>(['BAD_REQUEST', 'GPU_NOT_FOUND', 'CONFLICT', 'NOT_FOUND', 'KV_UNAVAILABLE']);

/** The table's widths before any record: a time without milliseconds, a short GPU label, a metric's usual value. */
function initialWidth(column: Column<ApiRecord>): number {
  if (column === TIME_COLUMN) return '2026-03-02 09:15:00Z'.length;
  if (column === GPU_LABEL_COLUMN) return 14;
  return Math.max(9, column.title.length);
}

/** Writes each record in the format, a header first where the format has one. */
export class RecordPrinter {
  private readonly columns: Column<ApiRecord>[];
  private readonly widths: number[] = [];

  constructor(
    private readonly format: OutputFormat,
    metrics: string[] | undefined,
    private readonly colors: TerminalColors,
    /** The GPU labels (gpuLabel()) the table's GPU column should fit from the start: the subscription's GPUs. */
    knownLabels: readonly string[] = [],
  ) {
    const metricCols = metricColumns(metrics);
    this.columns = format === 'csv' ? [TIME_COLUMN, ...IDENTITY_CSV_COLUMNS, ...metricCols] : [TIME_COLUMN, GPU_LABEL_COLUMN, ...metricCols];
    // A stream has no "widest cell" to measure in advance: the GPU column
    // fits the subscription's GPUs as the gateway lists them now, every
    // other column a usual value; a wider cell later widens its column and
    // the header is printed again above the line, aligned anew.
    this.widths = this.columns.map((c) =>
      c === GPU_LABEL_COLUMN ? Math.max(initialWidth(c), ...knownLabels.map((label) => printable(label, Number.POSITIVE_INFINITY).length)) : initialWidth(c),
    );
  }

  header(): string {
    if (this.format === 'csv') return csvHeader(this.columns);
    if (this.format === 'table') return this.line(this.columns.map((c) => c.title)) + '\n';
    return '';
  }

  record(record: ApiRecord): string {
    if (this.format === 'json') return `${JSON.stringify(record)}\n`;
    if (this.format === 'csv') return csvRow(this.columns, record);
    const cells = tableCells(this.columns, record, this.colors);
    let widened = false;
    cells.forEach((cell, i) => {
      if (shownLength(cell) > this.widths[i]) {
        this.widths[i] = shownLength(cell);
        widened = true;
      }
    });
    return `${widened ? this.header() : ''}${this.line(cells)}\n`;
  }

  private line(cells: string[]): string {
    return cells
      .map((cell, i) => {
        const pad = ' '.repeat(Math.max(0, this.widths[i] - shownLength(cell)));
        return this.columns[i].right ? pad + cell : cell + pad;
      })
      .join('  ')
      .trimEnd();
  }
}

/** How many columns a cell takes: colour codes take no room (stored text's own escapes were made printable). */
function shownLength(text: string): number {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, '').length;
}

/**
 * The labels of the GPUs a subscription takes, as the gateway lists them
 * now, for the table's widths: those of the hosts and ids given (an id as
 * the API's id, the UUID or hostname:gpu_id), or every GPU.
 */
async function subscribedLabels(client: GatewayClient, ids: string[], hosts: string[]): Promise<string[]> {
  const list = await client.get<{ data: ApiGpu[] }>('/api/v1/gpus');
  return list.data
    .filter((gpu) => (hosts.length === 0 || hosts.includes(gpu.hostname)) && (ids.length === 0 || ids.includes(gpu.id) || ids.includes(gpu.uuid) || ids.includes(`${gpu.hostname}:${gpu.gpu_id}`)))
    .map(gpuLabel);
}

function countOption(raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  const text = String(raw);
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new GputelError('BAD_CONFIG', `--count "${text}" must be a whole number of records, at least 1`);
  return Number(text);
}

function listOption(raw: unknown): string[] {
  return raw === undefined ? [] : String(raw).split(',').map((s) => s.trim()).filter((s) => s !== '');
}

export function watchCommand(): Command {
  return withClientOptions(new Command('watch'))
    .description('stream new records live (WebSocket /ws), one line each, until Ctrl-C, --count or --for; JSON is one record per line')
    .argument('[ids...]', 'only these GPUs (ids from gputel gpus; a UUID takes every series of that GPU)')
    .option('--host <hostnames>', 'only the GPUs of these hosts, comma-separated (hosts not seen yet are fine)')
    .option('--metrics <names>', 'only these metrics, comma-separated (records that sampled none are not shown)')
    .option('--count <n>', 'stop after n records')
    .option('--for <duration>', 'stop after this long, e.g. 30s, 5m')
    .action(async (ids: string[], options: Record<string, unknown>) => {
      const count = countOption(options.count);
      const forMs = options.for === undefined ? undefined : parseDuration(String(options.for), '--for');
      const metrics = metricsOption(options.metrics);
      const hosts = listOption(options.host);
      const { client, format, colors } = clientContextOf(options);
      const printer = new RecordPrinter(format, metrics, colors, format === 'table' ? await subscribedLabels(client, ids, hosts) : []);
      const socket = await client.openWebSocket('/ws');
      const subscribe = { type: 'subscribe', id: SUBSCRIPTION_ID, ...(ids.length > 0 ? { gpus: ids } : {}), ...(hosts.length > 0 ? { hosts } : {}), ...(metrics ? { metrics } : {}) };
      socket.send(JSON.stringify(subscribe));
      await follow(socket, client.baseUrl, printer, { count, forMs, what: describe(ids, hosts) });
    });
}

function describe(ids: string[], hosts: string[]): string {
  const parts = [...(ids.length > 0 ? [`GPU ${ids.join(', ')}`] : []), ...(hosts.length > 0 ? [`host ${hosts.join(', ')}`] : [])];
  return parts.length === 0 ? 'every GPU' : parts.join(' on ');
}

/**
 * Prints the subscription's records until it ends: resolves on a signal,
 * --count or --for; rejects when the gateway refuses the subscription or
 * the connection ends without being asked to.
 */
function follow(socket: WebSocket, baseUrl: string, printer: RecordPrinter, options: { count?: number; forMs?: number; what: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    let printed = 0;
    let done = false;
    let silence: NodeJS.Timeout | undefined;
    const forTimer = options.forMs === undefined ? undefined : setTimeout(() => finish(), options.forMs);
    const onSignal = (): void => finish();
    // A reader slower than the stream (a pager left alone): records past
    // MAX_QUEUED_OUTPUT_BYTES of unwritten output are dropped and counted,
    // as the gateway does for a slow socket, rather than held in memory
    // without bound. The socket is still read: pausing it would leave the
    // gateway's pings unread, and the gateway closes a client that does not
    // read for 30 s. A reader that went away ends the command with exit 0
    // (writeOutputNow()).
    let dropped = 0;
    const reportDropped = (): void => {
      process.stderr.write(`dropped ${dropped} record(s): stdout was not read fast enough\n`);
      dropped = 0;
    };
    /** Answers whether the record was printed (not dropped). */
    const printRecord = (record: ApiRecord): boolean => {
      if (process.stdout.writableLength > MAX_QUEUED_OUTPUT_BYTES) {
        if (dropped++ === 0) process.stdout.once('drain', reportDropped);
        return false;
      }
      writeOutputNow(printer.record(record));
      return true;
    };

    function finish(error?: Error): void {
      if (done) return;
      done = true;
      clearTimeout(forTimer);
      clearTimeout(silence);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.stdout.off('drain', reportDropped);
      if (dropped > 0) reportDropped();
      socket.removeAllListeners();
      socket.on('error', () => {}); // nothing more to report
      socket.terminate();
      if (error) reject(error);
      else resolve();
    }
    const heard = (): void => {
      clearTimeout(silence);
      silence = setTimeout(
        () => finish(new GputelError('UNAVAILABLE', `the gateway at ${baseUrl} went silent (no ping for ${SILENCE_LIMIT_MS / 1000} s): the connection is gone; check it runs and run gputel watch again`, { retryable: true })),
        SILENCE_LIMIT_MS,
      );
    };

    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    heard();
    socket.on('ping', heard);
    socket.on('message', (data) => {
      heard();
      let frame: ServerFrame;
      try {
        frame = JSON.parse(String(data)) as ServerFrame;
      } catch {
        finish(new GputelError('UNAVAILABLE', `${baseUrl}/ws sent a frame that is not JSON: is --gateway a gputel gateway?`));
        return;
      }
      if (frame.type === 'record' && frame.data !== undefined) {
        if (printRecord(frame.data)) printed++;
        if (options.count !== undefined && printed >= options.count) finish();
      } else if (frame.type === 'subscribed') {
        process.stderr.write(`watching ${options.what} at ${baseUrl} (Ctrl-C to stop)\n`);
        writeOutputNow(printer.header());
      } else if (frame.type === 'dropped') {
        process.stderr.write(`the gateway dropped ${frame.count ?? 'some'} record(s): this client did not read fast enough\n`);
      } else if (frame.type === 'error') {
        const code = frame.error?.code as ErrorCode | undefined;
        const message = `the gateway refused the subscription: ${frame.error?.message === undefined ? 'no reason given' : printable(frame.error.message, Number.POSITIVE_INFINITY)}`;
        finish(new GputelError(code !== undefined && FRAME_CODES.has(code) ? code : 'BAD_REQUEST', code === 'GPU_NOT_FOUND' ? `${message} (gputel gpus lists the ids)` : message));
      }
    });
    socket.on('close', (code, reason) => {
      const why = `code ${code}, ${reason.length > 0 ? printable(reason.toString()) : (CLOSE_REASONS[code] ?? 'no reason given')}`;
      finish(new GputelError('UNAVAILABLE', `the gateway at ${baseUrl} closed the stream (${why}): check that it runs, then run gputel watch again`, { retryable: true }));
    });
    socket.on('error', (error) => finish(new GputelError('UNAVAILABLE', `the stream from ${baseUrl} failed (${error.message}): run gputel watch again`, { retryable: true, cause: error })));
  });
}
