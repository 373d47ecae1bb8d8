/**
 * The chunk codec: golden bytes of both formats, bit-exact round trips
 * (examples and fast-check properties), determinism, and corrupt input that
 * must give STORE_CORRUPT naming the key, never another error.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { GputelError } from '../../src/common/gputel-error.js';
import { decodeChunk, encodeChunk, sliceChunk, splitChunk, type Chunk } from '../../src/store/chunk-codec.js';
import { encodeChunkFormat1 } from '../../src/store/chunk-format-1.js';
import { BODY_DEFLATE_MIN_SAVING, encodeChunkFormat2, FLAG_DEFLATED, MAX_CHUNK_VALUES } from '../../src/store/chunk-format-2.js';
import { KNOWN_METRIC_NAMES } from '../../src/store/known-metric-names.js';

const NO_POD = { container: '', pod: '', namespace: '' };

/** One record, one known metric: what a message from a big fleet writes per GPU. */
const ONE: Chunk = {
  timestampsMs: new Float64Array([1000]),
  metrics: ['DCGM_FI_DEV_GPU_UTIL'],
  columns: [new Float64Array([93])],
  attributions: [NO_POD],
  attributionIndex: new Uint32Array([0]),
};

/** Every encoding at once: a full delta column, a sparse scaled one, a sparse XOR one with 1/3, -0 and Infinity, an unknown name, two attributions. */
const SMALL: Chunk = {
  timestampsMs: new Float64Array([1772409600000, 1772409610000, 1772409620000, 1772409631000]),
  metrics: ['DCGM_FI_DEV_GPU_TEMP', 'DCGM_FI_DEV_POWER_USAGE', 'custom_metric'],
  columns: [new Float64Array([41, 42, 42, 43]), new Float64Array([412.5, NaN, 98.125, 99]), new Float64Array([1 / 3, -0, Infinity, NaN])],
  attributions: [NO_POD, { container: 'trainer', pod: 'job-7', namespace: 'ml' }],
  attributionIndex: new Uint32Array([0, 0, 1, 1]),
};

const GOLDEN_FORMAT_2_ONE = '02001101010100d00f010000000100010100ba01';
const GOLDEN_FORMAT_2_SMALL =
  '02006704030507000d637573746f6d5f6d65747269630080e0c1bd9567a09c0100d00f0200000007747261696e6572056a6f622d37026d6c0200020102010052' +
  '020002810d03a8ad328db026d60d83073fd5555555555555c005feaaaaaaaaaaaaadffe0000000000000';
/** 70 records (≥ PLANES_MIN_VALUES): regular times (an empty delta-of-delta block), a column of plain integers as a raw low plane and a constant high plane. */
const PLANES: Chunk = {
  timestampsMs: Float64Array.from({ length: 70 }, (_, r) => 1772409600000 + r * 10_000),
  metrics: ['DCGM_FI_DEV_GPU_UTIL'],
  // ±(4096..4160), alternating: plain zigzags (2 varint bytes) beat deltas (3), and share their high byte.
  columns: [Float64Array.from({ length: 70 }, (_, r) => (r % 2 === 0 ? 4096 + ((r * 29) % 64) : -(4097 + ((r * 41) % 64))))],
  attributions: [NO_POD],
  attributionIndex: new Uint32Array(70),
};
const GOLDEN_FORMAT_2_PLANES =
  '0200614601010080e0c1bd9567a09c0100010000000100460200020000537477681b5c3f50634407382b2c4f20731417083b7c5f70036427584b4c6f40133437' +
  '285b1c7f10230447786b6c0f60335457487b3c1f30432467180b0c2f00537477681b0220';
const GOLDEN_FORMAT_1_ONE = '9601c4080000000000408f4091b44443474d5f46495f4445565f4750555f5554494c91c40800000000004057409193a0a0a0c40400000000';
const GOLDEN_FORMAT_1_SMALL =
  '9601c42000008083bdca79420000f185bdca794200006288bdca79420080118bbdca794293b44443474d5f46495f4445565f4750555f54454d50b74443474d5f46495f' +
  '4445565f504f5745525f5553414745ad637573746f6d5f6d657472696393c4200000000000804440000000000000454000000000000045400000000000804540c42000' +
  '00000000c87940000000000000f87f00000000008858400000000000c05840c420555555555555d53f0000000000000080000000000000f07f000000000000f87f9293' +
  'a0a0a093a7747261696e6572a56a6f622d37a26d6cc41000000000000000000100000001000000';

