/**
 * Fuzz target: the chunk codecs (formats 1 and 2 through decodeChunk).
 * Contract under fuzz: generated chunks round-trip bit-exactly in every
 * encoding; any stored bytes decode to a whole chunk or throw GputelError
 * STORE_CORRUPT naming the key, never another error (test/store/chunk-codec
 * .test.ts edits a few fixed chunks; here the edited chunks are generated).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeChunk, encodeChunk, type Chunk } from '../../src/store/chunk-codec.js';
import { encodeChunkFormat1 } from '../../src/store/chunk-format-1.js';
import { encodeChunkFormat2 } from '../../src/store/chunk-format-2.js';
import { KNOWN_METRIC_NAMES } from '../../src/store/known-metric-names.js';
import { applyEdits, byteEdits } from './byte-edits.js';
import { fuzzProperty, resultOrTypedError, type FuzzTarget } from './fuzz-target.js';
import { wellFormedText } from './hostile-text.js';

const KEY = 'clusters/c/hosts/h/gpus/g/data/0000000000001-0000000000002-m';

/** Values as telemetry has them (integers, few decimals, gaps) and as it may not (any double, -0). */
const value = fc.oneof(
  fc.integer({ min: -1_000_000, max: 1_000_000 }),
  fc.integer({ min: -10_000_000, max: 10_000_000 }).map((n) => n / 100),
  fc.constant(Number.NaN),
  fc.double(),
  fc.constant(-0),
);

const chunkArbitrary: fc.Arbitrary<Chunk> = fc
  .record({
    startMs: fc.integer({ min: 0, max: 2 ** 42 }),
    steps: fc.array(fc.oneof(fc.constant(10_000), fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 1, max: 2 ** 40 })), { maxLength: 90 }),
    metrics: fc.uniqueArray(fc.oneof(fc.constantFrom(...KNOWN_METRIC_NAMES), wellFormedText(30)), { minLength: 0, maxLength: 4 }),
    attributions: fc.array(fc.record({ container: wellFormedText(8), pod: wellFormedText(8), namespace: wellFormedText(8) }).map((a) => ({ ...a })), { minLength: 1, maxLength: 3 }),
    seed: fc.array(value, { minLength: 1, maxLength: 40 }),
    gaps: fc.boolean(),
  })
  .map(({ startMs, steps, metrics, attributions, seed, gaps }) => {
    const timestampsMs = new Float64Array(steps.length);
    let time = startMs;
    steps.forEach((step, r) => (timestampsMs[r] = time += step));
    return {
      timestampsMs,
      metrics,
      columns: metrics.map((_, m) => Float64Array.from(steps, (_, r) => (gaps && (r + m) % 3 === 0 ? Number.NaN : seed[(r * (m + 1)) % seed.length]))),
      attributions,
      attributionIndex: Uint32Array.from(steps, (_, r) => r % attributions.length),
    };
  });

/** The encodings decodeChunk reads. */
const ENCODERS: ReadonlyArray<(chunk: Chunk) => Buffer> = [
  encodeChunk,
  (chunk) => encodeChunkFormat2(chunk, { deflate: false }),
  (chunk) => encodeChunkFormat2(chunk, { values: 'xor' }),
  encodeChunkFormat1,
];

function assertSame(actual: Chunk, expected: Chunk): void {
  assert.deepEqual(actual.metrics, expected.metrics);
  // Each record's attribution is what counts: an encoding may drop attributions no record uses.
  const attributionsOf = (chunk: Chunk) => [...chunk.attributionIndex].map((index) => chunk.attributions[index]);
  assert.deepEqual(attributionsOf(actual), attributionsOf(expected));
  assert.deepEqual([...actual.timestampsMs], [...expected.timestampsMs]);
  actual.columns.forEach((column, m) => column.forEach((v, r) => assert.ok(Object.is(v, expected.columns[m][r]), `column ${m} record ${r}: ${v} for ${expected.columns[m][r]}`)));
}

/** What every decoded chunk must be: columns as long as the times, attributions that exist. */
function decodeChecked(bytes: Uint8Array): void {
  let error: unknown;
  const chunk = resultOrTypedError(() => {
    try {
      return decodeChunk(bytes, KEY);
    } catch (thrown) {
      error = thrown;
      throw thrown;
    }
  }, ['STORE_CORRUPT']);
  if (chunk === undefined) {
    assert.ok(error instanceof Error && error.message.includes(KEY), 'the error names the key');
    return;
  }
  const records = chunk.timestampsMs.length;
  assert.equal(chunk.columns.length, chunk.metrics.length);
  for (const column of chunk.columns) assert.equal(column.length, records);
  assert.equal(chunk.attributionIndex.length, records);
  for (const index of chunk.attributionIndex) assert.ok(index < chunk.attributions.length, `attribution ${index} of ${chunk.attributions.length}`);
  for (const metric of chunk.metrics) assert.equal(typeof metric, 'string');
  for (const attribution of chunk.attributions) for (const field of [attribution.container, attribution.pod, attribution.namespace]) assert.equal(typeof field, 'string');
}

const encoder = fc.nat(ENCODERS.length - 1);

export const chunkCodecTarget: FuzzTarget = {
  name: 'chunk-codec',
  properties: [
    fuzzProperty('generated chunks round-trip bit-exactly in every encoding', chunkArbitrary, encoder, (chunk, which) => {
      assertSame(decodeChunk(ENCODERS[which](chunk), KEY), chunk);
    }),
    fuzzProperty('edited bytes of generated chunks: a whole chunk or STORE_CORRUPT', chunkArbitrary, encoder, byteEdits, (chunk, which, edits) => {
      decodeChecked(applyEdits(ENCODERS[which](chunk), edits));
    }),
    fuzzProperty('any bytes behind either format\'s first bytes: a whole chunk or STORE_CORRUPT', fc.constantFrom([], [0x02], [0x02, 0x00], [0x02, 0x01], [0x96, 0x01]), fc.uint8Array({ maxLength: 200 }), (head, tail) => {
      decodeChecked(Buffer.from([...head, ...tail]));
    }),
  ],
};
