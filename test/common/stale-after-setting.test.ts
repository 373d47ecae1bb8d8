import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/common/config.js';
import { runGputel } from '../support/gputel-process.js';

describe('--stale-after', () => {
  it('defaults to 5 minutes and reads a duration from a flag or the environment', () => {
    assert.equal(loadConfig({ env: {} }).staleAfterMs, 5 * 60_000);
    assert.equal(loadConfig({ flags: { staleAfterMs: '90s' }, env: {} }).staleAfterMs, 90_000);
    assert.equal(loadConfig({ env: { GPUTEL_STALE_AFTER: '1h' } }).staleAfterMs, 3_600_000);
  });

  it('refuses what is not a duration of at least a second, naming the setting', () => {
    assert.throws(() => loadConfig({ flags: { staleAfterMs: '5' }, env: {} }), /--stale-after = "5": must be a duration of at least 1s/);
    assert.throws(() => loadConfig({ flags: { staleAfterMs: '500ms' }, env: {} }), /--stale-after/);
    assert.throws(() => loadConfig({ env: { GPUTEL_STALE_AFTER: 'later' } }), /GPUTEL_STALE_AFTER = "later"/);
  });

  it('is an option of gputel gateway and gputel start, not of the collector', async () => {
    for (const [command, offered] of [['gateway', true], ['start', true], ['collector', false]] as const) {
      const help = runGputel([command, '--help']);
      assert.equal(await help.exited, 0);
      assert.equal(help.stdout().includes('--stale-after <duration>'), offered, `gputel ${command} --help`);
    }
  });
});
