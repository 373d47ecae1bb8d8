import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkMessageId, chunkTimeRange, escapeSegment, KeySpace, timestampSegment, unescapeSegment } from '../../src/kv/key-space.js';
import { gpuKeyOf } from '../../src/queue/telemetry-batch.js';

describe('key space', () => {
  const keys = new KeySpace('/gputel');

  it('keeps ordinary hostnames and UUIDs readable', () => {
    assert.equal(keys.gpuMetadata('default', 'gpu-node-07', 'GPU-0a1b2c3d-1111'), '/gputel/clusters/default/hosts/gpu-node-07/gpus/GPU-0a1b2c3d-1111/metadata');
  });

  it('escapes a slash so a hostname cannot reach into another subtree', () => {
    const key = keys.hostMetadata('default', '../../queue/telemetry/p/0000/x');
    assert.equal(key, '/gputel/clusters/default/hosts/..%2F..%2Fqueue%2Ftelemetry%2Fp%2F0000%2Fx/metadata');
    assert.ok(key.startsWith(keys.hostsPrefix('default')));
    assert.equal(key.split('/').length, keys.hostMetadata('default', 'plain').split('/').length);
  });

  it('escapes control characters, spaces, percent signs and non-ASCII to printable ASCII', () => {
    assert.equal(escapeSegment('a\nb c%d'), 'a%0Ab%20c%25d');
    assert.equal(escapeSegment('nœud'), 'n%C5%93ud');
  });

  it('refuses empty, dot and over-long names with BAD_KEY', () => {
    for (const name of ['', '.', '..', 'x'.repeat(257)]) {
      assert.throws(() => escapeSegment(name, 'hostname'), { code: 'BAD_KEY' });
    }
  });

  it('round-trips any name and keeps every escaped segment inside one segment (property)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 100, unit: 'binary' }), (name) => {
        fc.pre(name !== '.' && name !== '..');
        const segment = escapeSegment(name);
        assert.equal(unescapeSegment(segment), name);
        assert.ok(/^[\x21-\x7e]+$/.test(segment), 'printable ASCII');
        assert.ok(!segment.includes('/'));
      }),
      { numRuns: 2000 },
    );
  });

  it('maps distinct names to distinct segments (property)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 20 }), fc.string({ minLength: 1, maxLength: 20 }), (a, b) => {
        fc.pre(a !== b && ![a, b].includes('.') && ![a, b].includes('..'));
        assert.notEqual(escapeSegment(a), escapeSegment(b));
      }),
    );
  });

  it('writes timestamps fixed-width so key order is time order', () => {
    assert.equal(timestampSegment(5), '0000000000005');
    assert.ok(timestampSegment(999) < timestampSegment(1000));
    assert.throws(() => timestampSegment(-1), { code: 'BAD_KEY' });
    assert.throws(() => timestampSegment(1.5), { code: 'BAD_KEY' });
  });

  it('reads a chunk time range back from its key', () => {
    const key = keys.gpuChunk('default', 'h', 'GPU-1', 1_700_000_000_000, 1_700_000_060_000, '0001700000000000-abcd-000000000001');
    assert.deepEqual(chunkTimeRange(key), { startMs: 1_700_000_000_000, endMs: 1_700_000_060_000 });
  });

  it('refuses names that are not well-formed Unicode (lone surrogates) with BAD_KEY, which all escaped alike before', () => {
    for (const name of ['host\uD800', '\uDC00x', 'a\uDBFFb']) {
      assert.throws(() => escapeSegment(name, 'hostname'), (error: Error & { code?: string }) => error.code === 'BAD_KEY' && /not well-formed Unicode/.test(error.message));
    }
    assert.equal(escapeSegment('GPU-\uD83D\uDE00'), 'GPU-%F0%9F%98%80', 'a surrogate pair is one character and escapes as its UTF-8');
  });

  it('refuses a segment escapeSegment cannot have written with BAD_KEY, not a URIError', () => {
    for (const segment of ['%', '%ZZ', '%E0%A4%A', '%FF']) assert.throws(() => unescapeSegment(segment), { code: 'BAD_KEY' });
  });

  it('never lets a UUID holding ":mig1" take the key of a MIG instance, and keeps ordinary keys as they were', () => {
    assert.equal(gpuKeyOf({ uuid: 'GPU-1', migInstanceId: '' }), 'GPU-1');
    assert.equal(gpuKeyOf({ uuid: 'GPU-1', migInstanceId: '3' }), 'GPU-1:mig3');
    assert.notEqual(gpuKeyOf({ uuid: 'GPU-1:mig1', migInstanceId: '' }), gpuKeyOf({ uuid: 'GPU-1', migInstanceId: '1' }));
    assert.notEqual(gpuKeyOf({ uuid: 'GPU-1%3Amig1', migInstanceId: '' }), gpuKeyOf({ uuid: 'GPU-1:mig1', migInstanceId: '' }));
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 3 }), fc.string({ maxLength: 12 }), fc.string({ maxLength: 3 }), (u1, m1, u2, m2) => {
        fc.pre(u1 !== u2 || m1 !== m2);
        assert.notEqual(gpuKeyOf({ uuid: u1, migInstanceId: m1 }), gpuKeyOf({ uuid: u2, migInstanceId: m2 }));
      }),
      { numRuns: 2000 },
    );
  });

  it('checks message ids before they go into chunk keys', () => {
    assert.equal(checkMessageId('0001700000000000-abcd-000000000001'), '0001700000000000-abcd-000000000001');
    for (const id of ['', 'a/b', '../x', 'a b', 'x'.repeat(201), 'é']) assert.throws(() => checkMessageId(id), { code: 'BAD_KEY' });
    assert.throws(() => keys.gpuChunk('default', 'h', 'GPU-1', 1, 2, '1-x/../../queue'), { code: 'BAD_KEY' });
  });

  it('refuses a root prefix that is not an absolute key path', () => {
    for (const root of ['gputel', '/gputel/', '/a//b', '/a b']) assert.throws(() => new KeySpace(root), { code: 'BAD_CONFIG' });
  });

  it('refuses message ids that are not ids in queue and dead-letter keys, as in chunk keys', () => {
    for (const id of ['', 'a/b', '../../owners/0001', '\u0000', 'x'.repeat(201)]) {
      assert.throws(() => keys.message('telemetry', 0, id), { code: 'BAD_KEY' });
      assert.throws(() => keys.deadLetter('telemetry', id), { code: 'BAD_KEY' });
    }
    assert.equal(keys.message('telemetry', 3, '0001700000000000-abcd-000000000001'), '/gputel/queue/telemetry/p/0003/0001700000000000-abcd-000000000001');
  });

  it('refuses a partition that is not a whole number from 0 to 9999, so no two topics share a stats key', () => {
    for (const partition of [-1, -1000, 1.5, 10_000, Number.NaN]) assert.throws(() => keys.partitionStats('c', 'a', partition), { code: 'BAD_KEY' });
    assert.notEqual(keys.partitionStats('c', 'a-', 1000), keys.partitionStats('c', 'a', 9999));
  });
});
