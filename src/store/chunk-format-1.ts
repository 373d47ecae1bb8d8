/**
 * Chunk format 1: columnar MessagePack with raw float64 columns, the format
 * of every chunk written before format 2. Still decoded (stored chunks stay
 * readable until compaction rewrites them); its encoder is kept for tests,
 * golden bytes and the codec benchmark. Layout: docs/chunk-format.md.
 */
import { Packr } from 'msgpackr';
import { GputelError } from '../common/gputel-error.js';
import { alignedCopy, bytesOf } from '../common/typed-array-bytes.js';
import type { Chunk } from './chunk-codec.js';

export const CHUNK_FORMAT_RAW = 1;
const packr = new Packr({ useRecords: false, variableMapSize: true });

/** Encodes a chunk in format 1, deterministically. */
export function encodeChunkFormat1(chunk: Chunk): Buffer {
  return packr.pack([
    CHUNK_FORMAT_RAW,
    bytesOf(chunk.timestampsMs),
    chunk.metrics,
    chunk.columns.map(bytesOf),
    chunk.attributions.map((a) => [a.container, a.pod, a.namespace]),
    bytesOf(chunk.attributionIndex),
  ]);
}

function corrupt(where: string, what: string): never {
  throw new GputelError('STORE_CORRUPT', `chunk ${where} is corrupt: ${what}; delete the key or restore it from a backup`);
}

function aligned(raw: unknown, elementBytes: number, where: string, what: string): ArrayBuffer {
  if (!(raw instanceof Uint8Array) || raw.byteLength % elementBytes !== 0) corrupt(where, `${what} is not an array of ${elementBytes}-byte values`);
  return alignedCopy(raw);
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}

/** Decodes a format-1 chunk; throws GputelError 'STORE_CORRUPT' naming `where` for anything else. */
export function decodeChunkFormat1(bytes: Uint8Array, where: string): Chunk {
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch {
    return corrupt(where, 'it is not MessagePack');
  }
  if (!Array.isArray(raw) || raw[0] !== CHUNK_FORMAT_RAW || raw.length !== 6) corrupt(where, 'it is not a format-1 chunk');
  const [, rawTimes, rawMetrics, rawColumns, rawAttributions, rawIndex] = raw as unknown[];
  if (!Array.isArray(rawMetrics) || !rawMetrics.every(isString)) corrupt(where, 'the metric names are not strings');
  if (!Array.isArray(rawColumns)) corrupt(where, 'the columns are not an array');
  const isTriple = (a: unknown): a is string[] => Array.isArray(a) && a.length === 3 && a.every(isString);
  if (!Array.isArray(rawAttributions) || !rawAttributions.every(isTriple)) corrupt(where, 'the attributions are not string triples');
  const timestampsMs = new Float64Array(aligned(rawTimes, 8, where, 'the timestamps'));
  const columns = rawColumns.map((c) => new Float64Array(aligned(c, 8, where, 'a column')));
  const attributions = rawAttributions.map(([container, pod, namespace]) => ({ container, pod, namespace }));
  const attributionIndex = new Uint32Array(aligned(rawIndex, 4, where, 'the attribution index'));
  if (columns.length !== rawMetrics.length || columns.some((c) => c.length !== timestampsMs.length) || attributionIndex.length !== timestampsMs.length) {
    corrupt(where, 'its columns have different lengths');
  }
  if (attributionIndex.some((index) => index >= attributions.length)) corrupt(where, 'an attribution index points past the attributions');
  return { timestampsMs, metrics: rawMetrics, columns, attributions, attributionIndex };
}
