/**
 * Chunk format 2: the compressed per-GPU chunk. Byte layout, and the
 * measurements behind each choice, in docs/chunk-format.md ("Format 2").
 *
 * In short: delta-of-delta timestamps; per metric column a presence bitmap
 * (left out when the column is full) and the present values either as
 * scaled decimal integers (delta or plain, whichever is smaller, zigzagged
 * into an integer block: varints when short, byte planes each deflated on
 * its own when long) or, for values that are not short decimals, Gorilla XOR
 * floats; attributions as strings with run-length indexes; known DCGM metric
 * names as one-byte codes; the whole body deflated when that saves enough.
 *
 * Deterministic: the same chunk gives the same bytes (for a given zlib build;
 * see the doc), and every decode is bit-exact.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { GputelError } from '../common/gputel-error.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import type { Attribution, Chunk } from './chunk-codec.js';
import { readIntegerBlock, writeIntegerBlock } from './integer-block.js';
import { KNOWN_METRIC_CODES, KNOWN_METRIC_NAMES } from './known-metric-names.js';
import { readXorFloats, writeXorFloats } from './xor-float-codec.js';
import { unzigzag, zigzag } from './zigzag.js';

export const CHUNK_FORMAT_COMPRESSED = 2;

// Header (before the body): version byte, flags byte, body length varint.
/** Flag: the body is deflateRaw'd (kept only when that saves BODY_DEFLATE_MIN_SAVING bytes). */
export const FLAG_DEFLATED = 0x01;
/**
 * Each deflated body costs every read an inflateRawSync call (5-15 µs here):
 * below this saving it is not worth it. Measured: 1-record chunks save ~4
 * bytes (and decoded 17× slower), 30-record chunks ~270, 720-record ~100.
 */
export const BODY_DEFLATE_MIN_SAVING = 64;
/**
 * Deflate is not even tried on a smaller body: a deflateRawSync call costs
 * 50-100 µs here (zlib's state is set up per call), which on the 1-record
 * chunks of a large fleet was 3-6 µs per sample, for nothing (they saved ~4 bytes).
 */
export const BODY_DEFLATE_MIN_BYTES = 256;
const KNOWN_FLAGS = FLAG_DEFLATED;

// Timestamp encodings (one byte).
/** Zigzag varints of the first time and the first delta, then an integer block of the zigzagged deltas of deltas. */
export const TIMES_DELTA_OF_DELTA = 0;
/** Raw little-endian float64 per record: times that are not integers within ±TIME_DOD_LIMIT_MS. */
export const TIMES_RAW_FLOAT64 = 1;
/** Integer times up to ±2^48 ms (±8,900 years) keep every delta of delta within ±2^50, exact as a double. */
export const TIME_DOD_LIMIT_MS = 2 ** 48;

// Column header byte: the value encoding in the low bits, COLUMN_SPARSE on top.
export const COLUMN_KIND_MASK = 0x0f;
/** No present value: no bitmap, no payload. */
export const COLUMN_ABSENT = 0;
/** Scale byte, zigzag varint of the first round(v·10^scale), then an integer block of the zigzagged differences of the rest. */
export const COLUMN_SCALED_DELTA = 1;
/** Scale byte, then an integer block of the zigzagged round(v·10^scale) themselves (noise around a level, where deltas are wider). */
export const COLUMN_SCALED = 2;
/** A Gorilla XOR bit run (xor-float-codec.ts), byte-aligned at its end. */
export const COLUMN_XOR = 3;
/** A presence bitmap of ceil(R/8) bytes follows the header byte: bit r (LSB first) set = record r has a value. */
export const COLUMN_SPARSE = 0x80;
/** Decimal scales tried: 0 (integers) to 9 digits after the point. */
export const MAX_DECIMAL_SCALE = 9;
/** Scaled integers stay within ±2^50 so that deltas and zigzag stay exact doubles. */
export const SCALED_LIMIT = 2 ** 50;

// Limits: a corrupt length can never make the decoder allocate more than this.
/** Records × metrics in one chunk (16 MiB of float64 columns). splitChunk keeps collector chunks far below. */
export const MAX_CHUNK_VALUES = 2 ** 21;
export const MAX_METRICS = 65_536;
/** The uncompressed body: also the most inflate may produce. */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;

