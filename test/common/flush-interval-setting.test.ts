import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/common/config.js';
import { streamerOptionsOf } from '../../src/cli/source-options.js';
import { createLogger } from '../../src/common/logger.js';
import { SimulatorSource } from '../../src/ingest/simulator-source.js';

describe('--flush-interval', () => {
  it('defaults to 1 s, reads a duration from a flag or the environment, and reaches the streamer', () => {
    assert.equal(loadConfig({ env: {} }).flushIntervalMs, 1_000);
    assert.equal(loadConfig({ env: { GPUTEL_FLUSH_INTERVAL: '10ms' } }).flushIntervalMs, 10);
    const config = loadConfig({ flags: { flushIntervalMs: '250ms' }, env: {} });
    assert.equal(streamerOptionsOf(config, new SimulatorSource(), createLogger('silent')).flushIntervalMs, 250);
  });

  it('refuses what is not a duration from 1 ms to 60 s, naming the setting', () => {
    assert.throws(() => loadConfig({ flags: { flushIntervalMs: 'soon' }, env: {} }), /--flush-interval = "soon"/);
    assert.throws(() => loadConfig({ flags: { flushIntervalMs: '2m' }, env: {} }), /--flush-interval/);
  });
});
