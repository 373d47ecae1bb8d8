/**
 * The accumulator's per-hostname partition cache: hostnames come from the
 * input, so a bad one is refused before it is remembered and the cache
 * stays bounded however many distinct hostnames a source sends.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DcgmRow } from '../../src/ingest/dcgm-row.js';
import { BatchAccumulator, MAX_CACHED_HOSTS } from '../../src/streamer/batch-accumulator.js';

function row(hostname: string): DcgmRow {
  return {
    lineNumber: 1, timestampMs: 1_700_000_000_000, metricName: 'DCGM_FI_DEV_GPU_TEMP', sourceMetricName: 'DCGM_FI_DEV_GPU_TEMP',
    gpuId: 0, device: 'nvidia0', uuid: 'GPU-1', modelName: 'm', hostname, container: '', pod: '', namespace: '', value: 1, labelsRaw: '',
  };
}

test('a hostname that cannot name a key is refused and not cached', () => {
  const accumulator = new BatchAccumulator('default', 's', 4);
  for (const bad of ['', '..', 'x'.repeat(300), 'a\ud800b']) {
    assert.throws(() => accumulator.add(row(bad)), (e: Error & { code?: string }) => e.code === 'BAD_KEY');
  }
  assert.equal(accumulator.cachedHosts, 0);
  assert.equal(accumulator.samples, 0);
});

test('the hostname cache stays bounded over many distinct hostnames; every row is still kept', () => {
  const accumulator = new BatchAccumulator('default', 's', 4);
  const rows = MAX_CACHED_HOSTS * 2 + 5;
  let samples = 0;
  for (let i = 0; i < rows; i++) {
    accumulator.add(row(`host-${i}`));
    if (accumulator.samples >= 5_000) samples += [...accumulator.take().values()].reduce((n, b) => n + b.length, 0);
    assert.ok(accumulator.cachedHosts <= MAX_CACHED_HOSTS);
  }
  samples += [...accumulator.take().values()].reduce((n, b) => n + b.length, 0);
  assert.equal(samples, rows);
});
