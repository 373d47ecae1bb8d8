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

test('a live --max-rate change applies to the next take: tokens come at the new rate from then on', async () => {
  let nowMs = 0;
  const bucket = new TokenBucket(10, undefined, () => nowMs);
  // 10 rows/s: one second earns at most the burst (1 token), so taking 1 does not wait.
  nowMs = 1_000;
  await bucket.take(1);
  bucket.setRate(1_000);
  // At 1,000 rows/s the burst is 100 tokens, earned in 0.1 s: 100 rows wait no longer.
  nowMs = 1_100;
  const startedMs = performance.now();
  await bucket.take(100);
  assert.ok(performance.now() - startedMs < 50, 'no wait once the new rate earned the tokens');
});

test('a lower live --max-rate applies at once: tokens saved under the old burst are not spent', async () => {
  let nowMs = 0;
  const bucket = new TokenBucket(1_000, undefined, () => nowMs);
  // A full burst at 1,000 rows/s: 100 tokens.
  nowMs = 10_000;
  bucket.setRate(10);
  // At 10 rows/s the burst is 1 token: 50 rows must wait about 4.9 s, not pass on the old savings.
  const controller = new AbortController();
  let waited = true;
  const taking = bucket.take(50, controller.signal).then(() => (waited = false));
  await new Promise((resolve) => setTimeout(resolve, 30));
  controller.abort(new Error('stopped'));
  await taking.catch(() => undefined);
  assert.equal(waited, true, '50 rows passed at once on the old burst');
});
