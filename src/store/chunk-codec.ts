/**
 * The byte format of one chunk: the records of one GPU from one message.
 * See docs/chunk-format.md. This first format is columnar MessagePack with
 * raw float64 columns; the compressed Gorilla codec replaces it behind the
 * same encodeChunk/decodeChunk pair (the version byte tells them apart).
 */
import { Packr } from 'msgpackr';
import { GputelError } from '../common/gputel-error.js';
import { alignedCopy, bytesOf } from '../common/typed-array-bytes.js';

export const CHUNK_FORMAT_RAW = 1;
const packr = new Packr({ useRecords: false, variableMapSize: true });

/** Kubernetes attribution of a record. */
export interface Attribution {
  container: string;
  pod: string;
  namespace: string;
}

/**
 * Records of one GPU, ascending by time with no duplicate timestamps.
 * columns[m][r] is metric m at record r; NaN means "no sample" (the parser
 * never lets a NaN value through, so NaN is free to mean absent).
 */
export interface Chunk {
  timestampsMs: Float64Array;
  metrics: string[];
  columns: Float64Array[];
  attributions: Attribution[];
  /** attributionIndex[r] indexes attributions for record r. */
  attributionIndex: Uint32Array;
}

/**
 * Splits a chunk into parts of at most `maxBytes` encoded column bytes, by
 * record, so that no single value nears the request limit. Deterministic.
 */
export function splitChunk(chunk: Chunk, maxBytes: number): Chunk[] {
  const bytesPerRecord = 8 + 4 + 8 * chunk.metrics.length;
  const recordsPerPart = Math.max(1, Math.floor(maxBytes / bytesPerRecord));
  const records = chunk.timestampsMs.length;
  if (records <= recordsPerPart) return [chunk];
  const parts: Chunk[] = [];
  for (let from = 0; from < records; from += recordsPerPart) {
    const to = Math.min(records, from + recordsPerPart);
    parts.push({
      timestampsMs: chunk.timestampsMs.slice(from, to),
      metrics: chunk.metrics,
      columns: chunk.columns.map((column) => column.slice(from, to)),
      attributions: chunk.attributions,
      attributionIndex: chunk.attributionIndex.slice(from, to),
    });
  }
  return parts;
}

/** Encodes a chunk deterministically: the same chunk always gives the same bytes (replays rewrite identical values). */
export function encodeChunk(chunk: Chunk): Buffer {
  return packr.pack([
    CHUNK_FORMAT_RAW,
    bytesOf(chunk.timestampsMs),
    chunk.metrics,
    chunk.columns.map(bytesOf),
    chunk.attributions.map((a) => [a.container, a.pod, a.namespace]),
    bytesOf(chunk.attributionIndex),
  ]);
}

function aligned(raw: unknown, elementBytes: number, where: string): ArrayBuffer {
  if (!(raw instanceof Uint8Array) || raw.byteLength % elementBytes !== 0) {
    throw new GputelError('STORE_CORRUPT', `chunk ${where} is corrupt`);
  }
  return alignedCopy(raw);
}

/**
 * Decodes a chunk; throws STORE_CORRUPT naming `where` (the key) when the
 * bytes are not a chunk. Not BAD_MESSAGE: a bad stored chunk says nothing
 * against the message being applied, which must not be dead-lettered for it.
 */
export function decodeChunk(bytes: Buffer, where: string): Chunk {
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch {
    throw new GputelError('STORE_CORRUPT', `chunk ${where} is not a chunk`);
  }
  if (!Array.isArray(raw) || raw[0] !== CHUNK_FORMAT_RAW || raw.length !== 6) {
    throw new GputelError('STORE_CORRUPT', `chunk ${where} has an unknown format`);
  }
  const timestampsMs = new Float64Array(aligned(raw[1], 8, where));
  const metrics = raw[2] as string[];
  const columns = (raw[3] as unknown[]).map((c) => new Float64Array(aligned(c, 8, where)));
  const attributions = (raw[4] as string[][]).map(([container, pod, namespace]) => ({ container, pod, namespace }));
  const attributionIndex = new Uint32Array(aligned(raw[5], 4, where));
  if (columns.length !== metrics.length || columns.some((c) => c.length !== timestampsMs.length) || attributionIndex.length !== timestampsMs.length) {
    throw new GputelError('STORE_CORRUPT', `chunk ${where} has columns of different lengths`);
  }
  return { timestampsMs, metrics, columns, attributions, attributionIndex };
}
