/**
 * The file-source options `gputel streamer` and `gputel start` share, and
 * turning them into Sources. Composable with the live sources' options
 * (live-source-options.ts): each adds its flags to a Command, and each builds
 * its Sources from the parsed options; the command runs one Streamer per source.
 */
import type { LiveSettings } from '../common/live-settings.js';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { GputelConfig } from '../common/config.js';
import { GputelError } from '../common/gputel-error.js';
import type { Logger } from '../common/logger.js';
import { CsvFileSource } from '../ingest/csv-file-source.js';
import type { Source } from '../ingest/source.js';
import { Streamer, type StreamerOptions, type StreamSummary } from '../streamer/streamer.js';
import { expandGlob, isGlob } from './expand-glob.js';
import { hasLiveSource, liveSourcesFrom, withLiveSourceOptions, withReplay } from './live-source-options.js';

/** Adds --file, --follow and --source-id. No commander defaults (see common-options.ts). */
export function withFileSourceOptions(command: Command): Command {
  return command
    .option(
      '--file <paths...>',
      'DCGM long-format CSV file(s), or a quoted pattern such as "exports/*.csv"; each file is its own source, streamed in turn. ' +
        '"-" reads stdin, which cannot resume: a restarted streamer reads stdin anew',
    )
    .option('--follow', 'tail the file(s) like tail -F: wait for new rows, and read a rotated or truncated file again from its start')
    .option('--source-id <id>', 'checkpoint name of the source (default: from the file path); only with a single file');
}

/** Adds every source's flags: files (--file, --follow, --source-id), live sources and replay. */
export function withSourceOptions(command: Command): Command {
  return withLiveSourceOptions(withFileSourceOptions(command));
}

/** The sources of one command, and how to run them. */
export interface CommandSources {
  sources: Source[];
  /** True when a source never ends by itself (tail, live, looped replay): streamers then run at once, not in turn. */
  concurrent: boolean;
}

/**
 * Every Source the flags ask for: the checked files (each wrapped for
 * --replay when asked), then the live sources; with none of them and
 * `simulateByDefault` (gputel start), the simulated fleet. Throws
 * BAD_CONFIG for flags that apply to a source not given.
 */
export function buildSources(specs: FileSourceSpec[], options: Record<string, unknown>, ctx: { logger: Logger; simulateByDefault?: boolean }): CommandSources {
  if (specs.length === 0) {
    for (const [flag, given] of [['--replay', options.replay], ['--speed', options.speed], ['--loop', options.loop], ['--rebase-time', options.rebaseTime], ['--follow', options.follow], ['--source-id', options.sourceId]] as const) {
      if (given !== undefined) throw new GputelError('BAD_CONFIG', `${flag} applies to --file, which was not given`);
    }
  }
  const files = buildFileSources(specs, ctx.logger).map((source) => withReplay(source, options));
  const live = liveSourcesFrom(options, { logger: ctx.logger, simulateByDefault: ctx.simulateByDefault === true && specs.length === 0 });
  return {
    sources: [...files, ...live],
    concurrent: live.length > 0 || hasLiveSource(options) || specs.some((s) => s.follow) || options.loop === true,
  };
}

/** A file the options name, checked to be readable as a file. */
export interface FileSourceSpec {
  /** A path, or '-' for stdin. */
  path: string;
  follow: boolean;
  sourceId?: string;
}

/**
 * Expands and checks the --file paths before anything starts. Throws
 * BAD_CONFIG (a bad flag value) naming the path for a missing file, a
 * directory, or a pattern that matches nothing, and for --source-id with several files or
 * stdin mixed with files. [] when no --file was given.
 */
export async function resolveFileSources(options: Record<string, unknown>): Promise<FileSourceSpec[]> {
  const given = options.file === undefined ? [] : Array.isArray(options.file) ? (options.file as string[]) : [String(options.file)];
  if (given.length === 0) return [];
  const follow = options.follow === true;
  const sourceId = options.sourceId as string | undefined;
  if (given.includes('-')) {
    if (given.length > 1) throw new GputelError('BAD_CONFIG', '--file - (stdin) cannot be combined with files: run one streamer for stdin and one for the files');
    return [{ path: '-', follow: false, sourceId }];
  }
  const paths: string[] = [];
  for (const entry of given) {
    if (isGlob(entry)) {
      const matches = await expandGlob(entry);
      if (matches.length === 0) throw new GputelError('BAD_CONFIG', `--file ${entry}: no file matches this pattern; check the folder and the pattern`);
      paths.push(...matches);
    } else {
      paths.push(entry);
    }
  }
  const unique = [...new Map(paths.map((p) => [resolve(p), p])).values()];
  for (const path of unique) {
    const stats = await stat(path).catch((error: NodeJS.ErrnoException) => {
      const reason = error.code === 'ENOENT' ? 'no such file; check the path' : error.code === 'EACCES' ? 'permission denied' : error.message;
      throw new GputelError('BAD_CONFIG', `--file ${path}: ${reason}`);
    });
    if (stats.isDirectory()) {
      throw new GputelError('BAD_CONFIG', `--file ${path} is a directory; pass the files in it, e.g. --file '${path.replace(/\/$/, '')}/*.csv'`);
    }
  }
  if (sourceId !== undefined && unique.length > 1) {
    throw new GputelError('BAD_CONFIG', `--source-id names one source but --file gives ${unique.length} files; drop --source-id (each file gets its own) or stream one file`);
  }
  return unique.map((path) => ({ path, follow, sourceId }));
}

/** The Sources of checked specs. */
export function buildFileSources(specs: FileSourceSpec[], logger: Logger): Source[] {
  return specs.map((spec) => new CsvFileSource({ path: spec.path, follow: spec.follow, sourceId: spec.sourceId, logger }));
}

/** Streamer settings for one source, from the resolved configuration; with `settings`, the live ones follow live configuration. */
export function streamerOptionsOf(config: GputelConfig, source: Source, logger: Logger, settings?: LiveSettings): StreamerOptions {
  return {
    source,
    cluster: config.cluster,
    topic: config.topic,
    partitions: config.partitions,
    batchSamples: settings?.setting('batchSamples') ?? config.batchSamples,
    highWatermark: config.highWatermark,
    lowWatermark: config.lowWatermark || undefined,
    maxRowsPerSecond: settings?.setting('maxRate') ?? (config.maxRate || undefined),
    maxClockSkewMs: config.maxClockSkewMs,
    flushIntervalMs: settings?.setting('flushIntervalMs') ?? config.flushIntervalMs,
    logger,
  };
}

/**
 * Runs streamers: in turn when every source ends by itself (files read
 * once), all at once otherwise (a followed file never ends, so the next
 * would never start). A failed source does not stop the others. Resolves
 * with every summary, in order; streamers stopped before their turn report
 * nothing read.
 */
export async function runStreamers(streamers: Streamer[], options: { concurrent: boolean }): Promise<StreamSummary[]> {
  if (options.concurrent) return Promise.all(streamers.map((s) => s.run()));
  const summaries: StreamSummary[] = [];
  for (const streamer of streamers) summaries.push(await streamer.run());
  return summaries;
}
