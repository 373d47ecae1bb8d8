/** The gateway's cache of decoded compacted chunks: found only at the same revision, bounded by bytes, least recently used out first. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Chunk } from '../../src/store/chunk-codec.js';
import { DecodedChunkCache } from '../../src/store/decoded-chunk-cache.js';

/** A chunk of `records` records of one metric: 8 + 4 + 8 = 20 bytes a record. */
function chunkOf(records: number, value = 1): Chunk {
  return {
    timestampsMs: Float64Array.from({ length: records }, (_, r) => r * 10_000),
    metrics: ['DCGM_FI_DEV_GPU_UTIL'],
    columns: [new Float64Array(records).fill(value)],
    attributions: [{ container: '', pod: '', namespace: '' }],
    attributionIndex: new Uint32Array(records),
  };
}

describe('decoded chunk cache', () => {
  it('finds a chunk only under the key and revision it was decoded at', () => {
    const cache = new DecodedChunkCache(1_000_000);
    const chunk = chunkOf(10);
    cache.set('a', 5, chunk);
    assert.equal(cache.get('a', 5), chunk);
    assert.equal(cache.get('a', 6), undefined, 'rewritten under its key: decoded afresh');
    assert.equal(cache.get('b', 5), undefined);
    const rewritten = chunkOf(10, 2);
    cache.set('a', 6, rewritten);
    assert.equal(cache.get('a', 6), rewritten);
    assert.equal(cache.size, 200, 'the replaced entry no longer counts');
  });

  it('keeps within its budget, dropping the least recently used first, and skips a chunk over an eighth of it', () => {
    const cache = new DecodedChunkCache(8_000); // 400 records' worth; at most 50 records a chunk
    for (const key of ['a', 'b', 'c', 'd']) cache.set(key, 1, chunkOf(50)); // 1,000 bytes each
    assert.ok(cache.get('a', 1), 'a used again: b is now the oldest');
    for (const key of ['e', 'f', 'g', 'h', 'i']) cache.set(key, 1, chunkOf(50));
    assert.equal(cache.size, 8_000);
    assert.equal(cache.get('b', 1), undefined, 'the least recently used went first');
    assert.ok(cache.get('a', 1));
    cache.set('huge', 1, chunkOf(51));
    assert.equal(cache.get('huge', 1), undefined);
    assert.equal(cache.size, 8_000);
  });
});
