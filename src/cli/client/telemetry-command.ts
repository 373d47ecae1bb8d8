/**
 * `gputel telemetry ID`: a GPU's records over a time range, raw or
 * downsampled, every page followed (GET /api/v1/gpus/{id}/telemetry).
 */
import { Command } from 'commander';
import { GputelError } from '../../common/gputel-error.js';
import type { ApiRecord } from '../../gateway/api-schemas.js';
import { parseStepParam } from '../../gateway/step-param.js';
import { parseTimeParam } from '../../gateway/time-param.js';
import { AGGREGATIONS } from '../../store/downsampler.js';
import { clientContextOf, withClientOptions } from './client-options.js';
import { csvHeader, csvRow, formatList } from './client-output.js';
import type { Query } from './gateway-client.js';
import { writeOutput } from './write-output.js';
import { IDENTITY_CSV_COLUMNS, TIME_COLUMN, metricColumns, metricsOption } from './record-columns.js';

/** Records per page by default: the API's most, so that a long range takes few round trips. */
const PAGE_LIMIT = 10_000;
const DURATION = /^\d+(?:ms|s|m|h|d|w)$/;

/**
 * A time option as the API takes it: a bare duration (`1h`) means that long
 * before now (`now-1h`); RFC 3339, epoch ms and `now-15m` pass as they are.
 * Checked here with the gateway's own parser, so a typo is BAD_CONFIG naming
 * the option, not a round trip.
 */
export function timeOption(raw: unknown, name: string): string | undefined {
  if (raw === undefined) return undefined;
  const text = String(raw).trim();
  const time = DURATION.test(text) ? `now-${text}` : text;
  try {
    parseTimeParam(time, name);
  } catch (error) {
    throw new GputelError('BAD_CONFIG', `${error instanceof Error ? error.message : String(error)}; or a duration back from now (1h, 30m)`);
  }
  return time;
}

function positiveInteger(raw: unknown, name: string, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const text = String(raw);
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) throw new GputelError('BAD_CONFIG', `${name} "${text}" must be a whole number from 1 to ${max}`);
  return Number(text);
}

/** The API's query of the command's options, checked (BAD_CONFIG names the option). */
function telemetryQuery(options: Record<string, unknown>): Query {
  if (options.step !== undefined) {
    try {
      parseStepParam(String(options.step), '--step');
    } catch (error) {
      throw new GputelError('BAD_CONFIG', error instanceof Error ? error.message : String(error));
    }
  }
  if (options.agg !== undefined && !(AGGREGATIONS as readonly string[]).includes(String(options.agg))) {
    throw new GputelError('BAD_CONFIG', `--agg "${String(options.agg)}": use ${AGGREGATIONS.join(', ')}`);
  }
  if (options.step !== undefined && options.maxPoints !== undefined) {
    throw new GputelError('BAD_CONFIG', '--step and --max-points exclude each other: give the bucket width, or the most buckets and let the gateway pick the width');
  }
  const since = timeOption(options.since, '--since');
  const until = timeOption(options.until, '--until');
  // Checked here too, so that the message names the options rather than the API's parameters.
  const nowMs = Date.now();
  if (since !== undefined && until !== undefined && parseTimeParam(until, '--until', nowMs) < parseTimeParam(since, '--since', nowMs)) {
    throw new GputelError('BAD_CONFIG', `--until ${String(options.until)} is before --since ${String(options.since)}: a bare duration means that long before now, so --since needs the longer one`);
  }
  return {
    start_time: since,
    end_time: until,
    metrics: metricsOption(options.metrics)?.join(','),
    step: options.step as string | undefined,
    agg: options.agg as string | undefined,
    max_points: positiveInteger(options.maxPoints, '--max-points', 100_000),
    limit: positiveInteger(options.pageSize, '--page-size', PAGE_LIMIT) ?? PAGE_LIMIT,
  };
}