/** Bit-exact equality: Object.is tells -0 from 0 and takes NaN (absent) as equal to NaN. */
function assertSameChunk(actual: Chunk, expected: Chunk): void {
  assert.deepEqual(actual.metrics, expected.metrics);
  assert.deepEqual([...actual.attributionIndex], [...expected.attributionIndex]);
  assert.deepEqual(actual.attributions, expected.attributions);
  const same = (a: Float64Array, b: Float64Array, what: string): void => {
    assert.equal(a.length, b.length, `${what} length`);
    for (let i = 0; i < a.length; i++) assert.ok(Object.is(a[i], b[i]), `${what}[${i}]: ${a[i]} !== ${b[i]}`);
  };
  same(actual.timestampsMs, expected.timestampsMs, 'timestamps');
  assert.equal(actual.columns.length, expected.columns.length);
  actual.columns.forEach((column, m) => same(column, expected.columns[m], `column ${m}`));
}

function assertCorruptOrChunk(bytes: Uint8Array, where: string): void {
  try {
    const chunk = decodeChunk(bytes, where);
    assert.equal(chunk.columns.length, chunk.metrics.length);
    for (const column of chunk.columns) assert.equal(column.length, chunk.timestampsMs.length);
  } catch (error) {
    assert.ok(error instanceof GputelError, `not a GputelError: ${String(error)}`);
    assert.equal(error.code, 'STORE_CORRUPT');
    assert.ok(error.message.includes(where), error.message);
  }
}

function assertCorrupt(bytes: Uint8Array, reason: RegExp): void {
  assert.throws(
    () => decodeChunk(bytes, 'clusters/c/hosts/h/gpus/g/data/k'),
    (error: unknown) => error instanceof GputelError && error.code === 'STORE_CORRUPT' && error.message.includes('clusters/c/hosts/h/gpus/g/data/k') && reason.test(error.message),
  );
}

// ---- fast-check arbitraries: chunks as the Chunk interface allows them ----

/** Values a column may hold: short decimals (the common case), any non-NaN double (-0, subnormals, ±Infinity, huge), 2^53+ integers, absent. */
const value = fc.oneof(
  fc.integer({ min: -1_000_000, max: 1_000_000 }).chain((n) => fc.integer({ min: 0, max: 6 }).map((scale) => n / 10 ** scale)),
  fc.double({ noNaN: true }),
  fc.constantFrom(-0, 0, Number.MIN_VALUE, -Number.MIN_VALUE, Number.MAX_VALUE, Infinity, -Infinity, 2 ** 53, 2 ** 53 + 2, -(2 ** 60), 2 ** 50, 2 ** 50 + 1),
  fc.constant(Number.NaN),
);

const times = fc
  .record({
    start: fc.oneof(fc.integer({ min: 0, max: 10 ** 13 }), fc.double({ min: -1e300, max: 1e300, noNaN: true })),
    steps: fc.array(fc.oneof(fc.constant(10_000), fc.integer({ min: 1, max: 100_000 }), fc.double({ min: 1e-3, max: 1e6, noNaN: true })), { maxLength: 40 }),
    empty: fc.boolean(),
  })
  .map(({ start, steps, empty }) => {
    if (empty && steps.length === 0) return new Float64Array(0);
    const out = [start];
    for (const step of steps) {
      const next = out[out.length - 1] + step;
      if (next > out[out.length - 1]) out.push(next);
    }
    return new Float64Array(out);
  });

const metricName = fc.oneof(fc.constantFrom(...KNOWN_METRIC_NAMES), fc.string({ maxLength: 30 }), fc.string({ unit: 'grapheme', maxLength: 10 }));
const attribution = fc.record({ container: fc.string({ maxLength: 12 }), pod: fc.string({ unit: 'grapheme', maxLength: 12 }), namespace: fc.string({ maxLength: 12 }) }).map((a) => ({ ...a }));

