/**
 * Ingest benchmark: how fast DcgmCsvParser reads a DCGM CSV on one core.
 *
 * Generates a file of ≥ 1,000,000 rows with the generator into a temporary
 * directory, then parses it 3 times with parseDcgmCsvFile and prints the
 * median in rows/s and MB/s, with the ratio to the 450k rows/s that a
 * specialised parser reached on the reference machine (MEASUREMENTS.md).
 * `readline` line events over the same file are timed too: the reference
 * machine did 419k lines/s there, so that figure calibrates this machine.
 *
 * Newlines counted over the same file (bench/count-newlines.ts) are the
 * reference `npm run bench` sets the parser beside (issue 10).
 *
 * Run: npx tsc -p tsconfig.json && node dist/bench/parse-dcgm.js [rows] [readBytes] [--json FILE]
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { generateDcgmCsv, countGeneratedRows, GENERATED_METRICS } from '../src/ingest/dcgm-generator.js';
import { parseDcgmCsvFile } from '../src/ingest/csv-file-source.js';
import { RowEnrichment } from '../src/ingest/row-enrichment.js';
import { countNewlines } from './count-newlines.js';
import { jsonPathArgument, positionalArguments, writeFigures } from './figures-file.js';
import { median } from './median.js';

const REFERENCE_PARSER_ROWS_PER_S = 450_000;
const REFERENCE_READLINE_LINES_PER_S = 419_000;
const RUNS = 3;

function format(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

async function writeFile(path: string, rows: number): Promise<{ rows: number; seconds: number }> {
  const hosts = 8;
  const gpusPerHost = 8;
  const intervalMs = 10_000;
  const ticks = Math.ceil(rows / (hosts * gpusPerHost * GENERATED_METRICS.length));
  const options = { hosts, gpusPerHost, intervalMs, durationMs: ticks * intervalMs, seed: 42, startMs: Date.UTC(2026, 2, 2, 9, 15) };
  const out = createWriteStream(path);
  const started = performance.now();
  const result = await generateDcgmCsv(options, (chunk) => {
    if (!out.write(chunk)) return new Promise<void>((resolve) => out.once('drain', resolve));
  });
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  const seconds = (performance.now() - started) / 1000;
  if (result.rows !== countGeneratedRows(options)) throw new Error('generator row count mismatch');
  return { rows: result.rows, seconds };
}

/** Times the read loop and parser; with `enrich`, also the streamer's shared enrichment step on every row. */
async function timeParser(path: string, readBytes: number, enrich = false): Promise<{ seconds: number; rows: number }> {
  let rows = 0;
  let checksum = 0;
  const enrichment = enrich ? new RowEnrichment() : undefined;
  const started = performance.now();
  const result = await parseDcgmCsvFile(
    path,
    {
      onRow(row) {
        if (enrichment !== undefined && enrichment.apply(row) !== undefined) throw new Error(`unexpected refusal of line ${row.lineNumber}`);
        rows++;
        checksum += row.value;
      },
      onReject(rejected) {
        throw new Error(`unexpected rejection: line ${rejected.lineNumber}: ${rejected.reason}`);
      },
    },
    { highWaterMark: readBytes },
  );
  const seconds = (performance.now() - started) / 1000;
  if (result.stats.rowsRead !== rows || !Number.isFinite(checksum)) throw new Error('parser count mismatch');
  return { seconds, rows };
}

async function timeReadline(path: string): Promise<number> {
  let lines = 0;
  const started = performance.now();
  const reader = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of reader) if (line.length > 0) lines++;
  return lines / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  const [rowsArgument, readBytesArgument] = positionalArguments();
  const wantedRows = Number(rowsArgument ?? 1_000_000);
  const readBytes = Number(readBytesArgument ?? 256 * 1024);
  const jsonPath = jsonPathArgument();
  const dir = await mkdtemp(join(tmpdir(), 'gputel-bench-'));
  try {
    const path = join(dir, 'dcgm.csv');
    const generated = await writeFile(path, wantedRows);
    const bytes = (await stat(path)).size;
    console.log(
      `generated ${format(generated.rows)} rows, ${(bytes / 1e6).toFixed(1)} MB in ${generated.seconds.toFixed(2)} s ` +
        `(${format(generated.rows / generated.seconds)} rows/s, written to disk)`,
    );

    // One untimed pass warms the JIT and the page cache.
    await timeParser(path, readBytes);
    const times: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const { seconds } = await timeParser(path, readBytes);
      times.push(seconds);
      console.log(`  run ${run + 1}: ${format(generated.rows / seconds)} rows/s`);
    }
    const seconds = median(times);
    const rowsPerS = generated.rows / seconds;
    console.log(
      `parser (read size ${readBytes / 1024} KiB), median of ${RUNS}: ${format(rowsPerS)} rows/s, ` +
        `${(bytes / seconds / 1e6).toFixed(0)} MB/s, ${(rowsPerS / REFERENCE_PARSER_ROWS_PER_S).toFixed(2)}× the ` +
        `${format(REFERENCE_PARSER_ROWS_PER_S)} rows/s reference`,
    );

    const enrichedTimes: number[] = [];
    for (let run = 0; run < RUNS; run++) enrichedTimes.push((await timeParser(path, readBytes, true)).seconds);
    const enrichedSeconds = median(enrichedTimes);
    console.log(
      `parser + shared enrichment (what the streamer runs), median of ${RUNS}: ${format(generated.rows / enrichedSeconds)} rows/s ` +
        `(${((enrichedSeconds / seconds - 1) * 100).toFixed(1)}% over the parser alone)`,
    );

    const readlineRates: number[] = [];
    for (let run = 0; run < RUNS; run++) readlineRates.push(await timeReadline(path));
    const readlineRate = median(readlineRates);
    console.log(
      `readline on the same file: ${format(readlineRate)} lines/s ` +
        `(${(readlineRate / REFERENCE_READLINE_LINES_PER_S).toFixed(2)}× the reference machine's ` +
        `${format(REFERENCE_READLINE_LINES_PER_S)}); parser / readline = ${(rowsPerS / readlineRate).toFixed(2)}`,
    );

    const newlineTimes: number[] = [];
    let newlines = 0;
    for (let run = 0; run < RUNS; run++) {
      const started = performance.now();
      newlines = await countNewlines(path, readBytes);
      newlineTimes.push((performance.now() - started) / 1000);
    }
    const newlinesPerS = newlines / median(newlineTimes);
    console.log(`counting newlines of the same file: ${format(newlinesPerS)} lines/s; parser / newline count = ${(rowsPerS / newlinesPerS).toFixed(2)}`);
    writeFigures(jsonPath, {
      rows: generated.rows,
      bytes,
      readBytes,
      runs: RUNS,
      parserRowsPerS: rowsPerS,
      parserWithEnrichmentRowsPerS: generated.rows / enrichedSeconds,
      readlineLinesPerS: readlineRate,
      newlines,
      newlinesPerS,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