export function telemetryCommand(): Command {
  return withClientOptions(new Command('telemetry'))
    .description("a GPU's telemetry over a time range, raw or downsampled; JSON is every page's data in one array")
    .argument('<id>', 'a GPU id from gputel gpus')
    .option('--since <time>', 'from this time: a duration back from now (1h, 30m, 7d), RFC 3339, epoch ms or now-15m; 0 for everything', '1h')
    .option('--until <time>', 'up to this time, in the same forms (default: the newest sample)')
    .option('--metrics <names>', 'only these metrics, comma-separated: named fields (power_draw, temperature, …) or DCGM_FI_* names')
    .option('--step <width>', 'downsample into buckets of this width: 30s, 1m, 1h')
    .option('--max-points <n>', 'downsample into at most n buckets (the gateway picks the step)')
    .option('--page-size <n>', `records (or buckets) per request, 1-${PAGE_LIMIT} (default ${PAGE_LIMIT}); smaller for a proxy that limits answer sizes`)
    .option('--agg <aggregation>', `aggregation of each bucket: ${AGGREGATIONS.join(', ')} (default avg; with --step or --max-points)`)
    .action(async (id: string, options: Record<string, unknown>) => {
      const query = telemetryQuery(options);
      const { client, format, colors } = clientContextOf(options);
      const selection = metricsOption(options.metrics);
      const metricCols = metricColumns(selection);
      const csvColumns = [TIME_COLUMN, ...IDENTITY_CSV_COLUMNS, ...metricCols];
      const path = `/api/v1/gpus/${encodeURIComponent(id)}/telemetry`;
      // JSON and CSV are written page by page (a week at 1 s is 600,000
      // records), each page waiting until stdout took the last one; a table
      // needs every row for its widths.
      const tableRows: ApiRecord[] = [];
      let pages = 0;
      let written = 0;
      let cursor: string | null | undefined;
      do {
        let page: { data: ApiRecord[]; next_cursor: string | null };
        try {
          page = await client.get<{ data: ApiRecord[]; next_cursor: string | null }>(path, { ...query, cursor: cursor ?? undefined });
        } catch (error) {
          throw pages === 0 || format === 'table' ? error : incomplete(error, format, pages, written);
        }
        if (format === 'json') {
          let text = pages === 0 ? '[' : '';
          for (const record of page.data) text += `${written++ > 0 ? ',' : ''}${JSON.stringify(record)}`;
          await writeOutput(text);
        } else if (format === 'csv') {
          await writeOutput(`${pages === 0 ? csvHeader(csvColumns) : ''}${page.data.map((record) => csvRow(csvColumns, record)).join('')}`);
          written += page.data.length;
        } else {
          tableRows.push(...page.data);
        }
        pages++;
        cursor = page.next_cursor;
      } while (cursor);
      if (format === 'json') await writeOutput(']\n');
      if (format === 'table') {
        if (tableRows.length === 0) process.stderr.write(`no records of ${id} in that range (--since ${String(options.since)}${options.until === undefined ? '' : ` --until ${String(options.until)}`}): gputel gpu ${id} shows its newest sample\n`);
        else await writeOutput(formatList(format, tableRows, tableRows, [TIME_COLUMN, ...metricCols], colors));
      }
    });
}

/**
 * The error of a page that failed after earlier pages were printed: the
 * same code (so the same exit code), its message saying that the output is
 * cut. JSON is left without its closing `]` on purpose: a parser then fails
 * rather than take part of the range for all of it.
 */
function incomplete(error: unknown, format: 'json' | 'csv', pages: number, written: number): unknown {
  if (!(error instanceof GputelError)) return error;
  const cut = format === 'json' ? 'the JSON array is left unclosed' : 'the CSV rows stop there';
  return new GputelError(error.code, `${error.message} (the output is incomplete: ${written} record(s) of ${pages} page(s) were printed before this failure; ${cut})`, {
    retryable: error.retryable,
    cause: error,
    details: error.details === undefined ? undefined : { ...error.details },
  });
}
