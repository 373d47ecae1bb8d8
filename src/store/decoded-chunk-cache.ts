/**
 * The gateway's most recently read compacted chunks, decoded, within a byte
 * budget. A compacted chunk is read far more often than it changes (a
 * dashboard refreshes the same GPUs' last day), and decoding it is the
 * largest cost of a read after the round trip (docs/performance.md). An
 * entry is found only under the same key at the same modRevision, so a
 * chunk rewritten under its key (a late row merged in) is decoded afresh.
 * Readers must not change a cached chunk's arrays (the columns reader copies
 * out of them).
 */
import type { Chunk } from './chunk-codec.js';

interface Entry {
  modRevision: number;
  chunk: Chunk;
  bytes: number;
}

/** Default budget: ~50 GPU-days of 16 metrics at 10 s. */
export const DEFAULT_DECODED_CHUNK_CACHE_BYTES = 64 * 1024 * 1024;

export class DecodedChunkCache {
  /** In least- to most-recently used order (a Map keeps insertion order). */
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(private readonly maxBytes = DEFAULT_DECODED_CHUNK_CACHE_BYTES) {}

  get(key: string, modRevision: number): Chunk | undefined {
    const entry = this.entries.get(key);
    if (!entry || entry.modRevision !== modRevision) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.chunk;
  }

  /** Keeps the chunk; false when it is too large to keep. */
  set(key: string, modRevision: number, chunk: Chunk): boolean {
    const bytes = chunk.timestampsMs.byteLength + chunk.attributionIndex.byteLength + chunk.columns.reduce((sum, column) => sum + column.byteLength, 0);
    // One chunk may take at most an eighth of the budget, so a few huge ones cannot flush the rest.
    if (bytes > this.maxBytes / 8) return false;
    this.remove(key);
    this.entries.set(key, { modRevision, chunk, bytes });
    this.bytes += bytes;
    for (const [oldest] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.remove(oldest);
    }
    return true;
  }

  /** Bytes of the decoded arrays held. */
  get size(): number {
    return this.bytes;
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }
}
