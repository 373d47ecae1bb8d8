/**
 * `gputel start`: every role in one process, on the embedded store unless
 * --etcd is given. Given no source it runs a live simulated fleet (back-filled
 * with the last hour), so a newcomer's dashboard moves at once.
 */
import { Command } from 'commander';
import { Collector } from '../collector/collector.js';
import { errorMessage } from '../common/gputel-error.js';
import { Gateway } from '../gateway/gateway.js';
import { SIMULATOR_SOURCE_PREFIX } from '../ingest/simulator-source.js';
import type { KeySpace } from '../kv/key-space.js';
import type { KvStore } from '../kv/kv-store.js';
import { Streamer } from '../streamer/streamer.js';
import { requireClusterTopic } from '../queue/cluster-topic-binding.js';
import { QUEUE_ROLE_GROUPS, configFrom, withCommonOptions } from './common-options.js';
import { gatewayOptionsOf, gatewaySecurityOf, reloadKeysOnSighup } from './gateway-security-options.js';
import { openRoleRuntime } from './role-runtime.js';
import { buildSources, resolveFileSources, runStreamers, streamerOptionsOf, withSourceOptions } from './source-options.js';
import { printSummaries } from './streamer-command.js';
import { progressSettingsOf, reportProgress, withProgressOptions } from './progress-reporter.js';
import { streamProgressTasks } from './stream-progress.js';

export function startCommand(): Command {
  return withProgressOptions(withSourceOptions(withCommonOptions(new Command('start'), [...QUEUE_ROLE_GROUPS, 'streamer', 'collector', 'gateway'])))
    .description('run streamer, collector and gateway in one process (dashboard and API on --port, default 8080); given no source, a live simulated fleet (unless the store holds other data: then it serves that)')
    .action(async (options: Record<string, unknown>) => {
      // All in one process is for a workstation: listen on loopback unless told otherwise.
      const config = configFrom(options, { host: '127.0.0.1' });
      const security = gatewaySecurityOf(config);
      const progressSettings = progressSettingsOf(options, config);
      // Refused before serving: a missing file, a directory, a pattern matching nothing.
      const specs = await resolveFileSources(options);
      const runtime = await openRoleRuntime(config, 'start');
      const { kv, keys, logger, settings } = runtime;
      await requireClusterTopic(kv, keys, config.cluster, config.topic).catch(async (error: unknown) => {
        await runtime.stop();
        throw error;
      });
      let built;
      try {
        built = buildSources(specs, options, { logger, simulateByDefault: await onlySimulatedData(kv, keys, config.cluster, config.topic) });
        if (built.sources.length === 0) process.stdout.write('no source given and the store holds data: serving it (add --simulate for a simulated fleet beside it)\n');
      } catch (error) {
        await runtime.stop();
        throw error;
      }
      const streamers: Streamer[] = [];
      const collector = new Collector(kv, keys, { topic: config.topic, cluster: config.cluster, partitions: config.partitions, leaseTtlSeconds: config.leaseTtlSeconds, retentionMs: settings.setting('retentionMs'), logger });
      // A source that failed (not a DCGM export, unreadable) makes /readyz 503, naming it and why.
      const gateway = new Gateway(kv, keys, {
        ...gatewayOptionsOf(config, settings, security, logger),
        extraChecks: () => [...collector.readinessChecks(), ...streamers.map((s) => s.readinessCheck())],
      });
      runtime.onStop(() => gateway.stop());
      reloadKeysOnSighup(config, security, runtime.logger);
      runtime.onStop(() => collector.stop());
      await collector.start();
      const url = await gateway.start();
      // localhost only where it reaches the gateway: the loopback address, or every address.
      const local = ['127.0.0.1', '0.0.0.0', '::', '::1', 'localhost'].includes(config.host) ? ` ${security.tls === undefined ? 'http' : 'https'}://localhost:${gateway.port} (${url})` : ` ${url}`;
      process.stdout.write(`gputel is running: dashboard and API on${local}\n`);

      for (const source of built.sources) process.stdout.write(`streaming ${source.location}\n`);
      streamers.push(...built.sources.map((source) => new Streamer(kv, keys, streamerOptionsOf(config, source, logger, settings))));
      runtime.onStop(async () => {
        await Promise.all(streamers.map((s) => s.stop()));
      });
      const stopProgress = reportProgress(await streamProgressTasks(specs, built, streamers), progressSettings);
      runtime.onStop(async () => stopProgress());
      runStreamers(streamers, { concurrent: built.concurrent }).then((summaries) => {
        stopProgress();
        printSummaries(summaries);
      }, (error: unknown) => {
        stopProgress();
        process.stderr.write(`streaming failed: ${errorMessage(error)}\n`);
        logger.error({ err: error }, 'streaming failed');
      });
    });
}

/**
 * Whether the store is empty or holds only what the simulator streamed: only
 * then does `start` with no source simulate a fleet. The simulator's samples
 * carry today's time, so beside an imported export they would move the
 * cluster's newest sample on and retention would remove the export.
 */
async function onlySimulatedData(kv: KvStore, keys: KeySpace, cluster: string, topic: string): Promise<boolean> {
  const stored = await kv.range({ prefix: keys.statsPrefix(cluster) }, { countOnly: true });
  if (stored.count === 0) return true;
  const sources = await kv.range({ prefix: keys.checkpointsPrefix(topic) }, { keysOnly: true });
  const ids = sources.kvs.map(({ key }) => key.slice(keys.checkpointsPrefix(topic).length));
  return ids.length > 0 && ids.every((id) => id.startsWith(SIMULATOR_SOURCE_PREFIX));
}
