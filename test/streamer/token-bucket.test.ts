import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenBucket } from '../../src/streamer/token-bucket.js';

test('--max-rate holds from the first row: no second-long burst up front', async () => {
  const bucket = new TokenBucket(2_000);
  const startedMs = performance.now();
  // 1,000 rows at 2,000 rows/s: 0.5 s, less at most one burst (a tenth of a second's worth).
  for (let taken = 0; taken < 1_000; taken += 100) await bucket.take(100);
  const elapsedMs = performance.now() - startedMs;
  assert.ok(elapsedMs >= 400 - 5, `1,000 rows taken in ${elapsedMs.toFixed(0)} ms at 2,000 rows/s`);
});

test('a wait is aborted by the signal', async () => {
  const bucket = new TokenBucket(1);
  const controller = new AbortController();
  const taking = bucket.take(1_000, controller.signal);
  controller.abort(new Error('stopped'));
  await assert.rejects(taking, { name: 'AbortError' });
});