const POWERS_OF_TEN = Array.from({ length: MAX_DECIMAL_SCALE + 1 }, (_, scale) => 10 ** scale);

/** Encoder options; the defaults are format 2 as stored. The other settings exist for the codec benchmark. */
export interface ChunkFormat2Options {
  /** 'auto' (default): scaled decimals where exact, else XOR. 'xor': every column as XOR floats. */
  values?: 'auto' | 'xor';
  /** Try deflate on the body (default true). */
  deflate?: boolean;
}

/** The bytes of a varint of `value` (0..2^53-1). */
function varintBytes(value: number): number {
  let bytes = 1;
  let rest = value;
  while (rest >= 0x80) {
    rest = Math.floor(rest / 0x80);
    bytes++;
  }
  return bytes;
}

function zigzagBytes(value: number): number {
  return varintBytes(zigzag(value));
}

/**
 * The smallest decimal scale at which every present value v of the column
 * is exactly Math.round(v·10^s)/10^s, bit for bit, within ±SCALED_LIMIT; -1
 * when there is none (-0, ±Infinity, long fractions, huge values): XOR then.
 */
function decimalScale(column: Float64Array, present: Uint32Array | null, count: number): number {
  let scale = 0;
  for (;;) {
    const power = POWERS_OF_TEN[scale];
    let fits = true;
    for (let i = 0; i < count; i++) {
      const value = column[present === null ? i : present[i]];
      const scaled = Math.round(value * power);
      // -0 is not an integer here: it would come back as +0.
      if (scaled / power !== value || Math.abs(scaled) > SCALED_LIMIT || Object.is(value, -0)) {
        fits = false;
        break;
      }
    }
    if (fits) return scale;
    if (++scale > MAX_DECIMAL_SCALE) return -1;
  }
}

/** The records where a column has a value, or null when it has one at every record. */
function presentRecords(column: Float64Array): { present: Uint32Array | null; count: number } {
  let count = 0;
  for (let r = 0; r < column.length; r++) if (column[r] === column[r]) count++;
  if (count === column.length) return { present: null, count };
  const present = new Uint32Array(count);
  let at = 0;
  for (let r = 0; r < column.length; r++) if (column[r] === column[r]) present[at++] = r;
  return { present, count };
}

function timesFitDeltaOfDelta(times: Float64Array): boolean {
  for (let r = 0; r < times.length; r++) {
    const time = times[r];
    if (!Number.isInteger(time) || Math.abs(time) > TIME_DOD_LIMIT_MS || Object.is(time, -0)) return false;
  }
  return true;
}

function writeTimes(out: ByteWriter, times: Float64Array): void {
  if (!timesFitDeltaOfDelta(times)) {
    out.byte(TIMES_RAW_FLOAT64);
    for (let r = 0; r < times.length; r++) out.float64(times[r]);
    return;
  }
  out.byte(TIMES_DELTA_OF_DELTA);
  const records = times.length;
  if (records === 0) return;
  out.zigzag(times[0]);
  if (records === 1) return;
  out.zigzag(times[1] - times[0]);
  // Regular sampling makes these all 0: one constant-free empty block.
  const steps = new Float64Array(records - 2);
  for (let r = 2; r < records; r++) steps[r - 2] = zigzag(times[r] - times[r - 1] - (times[r - 1] - times[r - 2]));
  writeIntegerBlock(out, steps, steps.length);
}

function writeAttributions(out: ByteWriter, attributions: Attribution[], index: Uint32Array): void {
  out.varint(attributions.length);
  for (const { container, pod, namespace } of attributions) {
    out.string(container);
    out.string(pod);
    out.string(namespace);
  }
  // Run-length: a GPU keeps its pod for hours, so a chunk is one run or a few.
  let runs = 0;
  for (let r = 0; r < index.length; r++) if (r === 0 || index[r] !== index[r - 1]) runs++;
  out.varint(runs);
  let start = 0;
  for (let r = 1; r <= index.length; r++) {
    if (r === index.length || index[r] !== index[start]) {
      out.varint(index[start]);
      out.varint(r - start);
      start = r;
    }
  }
}

interface ColumnEncoding {
  kind: number;
  /** Decimal scale of the scaled kinds. */
  scale: number;
  present: Uint32Array | null;
  count: number;
}

