/**
 * The command-line flags of the live sources (dcgm-exporter scrape,
 * nvidia-smi, the simulated fleet) and of replay, shared by `gputel streamer`
 * and `gputel start`, and building the sources from them.
 */
import type { Command } from 'commander';
import { GputelError } from '../common/gputel-error.js';
import type { Logger } from '../common/logger.js';
import { NvidiaSmiSource } from '../ingest/nvidia-smi-source.js';
import { ReplaySource, type ReplayMode } from '../ingest/replay-source.js';
import { ScrapeSource } from '../ingest/scrape-source.js';
import { SimulatorSource } from '../ingest/simulator-source.js';
import type { Source } from '../ingest/source.js';
import { parseDuration } from './duration.js';

/** What building a live source needs beyond its flags. */
export interface LiveSourceContext {
  logger: Logger;
  /**
   * True where the command has no other source (`gputel start` without
   * --file): with no live-source flag either, the simulated fleet runs.
   */
  simulateByDefault?: boolean;
}

const DEFAULT_INTERVAL = '10s';

/** Adds the live-source and replay flags. No commander defaults, so that an absent flag can be told apart. */
export function withLiveSourceOptions(command: Command): Command {
  return command
    .option('--scrape <urls>', 'scrape dcgm-exporter endpoints every --interval, comma-separated (e.g. http://gpu-node-07:9400/metrics); live, no resume')
    .option('--scrape-timeout <duration>', 'per-target timeout of a scrape (default 80% of --interval, at most 10s)')
    .option('--nvidia-smi', 'run nvidia-smi --query-gpu … -lms --interval on this machine (no DCGM needed); live, no resume')
    .option('--nvidia-smi-path <path>', 'the nvidia-smi executable (default: nvidia-smi on PATH)')
    .option('--hostname <name>', 'hostname of the nvidia-smi rows (default: this machine\'s)')
    .option('--simulate', 'a live simulated fleet: back-fills --simulate-backfill, then a sample every --interval (the default of gputel start without a source)')
    .option('--simulate-hosts <n>', 'hosts of the simulated fleet (default 4)')
    .option('--simulate-gpus-per-host <n>', 'GPUs per simulated host (default 8)')
    .option('--simulate-first-host <n>', 'number of the first simulated host, for a share of a larger fleet: streamers given consecutive ranges together simulate one fleet (default 1)')
    .option('--simulate-seed <n>', 'seed of the simulated fleet (default 1)')
    .option('--simulate-backfill <duration>', 'history the simulated fleet fills in at start; 0 for none (default 1h)')
    .option('--interval <duration>', `sampling interval of --scrape, --nvidia-smi and --simulate (default ${DEFAULT_INTERVAL})`)
    .option('--replay <mode>', 'play a file back: asfast (as the consumer takes it) or realtime (at its own pace, see --speed)')
    .option('--speed <n>', 'with --replay realtime: play N times faster (default 1)')
    .option('--loop', 'with --replay: play the file again and again, each pass shifted by the file\'s span plus its interval')
    .option('--rebase-time', 'with --replay: shift timestamps so the file plays as if now (without it the file\'s timestamps are kept)');
}

function positiveInteger(value: unknown, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new GputelError('BAD_CONFIG', `${flag} "${String(value)}" must be a whole number of at least 1`);
  return number;
}

function intervalOf(options: Record<string, unknown>): number {
  return parseDuration((options.interval as string | undefined) ?? DEFAULT_INTERVAL, '--interval');
}

/** True when any live-source flag was given (then `gputel start` does not fall back to the simulator). */
export function hasLiveSource(options: Record<string, unknown>): boolean {
  return options.scrape !== undefined || options.nvidiaSmi === true || options.simulate === true;
}

/**
 * Builds the live sources the flags ask for, in the order scrape, nvidia-smi,
 * simulator; the simulator alone when none was asked for and
 * `ctx.simulateByDefault`; otherwise an empty list when none was asked for.
 *
 * Contract: validates every flag first and throws GputelError 'BAD_CONFIG'
 * naming the bad one (a flag of a source not asked for, e.g. --nvidia-smi-path
 * without --nvidia-smi, is refused too: it would be silently ignored).
 */