const chunkArbitrary: fc.Arbitrary<Chunk> = fc
  .record({
    timestampsMs: times,
    metrics: fc.uniqueArray(metricName, { maxLength: 24 }),
    attributions: fc.array(attribution, { minLength: 1, maxLength: 4 }),
    seed: fc.array(value, { minLength: 1, maxLength: 64 }),
    runs: fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
    pattern: fc.constantFrom('mixed', 'full', 'decimal', 'sparse'),
  })
  .map(({ timestampsMs, metrics, attributions, seed, runs, pattern }) => {
    const records = timestampsMs.length;
    const columns = metrics.map((_, m) =>
      Float64Array.from({ length: records }, (_, r) => {
        const v = seed[(m * 7 + r) % seed.length];
        if (pattern === 'full' && Number.isNaN(v)) return m;
        if (pattern === 'decimal') return Number.isFinite(v) && Math.abs(v) < 1e9 ? Math.round(v * 1000) / 1000 : r;
        if (pattern === 'sparse' && (r + m) % 3 === 0) return Number.NaN;
        return v;
      }),
    );
    const attributionIndex = Uint32Array.from({ length: records }, (_, r) => runs[Math.floor((r * runs.length) / Math.max(1, records))] % attributions.length);
    return { timestampsMs, metrics, columns, attributions, attributionIndex };
  });

describe('chunk codec: golden bytes', () => {
  it('encodeChunk writes format 2: one record, one known metric, in 20 bytes', () => {
    assert.equal(encodeChunk(ONE).toString('hex'), GOLDEN_FORMAT_2_ONE);
    assertSameChunk(decodeChunk(Buffer.from(GOLDEN_FORMAT_2_ONE, 'hex'), 'k'), ONE);
  });

  it('format 2 lays out times, names, attributions, delta, sparse scaled and sparse XOR columns as documented', () => {
    assert.equal(encodeChunkFormat2(SMALL, { deflate: false }).toString('hex'), GOLDEN_FORMAT_2_SMALL);
    assertSameChunk(decodeChunk(Buffer.from(GOLDEN_FORMAT_2_SMALL, 'hex'), 'k'), SMALL);
  });

  it('format 2 writes long integer blocks as byte planes: raw, constant', () => {
    assert.equal(encodeChunkFormat2(PLANES, { deflate: false }).toString('hex'), GOLDEN_FORMAT_2_PLANES);
    assertSameChunk(decodeChunk(Buffer.from(GOLDEN_FORMAT_2_PLANES, 'hex'), 'k'), PLANES);
  });

  it('format 1 chunks, as stored before format 2, still decode', () => {
    assert.equal(encodeChunkFormat1(ONE).toString('hex'), GOLDEN_FORMAT_1_ONE);
    assert.equal(encodeChunkFormat1(SMALL).toString('hex'), GOLDEN_FORMAT_1_SMALL);
    assertSameChunk(decodeChunk(Buffer.from(GOLDEN_FORMAT_1_ONE, 'hex'), 'k'), ONE);
    assertSameChunk(decodeChunk(Buffer.from(GOLDEN_FORMAT_1_SMALL, 'hex'), 'k'), SMALL);
  });

  it('a body that deflates BODY_DEFLATE_MIN_SAVING bytes smaller is stored deflated and reads back; one that saves less is not', () => {
    const records = 30;
    const chunk: Chunk = {
      timestampsMs: Float64Array.from({ length: records }, (_, r) => 1772409600000 + r * 10_000),
      metrics: Array.from({ length: 8 }, (_, m) => `DCGM_FI_CUSTOM_VENDOR_SPECIFIC_COUNTER_${m}`),
      columns: Array.from({ length: 8 }, (_, m) => Float64Array.from({ length: records }, (_, r) => 400 + ((r * m) % 7) * 0.125)),
      attributions: [NO_POD],
      attributionIndex: new Uint32Array(records),
    };
    const stored = encodeChunk(chunk);
    assert.equal(stored[1] & FLAG_DEFLATED, FLAG_DEFLATED);
    assert.ok(stored.length <= encodeChunkFormat2(chunk, { deflate: false }).length - BODY_DEFLATE_MIN_SAVING);
    assertSameChunk(decodeChunk(stored, 'k'), chunk);
    assert.equal(encodeChunk(ONE)[1] & FLAG_DEFLATED, 0);
  });
});