function chooseEncoding(column: Float64Array, options: ChunkFormat2Options): ColumnEncoding {
  const { present, count } = presentRecords(column);
  if (count === 0) return { kind: COLUMN_ABSENT, scale: 0, present, count };
  const scale = options.values === 'xor' ? -1 : decimalScale(column, present, count);
  if (scale < 0) return { kind: COLUMN_XOR, scale: 0, present, count };
  // Deltas win on slow-moving series (temperatures, memory, clocks); plain
  // values win on noise around a level (power, ratios). Chosen per column by size.
  const power = POWERS_OF_TEN[scale];
  let deltaBytes = 0;
  let plainBytes = 0;
  let previous = 0;
  for (let i = 0; i < count; i++) {
    const scaled = Math.round(column[present === null ? i : present[i]] * power);
    deltaBytes += zigzagBytes(scaled - previous);
    plainBytes += zigzagBytes(scaled);
    previous = scaled;
  }
  return { kind: plainBytes < deltaBytes ? COLUMN_SCALED : COLUMN_SCALED_DELTA, scale, present, count };
}

/** The value encoding format 2 picks for a column (COLUMN_ABSENT…COLUMN_XOR): for the codec benchmark's report. */
export function columnEncodingOf(column: Float64Array, options: ChunkFormat2Options = {}): number {
  return chooseEncoding(column, options).kind;
}

function writeColumn(out: ByteWriter, column: Float64Array, options: ChunkFormat2Options): void {
  const { kind, scale, present, count } = chooseEncoding(column, options);
  if (kind === COLUMN_ABSENT) {
    out.byte(COLUMN_ABSENT);
    return;
  }
  out.byte(kind | (present === null ? 0 : COLUMN_SPARSE));
  if (present !== null) {
    const bitmap = new Uint8Array(Math.ceil(column.length / 8));
    for (let i = 0; i < count; i++) bitmap[present[i] >>> 3] |= 1 << (present[i] & 7);
    out.bytes(bitmap);
  }
  if (kind === COLUMN_XOR) {
    writeXorFloats(out, column, present, count);
    return;
  }
  out.byte(scale);
  const power = POWERS_OF_TEN[scale];
  const integers = new Float64Array(count);
  let previous = 0;
  for (let i = 0; i < count; i++) {
    const scaled = Math.round(column[present === null ? i : present[i]] * power);
    integers[i] = zigzag(kind === COLUMN_SCALED_DELTA ? scaled - previous : scaled);
    previous = scaled;
  }
  if (kind === COLUMN_SCALED_DELTA) {
    // The first value stands alone: inside the block its size would widen every plane
    // (a constant column would need two deflated planes instead of none).
    out.varint(integers[0]);
    writeIntegerBlock(out, integers.subarray(1), count - 1);
  } else {
    writeIntegerBlock(out, integers, count);
  }
}

/**
 * Encodes a chunk in format 2. Deterministic. Throws GputelError
 * 'BAD_INPUT' when the chunk holds more than MAX_CHUNK_VALUES values or
 * MAX_METRICS metrics (split it first: splitChunk).
 */
export function encodeChunkFormat2(chunk: Chunk, options: ChunkFormat2Options = {}): Buffer {
  const records = chunk.timestampsMs.length;
  const metrics = chunk.metrics.length;
  if (metrics > MAX_METRICS || records * metrics > MAX_CHUNK_VALUES) {
    throw new GputelError('BAD_INPUT', `a chunk of ${records} records × ${metrics} metrics is over format 2's limit of ${MAX_CHUNK_VALUES} values; split it (splitChunk) before encoding`);
  }
  const body = new ByteWriter();
  body.varint(records);
  body.varint(metrics);
  for (const name of chunk.metrics) {
    const code = KNOWN_METRIC_CODES.get(name);
    if (code === undefined) {
      body.varint(0);
      body.string(name);
    } else {
      body.varint(code);
    }
  }
  writeTimes(body, chunk.timestampsMs);
  writeAttributions(body, chunk.attributions, chunk.attributionIndex);
  for (const column of chunk.columns) writeColumn(body, column, options);

  const raw = body.view();
  let payload: Uint8Array = raw;
  let flags = 0;
  if (options.deflate !== false && raw.length >= BODY_DEFLATE_MIN_BYTES) {
    const deflated = deflateRawSync(raw);
    if (deflated.length <= raw.length - BODY_DEFLATE_MIN_SAVING) {
      payload = deflated;
      flags |= FLAG_DEFLATED;
    }
  }
  const out = new ByteWriter();
  out.byte(CHUNK_FORMAT_COMPRESSED);
  out.byte(flags);
  out.varint(raw.length);
  out.bytes(payload);
  return Buffer.from(out.view());
}

