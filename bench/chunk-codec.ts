/**
 * Chunk codec micro-benchmark: bytes per sample, encode and decode speed of
 * format 1 (raw columns), format 2 (the stored codec), format 2 without
 * deflate, and format 2 with XOR floats only, on
 *   (a) `gputel generate` data cut into per-GPU chunks of 1, 30, 720 and 1,440
 *       records (a 4 h compaction window at 10 s, the default);
 *   (b) test/fixtures/dcgm-export-sample.csv (a real export; small) and any --file.
 * The data goes through the real parser, batcher and pivot, so the chunks are
 * those the collector writes. Speeds are medians of --runs runs. Not a test.
 *
 *   npm run bench:codec [-- --hosts 2 --gpus-per-host 8 --hours 24 --runs 5 --file F]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pivot } from '../src/collector/pivot.js';
import { generateDcgmCsv } from '../src/ingest/dcgm-generator.js';
import { DcgmCsvParser } from '../src/ingest/dcgm-csv-parser.js';
import { BatchAccumulator } from '../src/streamer/batch-accumulator.js';
import { decodeChunk, encodeChunk, sliceChunk, type Chunk } from '../src/store/chunk-codec.js';
import { encodeChunkFormat1 } from '../src/store/chunk-format-1.js';
import { columnEncodingOf, encodeChunkFormat2, type ChunkFormat2Options } from '../src/store/chunk-format-2.js';
import { DEFAULT_COMPACTION_WINDOW_MS } from '../src/store/maintenance/chunk-compactor.js';
import { median } from './median.js';

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/dcgm-export-sample.csv', import.meta.url));
/** The chunk key the issue measured (~157 bytes), charged once per chunk in the at-rest estimate. */
const KEY_BYTES = 160;
const DAY_MS = 24 * 3_600_000;
/** Records of a compacted chunk at 10 s: DEFAULT_COMPACTION_WINDOW_MS (4 h). */
const COMPACTED_RECORDS = DEFAULT_COMPACTION_WINDOW_MS / 10_000;

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

function textOption(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

/** Parses CSV text the way the streamer does and pivots it the way the collector does: one whole chunk per GPU series. */
function seriesOf(feed: (push: (text: string) => void) => Promise<void> | void): Promise<Chunk[]> {
  const accumulator = new BatchAccumulator('default', 'bench', 1);
  const parser = new DcgmCsvParser({
    onRow: (row) => accumulator.add(row),
    onReject: (rejected) => {
      throw new Error(`bench input row rejected: ${JSON.stringify(rejected)}`);
    },
  });
  return Promise.resolve(feed((text) => parser.push(Buffer.from(text)))).then(() => {
    parser.end();
    return [...accumulator.take().values()].flatMap((batch) => pivot(batch).map((block) => block.chunk));
  });
}

function windows(series: Chunk[], records: number): Chunk[] {
  const chunks: Chunk[] = [];
  for (const chunk of series) {
    for (let from = 0; from < chunk.timestampsMs.length; from += records) {
      chunks.push(sliceChunk(chunk, from, Math.min(chunk.timestampsMs.length, from + records)));
    }
  }
  return chunks;
}

function samplesIn(chunks: Chunk[]): number {
  let samples = 0;
  for (const chunk of chunks) for (const column of chunk.columns) for (const value of column) if (value === value) samples++;
  return samples;
}

interface Codec {
  name: string;
  encode: (chunk: Chunk) => Buffer;
}

const CODECS: Codec[] = [
  { name: 'format 1 (raw)', encode: encodeChunkFormat1 },
  { name: 'format 2', encode: (chunk) => encodeChunkFormat2(chunk) },
  { name: 'format 2, no deflate', encode: (chunk) => encodeChunkFormat2(chunk, { deflate: false }) },
  { name: 'format 2, XOR only', encode: (chunk) => encodeChunkFormat2(chunk, { values: 'xor' } satisfies ChunkFormat2Options) },
];

function timed(runs: number, work: () => void): number {
  const seconds: number[] = [];
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    work();
    seconds.push((performance.now() - started) / 1000);
  }
  return median(seconds);
}

function fmt(value: number, digits = 2): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function report(label: string, chunks: Chunk[], runs: number): void {
  const samples = samplesIn(chunks);
  const records = chunks.reduce((sum, chunk) => sum + chunk.timestampsMs.length, 0);
  console.log(`\n${label}: ${chunks.length} chunks, ${records} records, ${samples} samples`);
  console.log('  codec                  B/sample  +key B/sample  encode Msamples/s (MB/s)  decode Msamples/s (MB/s)');
  for (const codec of CODECS) {
    let encoded: Buffer[] = [];
    const encodeSeconds = timed(runs, () => {
      encoded = chunks.map(codec.encode);
    });
    const bytes = encoded.reduce((sum, value) => sum + value.length, 0);
    const decodeSeconds = timed(runs, () => {
      for (const value of encoded) decodeChunk(value, 'bench');
    });
    const perSample = bytes / samples;
    const withKey = (bytes + KEY_BYTES * chunks.length) / samples;
    console.log(
      `  ${codec.name.padEnd(22)} ${fmt(perSample, 3).padStart(8)}  ${fmt(withKey, 3).padStart(13)}` +
        `  ${fmt(samples / encodeSeconds / 1e6).padStart(10)} (${fmt(bytes / encodeSeconds / 1e6, 1)})` +
        `            ${fmt(samples / decodeSeconds / 1e6).padStart(10)} (${fmt(bytes / decodeSeconds / 1e6, 1)})`,
    );
  }
}