export function liveSourcesFrom(options: Record<string, unknown>, ctx: LiveSourceContext): Source[] {
  const needs = (flag: string, given: unknown, source: string, wanted: boolean): void => {
    if (given !== undefined && !wanted) throw new GputelError('BAD_CONFIG', `${flag} applies to ${source}, which was not given`);
  };
  const scrape = options.scrape as string | undefined;
  const simulate = options.simulate === true || (ctx.simulateByDefault === true && scrape === undefined && options.nvidiaSmi !== true);
  needs('--scrape-timeout', options.scrapeTimeout, '--scrape', scrape !== undefined);
  needs('--nvidia-smi-path', options.nvidiaSmiPath, '--nvidia-smi', options.nvidiaSmi === true);
  needs('--hostname', options.hostname, '--nvidia-smi', options.nvidiaSmi === true);
  for (const [flag, key] of [['--simulate-hosts', 'simulateHosts'], ['--simulate-gpus-per-host', 'simulateGpusPerHost'], ['--simulate-first-host', 'simulateFirstHost'], ['--simulate-seed', 'simulateSeed'], ['--simulate-backfill', 'simulateBackfill']] as const) {
    needs(flag, options[key], '--simulate', simulate);
  }
  needs('--interval', options.interval, '--scrape, --nvidia-smi or --simulate', simulate || hasLiveSource(options));

  const sources: Source[] = [];
  if (scrape !== undefined) {
    const urls = scrape.split(',').map((url) => url.trim()).filter((url) => url !== '');
    sources.push(
      new ScrapeSource({
        urls,
        intervalMs: intervalOf(options),
        timeoutMs: options.scrapeTimeout === undefined ? undefined : parseDuration(options.scrapeTimeout as string, '--scrape-timeout'),
        logger: ctx.logger.child({ source: 'scrape' }),
      }),
    );
  }
  if (options.nvidiaSmi === true) {
    sources.push(
      new NvidiaSmiSource({
        intervalMs: intervalOf(options),
        path: options.nvidiaSmiPath as string | undefined,
        hostname: options.hostname as string | undefined,
        logger: ctx.logger.child({ source: 'nvidia-smi' }),
      }),
    );
  }
  if (simulate) sources.push(simulatorSourceFrom(options));
  return sources;
}

/** The simulated fleet of the --simulate* flags (all optional): what `gputel start` runs given no source. */
export function simulatorSourceFrom(options: Record<string, unknown>): SimulatorSource {
  return new SimulatorSource({
    hosts: positiveInteger(options.simulateHosts, '--simulate-hosts', 4),
    gpusPerHost: positiveInteger(options.simulateGpusPerHost, '--simulate-gpus-per-host', 8),
    firstHost: positiveInteger(options.simulateFirstHost, '--simulate-first-host', 1),
    seed: positiveInteger(options.simulateSeed, '--simulate-seed', 1),
    intervalMs: intervalOf(options),
    // 0: no history, the live ticks only.
    backfillMs: options.simulateBackfill === undefined ? undefined : String(options.simulateBackfill).trim() === '0' ? 0 : parseDuration(options.simulateBackfill as string, '--simulate-backfill'),
  });
}

/**
 * Wraps a finite source (a file) for --replay; returns it unchanged without
 * --replay. Throws GputelError 'BAD_CONFIG' for --speed, --loop or
 * --rebase-time without --replay, and for refused combinations.
 */
export function withReplay(source: Source, options: Record<string, unknown>): Source {
  const mode = options.replay as string | undefined;
  if (mode === undefined) {
    for (const [flag, given] of [['--speed', options.speed], ['--loop', options.loop], ['--rebase-time', options.rebaseTime]] as const) {
      if (given !== undefined) throw new GputelError('BAD_CONFIG', `${flag} needs --replay asfast|realtime`);
    }
    return source;
  }
  let speed: number | undefined;
  if (options.speed !== undefined) {
    speed = Number(options.speed);
    if (!Number.isFinite(speed) || speed <= 0) throw new GputelError('BAD_CONFIG', `--speed "${String(options.speed)}" must be a positive number`);
  }
  return new ReplaySource(source, { mode: mode as ReplayMode, speed, loop: options.loop === true, rebaseTime: options.rebaseTime === true });
}