function readBody(bytes: Uint8Array, where: string): ByteReader {
  const header = new ByteReader(bytes, where);
  if (header.byte('version') !== CHUNK_FORMAT_COMPRESSED) header.corrupt('the version is not 2');
  const flags = header.byte('flags');
  if ((flags & ~KNOWN_FLAGS) !== 0) header.corrupt(`unknown flags 0x${flags.toString(16)}`);
  const bodyLength = header.varint('body length');
  if (bodyLength > MAX_BODY_BYTES) header.corrupt(`the body length ${bodyLength} is above the limit ${MAX_BODY_BYTES}`);
  const payload = bytes.subarray(header.offset);
  if ((flags & FLAG_DEFLATED) === 0) {
    if (payload.length !== bodyLength) header.corrupt(`the body is ${payload.length} bytes, its header says ${bodyLength}`);
    return new ByteReader(payload, where);
  }
  let body: Buffer;
  try {
    // maxOutputLength bounds what a corrupt stream can make inflate allocate.
    body = inflateRawSync(payload, { maxOutputLength: Math.max(1, bodyLength) });
  } catch {
    return header.corrupt('the deflated body does not inflate to its stated length');
  }
  if (body.length !== bodyLength) header.corrupt(`the body inflates to ${body.length} bytes, its header says ${bodyLength}`);
  return new ByteReader(body, where);
}

function readTimes(input: ByteReader, records: number): Float64Array {
  const kind = input.byte('timestamp encoding');
  if (kind !== TIMES_DELTA_OF_DELTA && kind !== TIMES_RAW_FLOAT64) input.corrupt(`unknown timestamp encoding ${kind}`);
  const times = new Float64Array(records);
  if (kind === TIMES_RAW_FLOAT64) {
    if (records * 8 > input.remaining) input.corrupt('the timestamps run past the end');
    for (let r = 0; r < records; r++) times[r] = input.float64('timestamp');
  } else if (records > 0) {
    times[0] = input.zigzag('first timestamp');
    if (records > 1) {
      let delta = input.zigzag('first timestamp delta');
      times[1] = times[0] + delta;
      const steps = new Float64Array(records - 2);
      readIntegerBlock(input, steps, steps.length, 'timestamp deltas');
      for (let r = 2; r < records; r++) {
        delta += unzigzag(steps[r - 2]);
        times[r] = times[r - 1] + delta;
      }
    }
  }
  // Ascending without duplicates is what a chunk promises its readers.
  for (let r = 1; r < records; r++) if (!(times[r] > times[r - 1])) input.corrupt(`timestamp ${r} does not follow the one before`);
  return times;
}

function readAttributions(input: ByteReader, records: number): { attributions: Attribution[]; attributionIndex: Uint32Array } {
  // splitChunk's parts share the whole chunk's attributions: there may be more than records.
  const count = input.count('attribution count', MAX_CHUNK_VALUES, 3);
  const attributions: Attribution[] = [];
  for (let a = 0; a < count; a++) {
    const container = input.string('attribution container');
    const pod = input.string('attribution pod');
    const namespace = input.string('attribution namespace');
    attributions.push({ container, pod, namespace });
  }
  const runs = input.count('attribution run count', records, 2);
  const attributionIndex = new Uint32Array(records);
  let at = 0;
  for (let run = 0; run < runs; run++) {
    const index = input.varint('attribution run index');
    const length = input.varint('attribution run length');
    if (index >= count) input.corrupt(`attribution run ${run} points at attribution ${index} of ${count}`);
    if (length === 0 || length > records - at) input.corrupt(`attribution run ${run} covers records past the end`);
    attributionIndex.fill(index, at, at + length);
    at += length;
  }
  if (at !== records) input.corrupt(`attribution runs cover ${at} of ${records} records`);
  return { attributions, attributionIndex };
}

