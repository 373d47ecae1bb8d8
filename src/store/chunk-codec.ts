/**
 * The byte format of one chunk: the records of one GPU series. This file is
 * the dispatcher: encodeChunk writes format 2 (chunk-format-2.ts, the
 * compressed codec); decodeChunk reads by the version byte, format 1
 * (chunk-format-1.ts, raw MessagePack columns, written before format 2) and
 * format 2. See docs/chunk-format.md.
 */
import { GputelError } from '../common/gputel-error.js';
import { CHUNK_FORMAT_RAW, decodeChunkFormat1 } from './chunk-format-1.js';
import { CHUNK_FORMAT_COMPRESSED, decodeChunkFormat2, encodeChunkFormat2 } from './chunk-format-2.js';

/** MessagePack's fixarray header of format 1's six fields: the first byte of every format-1 chunk. */
const FORMAT_1_FIRST_BYTE = 0x96;

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
 * Records [from, to) of a chunk as a chunk of their own (copies), holding
 * only the attributions those records use, in order of first use: a part of
 * a long series must not carry every pod the whole series ever had.
 */
export function sliceChunk(chunk: Chunk, from: number, to: number): Chunk {
  const attributionIndex = chunk.attributionIndex.slice(from, to);
  const attributions: Attribution[] = [];
  const renumbered = new Map<number, number>();
  for (let r = 0; r < attributionIndex.length; r++) {
    let index = renumbered.get(attributionIndex[r]);
    if (index === undefined) {
      index = attributions.length;
      attributions.push(chunk.attributions[attributionIndex[r]]);
      renumbered.set(attributionIndex[r], index);
    }
    attributionIndex[r] = index;
  }
  return {
    timestampsMs: chunk.timestampsMs.slice(from, to),
    metrics: chunk.metrics,
    columns: chunk.columns.map((column) => column.slice(from, to)),
    attributions,
    attributionIndex,
  };
}

/**
 * Splits a chunk into parts of at most `maxBytes` raw (uncompressed float64)
 * column bytes, by record, so that no single value nears the request limit
 * whatever the data compresses to. Deterministic.
 */
export function splitChunk(chunk: Chunk, maxBytes: number): Chunk[] {
  const bytesPerRecord = 8 + 4 + 8 * chunk.metrics.length;
  const recordsPerPart = Math.max(1, Math.floor(maxBytes / bytesPerRecord));
  const records = chunk.timestampsMs.length;
  if (records <= recordsPerPart) return [chunk];
  const parts: Chunk[] = [];
  for (let from = 0; from < records; from += recordsPerPart) parts.push(sliceChunk(chunk, from, Math.min(records, from + recordsPerPart)));
  return parts;
}

/**
 * Encodes a chunk in the current format (2), deterministically: the same
 * chunk always gives the same bytes (replays rewrite identical values).
 * Throws GputelError 'BAD_INPUT' for a chunk over format 2's size limit
 * (chunks bounded by splitChunk never are).
 */
export function encodeChunk(chunk: Chunk): Buffer {
  return encodeChunkFormat2(chunk);
}

/**
 * Decodes a chunk of any stored format; throws STORE_CORRUPT naming `where`
 * (the key) when the bytes are not a chunk, and never another error. Not
 * BAD_MESSAGE: a bad stored chunk says nothing against the message being
 * applied, which must not be dead-lettered for it. The caller owns the
 * returned arrays.
 */
export function decodeChunk(bytes: Uint8Array, where: string): Chunk {
  // Format 1 starts with a MessagePack array header, format 2 with its version byte.
  if (bytes.length > 0 && bytes[0] === CHUNK_FORMAT_COMPRESSED) return decodeChunkFormat2(bytes, where);
  if (bytes.length > 1 && bytes[0] === FORMAT_1_FIRST_BYTE && bytes[1] === CHUNK_FORMAT_RAW) return decodeChunkFormat1(bytes, where);
  throw new GputelError('STORE_CORRUPT', `chunk ${where} has an unknown format (first byte ${bytes.length > 0 ? `0x${bytes[0].toString(16)}` : 'none'}); delete the key or restore it from a backup`);
}
