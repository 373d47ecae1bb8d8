/** `gputel streamer`: streams a DCGM CSV file onto the queue. */
import { Command } from 'commander';
import { startRoleServer } from '../common/role-server.js';
import { requireClusterTopic } from '../queue/cluster-topic-binding.js';
import { FileStreamer, type StreamSummary } from '../streamer/file-streamer.js';
import { configFrom, requireEtcd, withCommonOptions } from './common-options.js';
import { openRoleRuntime } from './role-runtime.js';

/** One line for people and scripts: what a file stream did. */
export function formatSummary(summary: StreamSummary): string {
  const rate = Math.round(summary.rowsPerSecond).toLocaleString('en-US');
  const resumed = summary.resumedFromByte > 0 ? `, resumed at byte ${summary.resumedFromByte}` : '';
  const earlier = summary.sourceRowsRejected - summary.rowsRejected;
  const rejectedBefore = earlier > 0 ? ` (and ${earlier} in earlier runs of this source)` : '';
  return `${summary.file}: rows read ${summary.rowsRead}, rows rejected ${summary.rowsRejected}${rejectedBefore}, good rows ${summary.goodRows}, messages ${summary.messages}, ${rate} rows/s (${summary.seconds.toFixed(2)} s${resumed})`;
}

/** Lines naming the rejected rows, for stderr. */
export function formatRejections(summary: StreamSummary): string[] {
  const lines = summary.rejections.map((r) => `${summary.file}:${r.lineNumber}: ${r.reason}`);
  if (summary.rowsRejected > summary.rejections.length) lines.push(`… and ${summary.rowsRejected - summary.rejections.length} more (all are in the log)`);
  return lines;
}

export function streamerCommand(): Command {
  return withCommonOptions(new Command('streamer'))
    .description('stream a DCGM CSV file onto the queue; exits once every row is committed')
    .requiredOption('--file <path>', 'DCGM long-format CSV file')
    .option('--source-id <id>', 'checkpoint name of this source (default: from the file path)')
    .option('--strict', 'exit 1 when any row of the file was rejected, in this run or an earlier one')
    .action(async (options: Record<string, unknown>) => {
      const config = configFrom(options, { port: 0 });
      requireEtcd(config, 'streamer');
      const runtime = await openRoleRuntime(config, 'streamer');
      await requireClusterTopic(runtime.kv, runtime.keys, config.cluster, config.topic).catch(async (error: unknown) => {
        await runtime.stop();
        throw error;
      });
      const streamer = new FileStreamer(runtime.kv, runtime.keys, {
        file: options.file as string,
        cluster: config.cluster,
        topic: config.topic,
        partitions: config.partitions,
        batchSamples: config.batchSamples,
        highWatermark: config.highWatermark,
        sourceId: options.sourceId as string | undefined,
        logger: runtime.logger,
      });
      const server = await startRoleServer({ host: config.host, port: config.port, logger: runtime.logger, checks: () => [{ name: `store (${runtime.kv.driver})`, check: () => runtime.kv.ping() }] });
      runtime.logger.info({ address: server.server.address() }, 'streamer health and metrics listening');
      runtime.onStop(() => server.close());
      runtime.onStop(async () => streamer.stop());
      try {
        const summary = await streamer.run();
        for (const line of formatRejections(summary)) process.stderr.write(line + '\n');
        process.stdout.write(formatSummary(summary) + '\n');
        await runtime.stop();
        // Judged on the whole source: a rerun that resumes past rejected rows must not turn a failure into success.
        process.exitCode = options.strict && summary.sourceRowsRejected > 0 ? 1 : 0;
      } catch (error) {
        await runtime.stop();
        throw error;
      }
    });
}