/** Reads a column's scaled integers straight into the column (the hot loop of a query: no per-value objects). */
function readScaled(input: ByteReader, target: Float64Array, present: Uint32Array | null, count: number, delta: boolean, what: string): void {
  const scale = input.byte(`${what} scale`);
  if (scale > MAX_DECIMAL_SCALE) input.corrupt(`${what} has scale ${scale}, above ${MAX_DECIMAL_SCALE}`);
  const power = POWERS_OF_TEN[scale];
  // Full columns decode in place; sparse ones through a scratch block of the present values.
  const integers = present === null ? target : new Float64Array(count);
  if (delta) {
    integers[0] = input.varint(`${what} first value`);
    readIntegerBlock(input, integers.subarray(1, count), count - 1, what);
  } else {
    readIntegerBlock(input, integers, count, what);
  }
  let value = 0;
  for (let i = 0; i < count; i++) {
    const integer = unzigzag(integers[i]);
    value = delta ? value + integer : integer;
    target[present === null ? i : present[i]] = scale === 0 ? value : value / power;
  }
}

function readColumn(input: ByteReader, records: number, metric: number): Float64Array {
  const what = `column ${metric}`;
  const header = input.byte(`${what} header`);
  const kind = header & COLUMN_KIND_MASK;
  if ((header & ~(COLUMN_KIND_MASK | COLUMN_SPARSE)) !== 0 || kind > COLUMN_XOR) input.corrupt(`${what} has an unknown encoding 0x${header.toString(16)}`);
  const column = new Float64Array(records);
  if (kind === COLUMN_ABSENT) {
    if ((header & COLUMN_SPARSE) !== 0) input.corrupt(`${what} is absent but has a bitmap`);
    column.fill(Number.NaN);
    return column;
  }
  let present: Uint32Array | null = null;
  let count = records;
  if ((header & COLUMN_SPARSE) !== 0) {
    const bitmap = input.take(Math.ceil(records / 8), `${what} presence bitmap`);
    count = 0;
    for (let r = 0; r < records; r++) if ((bitmap[r >>> 3] >>> (r & 7)) & 1) count++;
    present = new Uint32Array(count);
    let at = 0;
    for (let r = 0; r < records; r++) {
      if ((bitmap[r >>> 3] >>> (r & 7)) & 1) present[at++] = r;
      else column[r] = Number.NaN;
    }
  }
  if (kind === COLUMN_XOR) readXorFloats(input, column, present, count, what);
  else readScaled(input, column, present, count, kind === COLUMN_SCALED_DELTA, what);
  return column;
}

/**
 * Decodes a format-2 chunk. Throws GputelError 'STORE_CORRUPT' naming
 * `where` for any bytes that are not one (truncated, bad lengths, unknown
 * encodings, trailing bytes); never another kind of error.
 */
export function decodeChunkFormat2(bytes: Uint8Array, where: string): Chunk {
  const input = readBody(bytes, where);
  // Every metric takes at least two body bytes (name code, column header); records can take almost none
  // (regular times and constant columns are a few bytes), so they are bounded by MAX_CHUNK_VALUES alone.
  const records = input.count('record count', MAX_CHUNK_VALUES, 0);
  const metricCount = input.count('metric count', MAX_METRICS, 2);
  if (records * metricCount > MAX_CHUNK_VALUES) input.corrupt(`${records} records × ${metricCount} metrics is above the limit ${MAX_CHUNK_VALUES}`);
  const metrics: string[] = [];
  for (let m = 0; m < metricCount; m++) {
    const code = input.varint('metric name code');
    if (code === 0) metrics.push(input.string('metric name'));
    else if (code <= KNOWN_METRIC_NAMES.length) metrics.push(KNOWN_METRIC_NAMES[code - 1]);
    else input.corrupt(`metric name code ${code} is unknown`);
  }
  const timestampsMs = readTimes(input, records);
  const { attributions, attributionIndex } = readAttributions(input, records);
  const columns: Float64Array[] = [];
  for (let m = 0; m < metricCount; m++) columns.push(readColumn(input, records, m));
  if (!input.atEnd) input.corrupt(`${input.remaining} bytes follow the last column`);
  return { timestampsMs, metrics, columns, attributions, attributionIndex };
}