describe('chunk codec: round trips', () => {
  it('keeps -0, subnormals, ±Infinity, huge and tiny values, 2^53+ integers and long fractions bit for bit', () => {
    const values = [-0, 0, Number.MIN_VALUE, -Number.MIN_VALUE, 2.2250738585072014e-308, Number.MAX_VALUE, -Number.MAX_VALUE, Infinity, -Infinity, 2 ** 53, 2 ** 53 + 2, 2 ** 64, 1e-300, 0.1 + 0.2, Math.PI, 1 / 3, -1e21, 123456.789012345];
    for (const v of values) {
      const chunk: Chunk = { ...ONE, columns: [new Float64Array([v])] };
      assertSameChunk(decodeChunk(encodeChunk(chunk), 'k'), chunk);
    }
    const mixed: Chunk = {
      timestampsMs: Float64Array.from(values, (_, r) => 1000 + r * 10_000),
      metrics: ['m'],
      columns: [Float64Array.from(values)],
      attributions: [NO_POD],
      attributionIndex: new Uint32Array(values.length),
    };
    assertSameChunk(decodeChunk(encodeChunk(mixed), 'k'), mixed);
  });

  it('keeps irregular, fractional and far-off timestamps exactly', () => {
    for (const timestampsMs of [
      new Float64Array([0, 1, 10_000, 10_001, 30_000, 9_999_999_999_999]),
      new Float64Array([1000.5, 1000.75, 2000.125]),
      new Float64Array([-(2 ** 52), 0, 2 ** 52]),
      new Float64Array([-1e300, 1e300]),
      new Float64Array(0),
    ]) {
      const records = timestampsMs.length;
      const chunk: Chunk = { timestampsMs, metrics: ['m'], columns: [new Float64Array(records).fill(1)], attributions: [NO_POD], attributionIndex: new Uint32Array(records) };
      assertSameChunk(decodeChunk(encodeChunk(chunk), 'k'), chunk);
    }
  });

  it('keeps many metrics, absent columns and empty attribution strings', () => {
    const metrics = Array.from({ length: 300 }, (_, m) => (m < KNOWN_METRIC_NAMES.length ? KNOWN_METRIC_NAMES[m] : `DCGM_FI_CUSTOM_${m}`));
    const chunk: Chunk = {
      timestampsMs: new Float64Array([1000, 2000, 3000]),
      metrics,
      columns: metrics.map((_, m) => (m % 5 === 0 ? new Float64Array(3).fill(Number.NaN) : new Float64Array([m, m + 0.5, m % 2 === 0 ? Number.NaN : m]))),
      attributions: [NO_POD, { container: '', pod: 'p', namespace: '' }],
      attributionIndex: new Uint32Array([1, 0, 1]),
    };
    assertSameChunk(decodeChunk(encodeChunk(chunk), 'k'), chunk);
  });

  it('property: every chunk round-trips bit-exactly through format 2 (with and without deflate, and XOR only)', () => {
    fc.assert(
      fc.property(chunkArbitrary, (chunk) => {
        assertSameChunk(decodeChunk(encodeChunk(chunk), 'k'), chunk);
        assertSameChunk(decodeChunk(encodeChunkFormat2(chunk, { deflate: false }), 'k'), chunk);
        assertSameChunk(decodeChunk(encodeChunkFormat2(chunk, { values: 'xor' }), 'k'), chunk);
        assertSameChunk(decodeChunk(encodeChunkFormat1(chunk), 'k'), chunk);
      }),
      { numRuns: 300 },
    );
  });

  it('property: long chunks (integer blocks as byte planes, deflated or not) round-trip bit-exactly', () => {
    const long = fc.record({
      records: fc.integer({ min: 64, max: 400 }),
      jitter: fc.constantFrom(0, 1, 1000),
      columns: fc.array(fc.record({ level: fc.integer({ min: -1e6, max: 1e6 }), noise: fc.constantFrom(0, 3, 300, 1e5, 2 ** 40), scale: fc.integer({ min: 0, max: 4 }), gaps: fc.boolean() }), { maxLength: 6 }),
      seed: fc.integer(),
    });
    fc.assert(
      fc.property(long, ({ records, jitter, columns, seed }) => {
        let state = seed >>> 0;
        const random = (): number => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
        let time = 1772409600000;
        const chunk: Chunk = {
          timestampsMs: Float64Array.from({ length: records }, () => (time += 10_000 + Math.floor(random() * jitter))),
          metrics: columns.map((_, m) => KNOWN_METRIC_NAMES[m]),
          columns: columns.map(({ level, noise, scale, gaps }) =>
            Float64Array.from({ length: records }, () => (gaps && random() < 0.2 ? Number.NaN : Math.round(level + (random() - 0.5) * noise) / 10 ** scale)),
          ),
          attributions: [NO_POD],
          attributionIndex: new Uint32Array(records),
        };
        assertSameChunk(decodeChunk(encodeChunk(chunk), 'k'), chunk);
        assertSameChunk(decodeChunk(encodeChunkFormat2(chunk, { deflate: false }), 'k'), chunk);
      }),
      { numRuns: 150 },
    );
  });

  it('property: encoding is deterministic, also after a decode (a replay rewrites the same bytes)', () => {
    fc.assert(
      fc.property(chunkArbitrary, (chunk) => {
        const bytes = encodeChunk(chunk);
        assert.deepEqual(encodeChunk(chunk), bytes);
        assert.deepEqual(encodeChunk(decodeChunk(bytes, 'k')), bytes);
      }),
      { numRuns: 150 },
    );
  });

  it('refuses to encode a chunk over the value limit, telling to split it', () => {
    const records = Math.floor(MAX_CHUNK_VALUES / 2) + 1;
    const chunk: Chunk = {
      timestampsMs: Float64Array.from({ length: records }, (_, r) => r),
      metrics: ['a', 'b'],
      columns: [new Float64Array(records), new Float64Array(records)],
      attributions: [NO_POD],
      attributionIndex: new Uint32Array(records),
    };
    assert.throws(() => encodeChunk(chunk), (error: unknown) => error instanceof GputelError && error.code === 'BAD_INPUT' && /split/.test(error.message));
  });
});