/** Per metric at this window: the encoding format 2 picks and its bytes per sample before deflate. */
function columnReport(chunks: Chunk[]): void {
  const metrics = chunks[0].metrics;
  console.log('\n  per metric (format 2 without the whole-body deflate): encoding chosen per chunk, bytes/sample');
  const kindNames = ['absent', 'scaled delta', 'scaled', 'xor'];
  for (let m = 0; m < metrics.length; m++) {
    let bytes = 0;
    let samples = 0;
    const kinds = new Map<string, number>();
    for (const chunk of chunks) {
      const one: Chunk = { ...chunk, metrics: [chunk.metrics[m]], columns: [chunk.columns[m]] };
      const none: Chunk = { ...chunk, metrics: [], columns: [] };
      const encoded = encodeChunkFormat2(one, { deflate: false });
      bytes += encoded.length - encodeChunkFormat2(none, { deflate: false }).length;
      samples += samplesIn([one]);
      const kind = kindNames[columnEncodingOf(chunk.columns[m])];
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    const chosen = [...kinds].map(([kind, count]) => `${kind}×${count}`).join(' ');
    console.log(`    ${metrics[m].padEnd(34)} ${fmt(bytes / samples, 3).padStart(7)}  ${chosen}`);
  }
}

/** What the query bench's 24 h read decodes: one GPU's day as 6 chunks of 1,440 records (compacted), 12 of 720 (2 h windows) or 288 of 30 (as written). */
function queryDecode(series: Chunk, runs: number): void {
  const day = sliceChunk(series, 0, Math.min(series.timestampsMs.length, DAY_MS / 10_000));
  const samples = samplesIn([day]);
  console.log(`\n  decoding one GPU's ${day.timestampsMs.length} records × ${day.metrics.length} metrics (${samples} samples), median of ${runs * 4} runs:`);
  for (const records of [COMPACTED_RECORDS, 720, 30]) {
    for (const [name, encode] of [['format 1', encodeChunkFormat1], ['format 2', encodeChunk]] as const) {
      const stored = windows([day], records).map(encode);
      const seconds = timed(runs * 4, () => {
        for (const value of stored) decodeChunk(value, 'bench');
      });
      console.log(`    ${records}-record chunks, ${name}: ${fmt(seconds * 1000)} ms`);
    }
  }
}

async function main(): Promise<void> {
  const hosts = option('hosts', 2);
  const gpusPerHost = option('gpus-per-host', 8);
  const hours = option('hours', 24);
  const runs = option('runs', 5);
  const file = textOption('file');
  console.log(`chunk codec bench: generated ${hosts} hosts × ${gpusPerHost} GPUs × ${hours} h at 10 s; medians of ${runs} runs (machine shared: compare ratios)`);

  const generated = await seriesOf(async (push) => {
    await generateDcgmCsv({ hosts, gpusPerHost, durationMs: hours * 3_600_000, intervalMs: 10_000, seed: 1, startMs: Date.UTC(2026, 2, 2) }, push);
  });
  for (const records of [1, 30, 720, COMPACTED_RECORDS]) {
    const chunks = windows(generated, records);
    report(`(a) generated, ${records}-record chunks`, chunks, records === 1 ? Math.min(runs, 3) : runs);
    if (records === COMPACTED_RECORDS) {
      columnReport(chunks);
      const bytes = chunks.reduce((sum, chunk) => sum + encodeChunkFormat2(chunk).length, 0);
      const samples = samplesIn(chunks);
      console.log(`\n  at rest after compaction (${COMPACTED_RECORDS}-record chunks): ${fmt(bytes / samples, 3)} B/sample chunk values` +
        ` + ${fmt((KEY_BYTES * chunks.length) / samples, 3)} B/sample for ${KEY_BYTES}-byte keys = ${fmt((bytes + KEY_BYTES * chunks.length) / samples, 3)} (target ≤ 0.6 with metadata)`);
      queryDecode(generated[0], runs);
    }
  }

  for (const path of [FIXTURE, ...(file === undefined ? [] : [file])]) {
    const series = await seriesOf((push) => push(readFileSync(path, 'utf8')));
    report(`(b) ${path === FIXTURE ? 'real export sample' : path}, one chunk per GPU series`, series, runs);
  }
}

await main();
