/**
 * `gputel start`: every role in one process, on the embedded store unless
 * --etcd is given. Given no source it runs a live simulated fleet (back-filled
 * with the last hour), so a newcomer's dashboard moves at once.
 */
import { Command } from 'commander';
import { Collector } from '../collector/collector.js';
import { errorMessage } from '../common/gputel-error.js';
import { Gateway } from '../gateway/gateway.js';
import { Streamer } from '../streamer/streamer.js';
import { requireClusterTopic } from '../queue/cluster-topic-binding.js';
import { configFrom, withCommonOptions } from './common-options.js';
import { openRoleRuntime } from './role-runtime.js';
import { buildSources, resolveFileSources, runStreamers, streamerOptionsOf, withSourceOptions } from './source-options.js';
import { printSummaries } from './streamer-command.js';

export function startCommand(): Command {
  return withSourceOptions(withCommonOptions(new Command('start'), ['server', 'streamer', 'collector', 'gateway']))
    .description('run streamer, collector and gateway in one process (dashboard and API on --port, default 8080); given no source, a live simulated fleet')
    .action(async (options: Record<string, unknown>) => {
      // All in one process is for a workstation: listen on loopback unless told otherwise.
      const config = configFrom(options, { host: '127.0.0.1' });
      // Refused before serving: a missing file, a directory, a pattern matching nothing.
      const specs = await resolveFileSources(options);
      const runtime = await openRoleRuntime(config, 'start');
      const { kv, keys, logger } = runtime;
      await requireClusterTopic(kv, keys, config.cluster, config.topic).catch(async (error: unknown) => {
        await runtime.stop();
        throw error;
      });
      let built;
      try {
        built = buildSources(specs, options, { logger, simulateByDefault: true });
      } catch (error) {
        await runtime.stop();
        throw error;
      }
      const streamers: Streamer[] = [];
      const collector = new Collector(kv, keys, { topic: config.topic, cluster: config.cluster, partitions: config.partitions, leaseTtlSeconds: config.leaseTtlSeconds, retentionMs: config.retentionMs, logger });
      // A source that failed (not a DCGM export, unreadable) makes /readyz 503, naming it and why.
      const gateway = new Gateway(kv, keys, {
        cluster: config.cluster,
        host: config.host,
        port: config.port,
        staleAfterMs: config.staleAfterMs,
        logger,
        extraChecks: () => [...collector.readinessChecks(), ...streamers.map((s) => s.readinessCheck())],
      });
      runtime.onStop(() => gateway.stop());
      runtime.onStop(() => collector.stop());
      await collector.start();
      const url = await gateway.start();
      process.stdout.write(`gputel is running: dashboard and API on http://localhost:${gateway.port} (${url})\n`);

      for (const source of built.sources) process.stdout.write(`streaming ${source.location}\n`);
      streamers.push(...built.sources.map((source) => new Streamer(kv, keys, streamerOptionsOf(config, source, logger))));
      runtime.onStop(async () => {
        await Promise.all(streamers.map((s) => s.stop()));
      });
      runStreamers(streamers, { concurrent: built.concurrent }).then(printSummaries, (error: unknown) => {
        process.stderr.write(`streaming failed: ${errorMessage(error)}\n`);
        logger.error({ err: error }, 'streaming failed');
      });
    });
}