describe('chunk codec: corrupt input', () => {
  const good = encodeChunkFormat2(SMALL, { deflate: false });

  it('a truncated chunk is STORE_CORRUPT at every length', () => {
    for (let length = 0; length < good.length; length++) assertCorrupt(good.subarray(0, length), /./);
  });

  it('an unknown version or unknown flags are STORE_CORRUPT', () => {
    assertCorrupt(Buffer.from([0x03, 0x00, 0x00]), /unknown format/);
    assertCorrupt(Buffer.from([0x02, 0x80, 0x00]), /unknown flags/);
    assertCorrupt(Buffer.alloc(0), /unknown format/);
  });

  it('a varint longer than 8 bytes is STORE_CORRUPT', () => {
    assertCorrupt(Buffer.from([0x02, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), /longer than 8 bytes/);
  });

  it('lengths past the end are STORE_CORRUPT, and never allocate what they claim', () => {
    // Body length says 100 bytes, 1 follows.
    assertCorrupt(Buffer.from([0x02, 0x00, 100, 0x00]), /header says 100/);
    // 2^40 records in a 3-byte body.
    const huge = Buffer.from([0x02, 0x00, 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x01, 0x00]);
    assertCorrupt(Buffer.from([0x02, 0x00, huge.length - 3, ...huge.subarray(3)]), /record count/);
    // A metric name of 2^30 bytes.
    assertCorrupt(Buffer.from([0x02, 0x00, 0x08, 0x01, 0x01, 0x00, 0x80, 0x80, 0x80, 0x80, 0x04]), /metric name/);
    // A body that claims to inflate to 32 MiB + 1.
    assertCorrupt(Buffer.from([0x02, 0x01, 0x81, 0x80, 0x80, 0x10, 0x00]), /above the limit/);
  });

  it('a deflated body that does not inflate, or inflates to another length, is STORE_CORRUPT', () => {
    assertCorrupt(Buffer.from([0x02, 0x01, 0x05, 0xff, 0xff, 0xff]), /inflate/);
    const chunk = encodeChunk({ ...SMALL, metrics: ['a'.repeat(200), 'b', 'c'] });
    assert.equal(chunk[1], 1);
    const lying = Buffer.from(chunk);
    lying[2] -= 1; // the stated body length (a multi-byte varint: its low bits)
    assertCorrupt(lying, /inflate/);
  });

  it('trailing bytes, descending timestamps and bad attribution runs are STORE_CORRUPT', () => {
    const withTrailer = Buffer.from([...good.subarray(0, 2), good[2] + 1, ...good.subarray(3), 0x00]);
    assertCorrupt(withTrailer, /follow the last column/);
    const descending = encodeChunkFormat2({ ...ONE, timestampsMs: new Float64Array([2000, 1000]), columns: [new Float64Array([1, 2])], attributionIndex: new Uint32Array(2) }, { deflate: false });
    assertCorrupt(descending, /does not follow/);
  });

  it('property: flipped, dropped or inserted bytes give STORE_CORRUPT or a well-formed chunk, never another error', () => {
    const samples = [good, encodeChunk(ONE), encodeChunkFormat2(PLANES, { deflate: false }), encodeChunk({ ...PLANES, columns: [PLANES.columns[0].map((v, r) => (r % 3 === 0 ? v : 7))] }), encodeChunk({ ...SMALL, metrics: ['a'.repeat(200), 'b', 'c'] }), encodeChunkFormat1(SMALL)];
    fc.assert(
      fc.property(
        fc.constantFrom(...samples),
        fc.array(fc.record({ at: fc.nat(), kind: fc.constantFrom('flip', 'drop', 'insert', 'cut'), byte: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 }),
        (original, edits) => {
          let bytes = [...original];
          for (const { at, kind, byte } of edits) {
            const i = bytes.length === 0 ? 0 : at % bytes.length;
            if (kind === 'flip') bytes[i] ^= byte || 1;
            else if (kind === 'drop') bytes.splice(i, 1);
            else if (kind === 'insert') bytes.splice(i, 0, byte);
            else bytes = bytes.slice(0, i);
          }
          assertCorruptOrChunk(Buffer.from(bytes), 'clusters/c/hosts/h/gpus/g/data/k');
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('property: random bytes after a format-2 header give STORE_CORRUPT or a well-formed chunk', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (tail, deflated) => {
        assertCorruptOrChunk(Buffer.from([0x02, deflated ? 1 : 0, tail.length, ...tail]), 'k');
      }),
      { numRuns: 2000 },
    );
  });
});

describe('chunk codec: slicing and splitting', () => {
  it('sliceChunk keeps only the attributions its records use, renumbered in order of first use', () => {
    const part = sliceChunk(SMALL, 2, 4);
    assert.deepEqual(part.attributions, [SMALL.attributions[1]]);
    assert.deepEqual([...part.attributionIndex], [0, 0]);
    assert.deepEqual([...part.timestampsMs], [...SMALL.timestampsMs.subarray(2)]);
  });

  it('splitChunk bounds the raw bytes of each part and loses no record', () => {
    const records = 100;
    const chunk: Chunk = {
      timestampsMs: Float64Array.from({ length: records }, (_, r) => 1000 + r),
      metrics: ['a', 'b'],
      columns: [Float64Array.from({ length: records }, (_, r) => r), new Float64Array(records).fill(7)],
      attributions: [NO_POD],
      attributionIndex: new Uint32Array(records),
    };
    const parts = splitChunk(chunk, 28 * 10);
    assert.equal(parts.length, 10);
    assert.deepEqual(parts.flatMap((part) => [...decodeChunk(encodeChunk(part), 'k').columns[0]]), [...chunk.columns[0]]);
  });

  it('keeps a leading U+FEFF in names (TextDecoder drops it unless told not to)', () => {
    const chunk: Chunk = { ...ONE, attributions: [{ container: '\ufeffc', pod: '\ufeff', namespace: 'n' }] };
    assert.deepEqual(decodeChunk(encodeChunk(chunk), 'k').attributions, chunk.attributions);
  });
});
