/**
 * LiveConfigFollower on the embedded store (the etcd driver is covered end to
 * end in test/e2e/live-config.test.ts): values stored before start apply at
 * start, later writes through the watch, and a watch that ends is replaced
 * after a full read, so a change made meanwhile is not missed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/common/config.js';
import { LiveSettings } from '../../src/common/live-settings.js';
import { createLogger } from '../../src/common/logger.js';
import { KeySpace } from '../../src/kv/key-space.js';
import type { KvStore, WatchOptions } from '../../src/kv/kv-store.js';
import { openKvStore } from '../../src/kv/open-kv-store.js';
import { LiveConfigFollower } from '../../src/store/live-config-follower.js';
import { readConfigHistory, writeLiveSetting, CONFIG_HISTORY_LIMIT } from '../../src/store/live-config-store.js';
import { withOverrides } from '../support/kv-overrides.js';
import { waitFor } from '../support/wait-for.js';
import { gputelError } from '../support/gputel-error-check.js';

const logger = createLogger('silent');

describe('live configuration follower and store', () => {
  let kv: KvStore;
  let rootNumber = 0;
  before(async () => {
    kv = await openKvStore({ dataDir: ':memory:' });
  });
  after(async () => {
    await kv?.close();
  });

  it('applies stored values at start and later changes through the watch', async () => {
    const keys = new KeySpace(`/follower-${++rootNumber}`);
    await writeLiveSetting(kv, keys, 'default', 'flush-interval', '250ms', 'test');
    const settings = new LiveSettings(loadConfig({ env: {} }));
    const follower = new LiveConfigFollower(kv, keys, 'default', settings, logger);
    await follower.start();
    try {
      assert.equal(settings.setting('flushIntervalMs').value, 250);
      await writeLiveSetting(kv, keys, 'default', 'idle-threshold', '12.5', 'test');
      await waitFor('idle-threshold applied', 2_000, () => (settings.setting('idleThreshold').value === 12.5 ? true : undefined), 5);
      await writeLiveSetting(kv, keys, 'default', 'flush-interval', null, 'test');
      await waitFor('flush-interval back to its started value', 2_000, () => (settings.setting('flushIntervalMs').value === 1_000 ? true : undefined), 5);
    } finally {
      await follower.stop();
    }
  });

  it('reads everything again when its watch ends, so a change made while no watch ran still applies', async () => {
    const keys = new KeySpace(`/follower-${++rootNumber}`);
    let endWatch: ((error: Error) => void) | undefined;
    let watches = 0;
    // The first watch loses its events (as a watch that broke would): only the re-read can see the change.
    const watched = withOverrides(kv, {
      watch: async (range, options: WatchOptions) => {
        const deaf = ++watches === 1;
        endWatch = options.onError;
        return kv.watch(range, { ...options, onEvent: (event) => (deaf ? undefined : options.onEvent(event)) });
      },
    });
    const settings = new LiveSettings(loadConfig({ env: {} }));
    const follower = new LiveConfigFollower(watched, keys, 'default', settings, logger);
    await follower.start();
    try {
      await writeLiveSetting(kv, keys, 'default', 'max-rate', '321', 'test');
      assert.equal(settings.setting('maxRate').value, 0);
      endWatch!(new Error('watch ended (test)'));
      await waitFor('max-rate applied after the re-read', 2_000, () => (settings.setting('maxRate').value === 321 ? true : undefined), 5);
      assert.equal(watches, 2, 'a new watch was started');
    } finally {
      await follower.stop();
    }
  });

  it('refuses a bad value or an unknown key with BAD_CONFIG, and keeps the last CONFIG_HISTORY_LIMIT changes', async () => {
    const keys = new KeySpace(`/follower-${++rootNumber}`);
    await assert.rejects(writeLiveSetting(kv, keys, 'default', 'stale-after', 'soon', 'test'), gputelError('BAD_CONFIG', /stale-after = "soon": must be a duration of at least 1s/));
    await assert.rejects(writeLiveSetting(kv, keys, 'default', 'partitions', '4', 'test'), gputelError('BAD_CONFIG', /"partitions" is not a live setting; live settings: batch-samples/));
    for (let i = 1; i <= CONFIG_HISTORY_LIMIT + 5; i++) await writeLiveSetting(kv, keys, 'default', 'batch-samples', String(i), 'test');
    const history = await readConfigHistory(kv, keys, 'default');
    assert.equal(history.length, CONFIG_HISTORY_LIMIT);
    assert.deepEqual(history.at(-1), { ...history.at(-1)!, key: 'batch-samples', old: String(CONFIG_HISTORY_LIMIT + 4), new: String(CONFIG_HISTORY_LIMIT + 5), by: 'test' });
    assert.equal(history[0].new, '6');
  });
});
