/**
 * `gputel start`: every role in one process, on the embedded store unless
 * --etcd is given. With no --file it fills itself with an hour of generated
 * demo data, so a newcomer sees GPUs at once.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { Collector } from '../collector/collector.js';
import { errorMessage, GputelError } from '../common/gputel-error.js';
import { Gateway } from '../gateway/gateway.js';
import { requireClusterTopic } from '../queue/cluster-topic-binding.js';
import { FileStreamer } from '../streamer/file-streamer.js';
import { configFrom, withCommonOptions } from './common-options.js';
import { writeGeneratedFile } from './generate-command.js';
import { openRoleRuntime } from './role-runtime.js';
import { formatRejections, formatSummary } from './streamer-command.js';

const DEMO_FILE = 'demo-dcgm.csv';

export function startCommand(): Command {
  return withCommonOptions(new Command('start'))
    .description('run streamer, collector and gateway in one process (dashboard and API on --port, default 8080)')
    .option('--file <path>', 'DCGM CSV file to ingest (default: generated demo data)')
    .action(async (options: Record<string, unknown>) => {
      // All in one process is for a workstation: listen on loopback unless told otherwise.
      const config = configFrom(options, { host: '127.0.0.1' });
      if (options.file !== undefined && !existsSync(options.file as string)) {
        throw new GputelError('BAD_INPUT', `cannot read ${String(options.file)}: no such file`);
      }
      const runtime = await openRoleRuntime(config, 'start');
      const { kv, keys, logger } = runtime;
      await requireClusterTopic(kv, keys, config.cluster, config.topic).catch(async (error: unknown) => {
        await runtime.stop();
        throw error;
      });
      const collector = new Collector(kv, keys, { topic: config.topic, partitions: config.partitions, leaseTtlSeconds: config.leaseTtlSeconds, logger });
      const gateway = new Gateway(kv, keys, { cluster: config.cluster, host: config.host, port: config.port, logger, extraChecks: () => collector.readinessChecks() });
      runtime.onStop(() => gateway.stop());
      runtime.onStop(() => collector.stop());
      await collector.start();
      const url = await gateway.start();
      process.stdout.write(`gputel is running: dashboard and API on http://localhost:${gateway.port} (${url})\n`);

      let file = options.file as string | undefined;
      if (!file) {
        file = join(config.dataDir, DEMO_FILE);
        if (!existsSync(file)) {
          mkdirSync(config.dataDir, { recursive: true });
          const hourMs = 3_600_000;
          const rows = await writeGeneratedFile(file, { hosts: 4, gpusPerHost: 8, durationMs: hourMs, intervalMs: 10_000, seed: 1, startMs: Math.floor((Date.now() - hourMs) / 1000) * 1000 });
          process.stdout.write(`generated ${rows} rows of demo data (4 hosts × 8 GPUs, last hour) in ${file}\n`);
        }
      }
      const streamer = new FileStreamer(kv, keys, {
        file,
        cluster: config.cluster,
        topic: config.topic,
        partitions: config.partitions,
        batchSamples: config.batchSamples,
        highWatermark: config.highWatermark,
        logger,
      });
      runtime.onStop(async () => streamer.stop());
      streamer.run().then(
        (summary) => {
          for (const line of formatRejections(summary)) process.stderr.write(line + '\n');
          process.stdout.write(formatSummary(summary) + '\n');
        },
        (error: unknown) => {
          process.stderr.write(`streaming ${file} failed: ${errorMessage(error)}\n`);
          logger.error({ err: error, file }, 'streaming failed');
        },
      );
    });
}
