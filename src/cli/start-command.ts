/**
 * `gputel start`: every role in one process, on the embedded store unless
 * --etcd is given. With no --file it fills itself with an hour of generated
 * demo data, so a newcomer sees GPUs at once.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { Collector } from '../collector/collector.js';
import { errorMessage } from '../common/gputel-error.js';
import { Gateway } from '../gateway/gateway.js';
import { Streamer } from '../streamer/streamer.js';
import { configFrom, withCommonOptions } from './common-options.js';
import { writeGeneratedFile } from './generate-command.js';
import { openRoleRuntime } from './role-runtime.js';
import { buildFileSources, resolveFileSources, runStreamers, streamerOptionsOf, withFileSourceOptions, type FileSourceSpec } from './source-options.js';
import { printSummaries } from './streamer-command.js';

const DEMO_FILE = 'demo-dcgm.csv';

export function startCommand(): Command {
  return withFileSourceOptions(withCommonOptions(new Command('start')))
    .description('run streamer, collector and gateway in one process (dashboard and API on --port, default 8080); with no --file, generated demo data')
    .action(async (options: Record<string, unknown>) => {
      // All in one process is for a workstation: listen on loopback unless told otherwise.
      const config = configFrom(options, { host: '127.0.0.1' });
      // Refused before serving: a missing file, a directory, a pattern matching nothing.
      let specs: FileSourceSpec[] = await resolveFileSources(options);
      const runtime = await openRoleRuntime(config, 'start');
      const { kv, keys, logger } = runtime;
      const streamers: Streamer[] = [];
      const collector = new Collector(kv, keys, { topic: config.topic, partitions: config.partitions, logger });
      // A source that failed (not a DCGM export, unreadable) makes /readyz 503, naming it and why.
      const gateway = new Gateway(kv, keys, {
        cluster: config.cluster,
        host: config.host,
        port: config.port,
        logger,
        extraChecks: () => [...collector.readinessChecks(), ...streamers.map((s) => s.readinessCheck())],
      });
      runtime.onStop(() => gateway.stop());
      runtime.onStop(() => collector.stop());
      await collector.start();
      const url = await gateway.start();
      process.stdout.write(`gputel is running: dashboard and API on http://localhost:${gateway.port} (${url})\n`);

      if (specs.length === 0) {
        const file = join(config.dataDir, DEMO_FILE);
        if (!existsSync(file)) {
          mkdirSync(config.dataDir, { recursive: true });
          const hourMs = 3_600_000;
          const rows = await writeGeneratedFile(file, { hosts: 4, gpusPerHost: 8, durationMs: hourMs, intervalMs: 10_000, seed: 1, startMs: Math.floor((Date.now() - hourMs) / 1000) * 1000 });
          process.stdout.write(`generated ${rows} rows of demo data (4 hosts × 8 GPUs, last hour) in ${file}\n`);
        }
        specs = [{ path: file, follow: false, sourceId: options.sourceId as string | undefined }];
      }
      streamers.push(...buildFileSources(specs, logger).map((source) => new Streamer(kv, keys, streamerOptionsOf(config, source, logger))));
      runtime.onStop(async () => {
        await Promise.all(streamers.map((s) => s.stop()));
      });
      runStreamers(streamers, { concurrent: specs.some((s) => s.follow) }).then(printSummaries, (error: unknown) => {
        process.stderr.write(`streaming failed: ${errorMessage(error)}\n`);
        logger.error({ err: error }, 'streaming failed');
      });
    });
}
