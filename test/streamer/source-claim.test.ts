/**
 * A streamer's claim on its source outlives the loss of its lease (the store
 * unreachable past the TTL): it claims the source again under a new lease.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/common/logger.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { LeaseHandle } from '../../src/kv/lease-handle.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { SourceClaim } from '../../src/streamer/source-claim.js';
import { waitFor } from '../support/wait-for.js';

describe('source claim', () => {
  it('claims the source again under a new lease once its lease was lost, and refuses a second streamer again', async () => {
    const kv = await openKvStore({ dataDir: ':memory:' });
    const keys = new KeySpace('/gputel');
    const options = { topic: 'telemetry', sourceId: 'simulator-1', location: 'simulated fleet', ttlSeconds: 1, waitMs: 0, logger: createLogger('silent') };
    try {
      const claim = await SourceClaim.acquire(kv, keys, options);
      const first = (await kv.get(claim.key))?.lease;
      // What the driver does when keep-alives fail past the TTL: the lease is gone, and its key with it.
      (claim as unknown as { lease: LeaseHandle }).lease.markLost(new Error('keep-alive failed past the TTL'));
      await kv.delete({ start: claim.key });
      const again = await waitFor('the claim is held again', 5_000, async () => {
        const stored = await kv.get(claim.key);
        return stored && stored.lease !== first ? stored : undefined;
      });
      assert.ok(again.lease);
      await assert.rejects(SourceClaim.acquire(kv, keys, options), { code: 'CONFLICT' });
      await claim.release();
      assert.equal(await kv.get(claim.key), undefined, 'released: the key goes with the new lease');
    } finally {
      await kv.close();
    }
  });
});
