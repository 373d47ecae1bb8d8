/** `gputel streamer`: streams sources (DCGM CSV files, stdin, dcgm-exporter scrapes, nvidia-smi, a simulated fleet) onto the queue. */
import { Command } from 'commander';
import { GputelError } from '../common/gputel-error.js';
import { startRoleServer } from '../common/role-server.js';
import { Streamer, type StreamSummary } from '../streamer/streamer.js';
import { requireClusterTopic } from '../queue/cluster-topic-binding.js';
import { QUEUE_ROLE_GROUPS, configFrom, requireEtcd, withCommonOptions } from './common-options.js';
import { openRoleRuntime } from './role-runtime.js';
import { buildSources, resolveFileSources, runStreamers, streamerOptionsOf, withSourceOptions } from './source-options.js';
import { hasLiveSource } from './live-source-options.js';
import { progressSettingsOf, reportProgress, withProgressOptions } from './progress-reporter.js';
import { streamProgressTasks } from './stream-progress.js';
import { EXIT, exitCodeOfErrorCode, type ExitCode } from './exit-codes.js';

/** One line for people and scripts: what a stream did (and why it failed, when it did). */
export function formatSummary(summary: StreamSummary): string {
  const rate = Math.round(summary.rowsPerSecond).toLocaleString('en-US');
  const resumed = summary.resumedFromByte > 0 ? `, resumed at byte ${summary.resumedFromByte}` : '';
  const earlier = summary.sourceRowsRejected - summary.rowsRejected;
  const rejectedBefore = earlier > 0 ? ` (and ${earlier} in earlier runs of this source)` : '';
  const failed = summary.failure === undefined ? '' : `; FAILED: ${summary.failure}`;
  return `${summary.location}: rows read ${summary.rowsRead}, rows rejected ${summary.rowsRejected}${rejectedBefore}, good rows ${summary.goodRows}, messages ${summary.messages}, ${rate} rows/s (${summary.seconds.toFixed(2)} s${resumed})${failed}`;
}

/** Lines naming the rejected rows, for stderr. */
export function formatRejections(summary: StreamSummary): string[] {
  const lines = summary.rejections.map((r) => `${summary.location}:${r.lineNumber}: ${r.reason}`);
  if (summary.rowsRejected > summary.rejections.length) lines.push(`… and ${summary.rowsRejected - summary.rejections.length} more (all are in the log)`);
  return lines;
}

/** Prints summaries: rejections and failures on stderr, the summary lines on stdout. */
export function printSummaries(summaries: StreamSummary[]): void {
  for (const summary of summaries) {
    for (const line of formatRejections(summary)) process.stderr.write(line + '\n');
    if (summary.failure !== undefined) process.stderr.write(`gputel: source ${summary.location} failed: ${summary.failure}\n`);
    process.stdout.write(formatSummary(summary) + '\n');
  }
}

/**
 * The exit code of a finished stream (docs/cli.md, "Exit codes"): a setting
 * that cannot work (e.g. a partition count the topic does not have) is a
 * configuration error; a source that failed, FAILED; with `strict`, rows
 * rejected by this source in any run, REJECTED_INPUT (judged on the whole
 * source: a rerun that resumes past rejected rows must not turn a failure
 * into success); otherwise OK.
 */
export function streamExitCode(summaries: StreamSummary[], strict: boolean): ExitCode {
  const failures = summaries.filter((s) => s.failure !== undefined);
  if (failures.some((s) => exitCodeOfErrorCode(s.failureCode ?? 'INTERNAL') === EXIT.CONFIG)) return EXIT.CONFIG;
  if (failures.length > 0) return EXIT.FAILED;
  if (strict && summaries.some((s) => s.sourceRowsRejected > 0)) return EXIT.REJECTED_INPUT;
  return EXIT.OK;
}

export function streamerCommand(): Command {
  return withProgressOptions(withSourceOptions(withCommonOptions(new Command('streamer'), [...QUEUE_ROLE_GROUPS, 'streamer'], { etcdRequired: true })))
    .description(
      'stream sources onto the queue: DCGM CSV files or stdin (--file), dcgm-exporter endpoints (--scrape), nvidia-smi (--nvidia-smi) or a simulated fleet (--simulate); ' +
        'exits once every row of its files is committed (live sources, --follow and --loop run until SIGTERM)',
    )
    .option('--strict', `exit ${EXIT.REJECTED_INPUT} when any row was rejected, in this run or an earlier one of the same source`)
    .action(async (options: Record<string, unknown>) => {
      const config = configFrom(options, { port: 0 });
      requireEtcd(config, 'streamer');
      const progressSettings = progressSettingsOf(options, config);
      // Refused before anything starts: a directory, a missing file, a pattern matching nothing.
      const specs = await resolveFileSources(options);
      if (specs.length === 0 && !hasLiveSource(options)) {
        throw new GputelError('BAD_CONFIG', 'gputel streamer needs a source: pass --file PATH (or - for stdin), --scrape URLS, --nvidia-smi or --simulate');
      }
      const runtime = await openRoleRuntime(config, 'streamer');
      await requireClusterTopic(runtime.kv, runtime.keys, config.cluster, config.topic).catch(async (error: unknown) => {
        await runtime.stop();
        throw error;
      });
      let built;
      try {
        built = buildSources(specs, options, { logger: runtime.logger });
      } catch (error) {
        await runtime.stop();
        throw error;
      }
      const streamers = built.sources.map((source) => new Streamer(runtime.kv, runtime.keys, streamerOptionsOf(config, source, runtime.logger, runtime.settings)));
      const server = await startRoleServer({
        host: config.host,
        port: config.port,
        logger: runtime.logger,
        settings: runtime.settings,
        checks: () => [{ name: `store (${runtime.kv.driver})`, check: () => runtime.kv.ping() }, ...streamers.map((s) => s.readinessCheck())],
      });
      runtime.logger.info({ address: server.server.address() }, 'streamer health and metrics listening');
      runtime.onStop(() => server.close());
      runtime.onStop(async () => {
        await Promise.all(streamers.map((s) => s.stop()));
        // Stopped by a signal: a source that had failed still makes the exit code say so.
        if (streamers.some((s) => s.state === 'failed')) process.exitCode = EXIT.FAILED;
      });
      const stopProgress = reportProgress(await streamProgressTasks(specs, built, streamers), progressSettings);
      runtime.onStop(async () => stopProgress());
      try {
        const summaries = await runStreamers(streamers, { concurrent: built.concurrent });
        stopProgress();
        printSummaries(summaries);
        await runtime.stop();
        process.exitCode = streamExitCode(summaries, options.strict === true);
      } catch (error) {
        await runtime.stop();
        throw error;
      }
    });
}
