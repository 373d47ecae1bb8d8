/** A gateway stopped while it starts ends stopped: not listening, not following the store. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/common/logger.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { KeySpace } from '../../src/kv/key-space.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';

describe('gateway lifecycle', () => {
  it('is not listening once a stop called during its start has resolved', { timeout: 20_000 }, async () => {
    const kv = await openKvStore({ dataDir: ':memory:' });
    try {
      const gateway = new Gateway(kv, new KeySpace('/gputel'), { cluster: 'default', host: '127.0.0.1', port: 0, logger: createLogger('silent') });
      const starting = gateway.start();
      await gateway.stop();
      await starting.catch(() => undefined);
      assert.equal(gateway.app.server.listening, false);
      await gateway.stop();
    } finally {
      await kv.close();
    }
  });
});
