/**
 * Fetches and decodes stored chunks by key, a bounded number per round trip:
 * exactly the wanted keys, not a range that would also read every chunk
 * between them.
 */
import { MAX_TXN_OPS, type KvStore } from '../kv/kv-store.js';
import { decodeChunk, type Chunk } from './chunk-codec.js';

/** Chunk values asked for per transaction of ranges (well under etcd's 128 operations). */
const CHUNKS_PER_FETCH = Math.min(64, MAX_TXN_OPS);

export interface FetchedChunk {
  key: string;
  modRevision: number;
  chunk: Chunk;
}

/**
 * The chunks at `chunkKeys`, in the order given; a key that is gone is left
 * out. A value that does not decode is handed to `onUnreadable` and left out;
 * without it, decodeChunk's STORE_CORRUPT is thrown.
 */
export async function fetchChunks(kv: KvStore, chunkKeys: readonly string[], onUnreadable?: (key: string, error: unknown) => void): Promise<FetchedChunk[]> {
  const fetched: FetchedChunk[] = [];
  for (let from = 0; from < chunkKeys.length; from += CHUNKS_PER_FETCH) {
    const page = chunkKeys.slice(from, from + CHUNKS_PER_FETCH);
    const values = await kv.txn({ success: page.map((key) => ({ type: 'range' as const, range: { start: key } })) });
    for (const result of values.results) {
      if (result.type !== 'range') continue;
      for (const stored of result.result.kvs) {
        const chunk = decodeStoredChunk(stored.key, stored.value, onUnreadable);
        if (chunk) fetched.push({ key: stored.key, modRevision: stored.modRevision, chunk });
      }
    }
  }
  return fetched;
}

/**
 * The chunk stored at `key`; one that does not decode is handed to
 * `onUnreadable` and answered undefined (one bad chunk must not stall what
 * reads past it); without it, decodeChunk's STORE_CORRUPT is thrown.
 */
export function decodeStoredChunk(key: string, value: Buffer, onUnreadable?: (key: string, error: unknown) => void): Chunk | undefined {
  try {
    return decodeChunk(value, key);
  } catch (error) {
    if (!onUnreadable) throw error;
    onUnreadable(key, error);
    return undefined;
  }
}
