import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { GputelError } from '../../src/common/gputel-error.js';
import { createLogger } from '../../src/common/logger.js';
import { NvidiaSmiSource } from '../../src/ingest/nvidia-smi-source.js';
import { ReplaySource } from '../../src/ingest/replay-source.js';
import { ScrapeSource } from '../../src/ingest/scrape-source.js';
import { SimulatorSource } from '../../src/ingest/simulator-source.js';
import type { Source } from '../../src/ingest/source.js';
import { liveSourcesFrom, withLiveSourceOptions, withReplay } from '../../src/cli/live-source-options.js';

const logger = createLogger('silent');

function flags(argv: string[]): Record<string, unknown> {
  const command = withLiveSourceOptions(new Command('x')).exitOverride();
  command.parse(argv, { from: 'user' });
  return command.opts();
}

function refused(run: () => unknown, pattern: RegExp): void {
  assert.throws(run, (e: unknown) => e instanceof GputelError && e.code === 'BAD_CONFIG' && pattern.test(e.message));
}

test('each live-source flag builds its source', () => {
  const sources = liveSourcesFrom(flags(['--scrape', 'http://a:9400/metrics, http://b:9400/metrics', '--interval', '5s', '--scrape-timeout', '2s', '--nvidia-smi', '--hostname', 'box', '--simulate', '--simulate-hosts', '2']), { logger });
  assert.deepEqual(sources.map((s) => s.constructor), [ScrapeSource, NvidiaSmiSource, SimulatorSource]);
  assert.equal(sources[0].location, 'http://a:9400/metrics,http://b:9400/metrics');
  assert.equal(sources[1].id, 'nvidia-smi-box');
  assert.match(sources[1].location, /-lms 5000$/);
  assert.equal(sources[2].id, 'simulator-2x8-seed-1');
});

test('no flag: no live source, or the simulated fleet where the command has no other source', () => {
  assert.deepEqual(liveSourcesFrom(flags([]), { logger }), []);
  const [fleet] = liveSourcesFrom(flags(['--simulate-seed', '3', '--interval', '1s']), { logger, simulateByDefault: true });
  assert.equal(fleet.id, 'simulator-4x8-seed-3');
  assert.deepEqual(liveSourcesFrom(flags(['--nvidia-smi']), { logger, simulateByDefault: true }).map((s) => s.constructor), [NvidiaSmiSource]);
});

test('--simulate-backfill 0 runs the simulated fleet with no history', () => {
  const [fleet] = liveSourcesFrom(flags(['--simulate', '--simulate-backfill', '0']), { logger });
  assert.equal((fleet as unknown as { backfillMs: number }).backfillMs, 0);
  refused(() => liveSourcesFrom(flags(['--simulate', '--simulate-backfill', 'soon']), { logger }), /--simulate-backfill "soon" is not a duration/);
});

test('a flag of a source not asked for, or a bad value, is refused with the flag named', () => {
  refused(() => liveSourcesFrom(flags(['--nvidia-smi-path', '/x']), { logger }), /--nvidia-smi-path applies to --nvidia-smi/);
  refused(() => liveSourcesFrom(flags(['--scrape-timeout', '1s']), { logger }), /--scrape-timeout applies to --scrape/);
  refused(() => liveSourcesFrom(flags(['--simulate-hosts', '2']), { logger }), /--simulate-hosts applies to --simulate/);
  refused(() => liveSourcesFrom(flags(['--interval', '2s']), { logger }), /--interval applies/);
  refused(() => liveSourcesFrom(flags(['--simulate', '--simulate-hosts', 'two']), { logger }), /--simulate-hosts "two" must be a whole number/);
  refused(() => liveSourcesFrom(flags(['--scrape', 'http://a/metrics', '--interval', 'often']), { logger }), /--interval "often" is not a duration/);
  refused(() => liveSourcesFrom(flags(['--scrape', 'http://a/metrics', '--interval', '1s', '--scrape-timeout', '1s']), { logger }), /--scrape-timeout .* shorter than --interval/);
});

const FILE: Source = { id: 'file-x', location: 'x.csv', resumable: true, read: async function* () {} };

test('--replay wraps a file source; without it the source is unchanged and the replay flags are refused', () => {
  assert.equal(withReplay(FILE, flags([])), FILE);
  const replay = withReplay(FILE, flags(['--replay', 'realtime', '--speed', '10', '--loop', '--rebase-time']));
  assert.ok(replay instanceof ReplaySource);
  assert.equal(replay.id, 'file-x-replay');
  refused(() => withReplay(FILE, flags(['--loop'])), /--loop needs --replay/);
  refused(() => withReplay(FILE, flags(['--replay', 'realtime', '--speed', 'fast'])), /--speed "fast" must be a positive number/);
  refused(() => withReplay(FILE, flags(['--replay', 'sometimes'])), /--replay must be asfast or realtime/);
});
