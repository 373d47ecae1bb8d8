/**
 * What every long-running command does around its components: open the
 * store, stop everything in order on SIGINT/SIGTERM, and exit with a code
 * that says whether it ended cleanly.
 */
import { hostname } from 'node:os';
import type { GputelConfig } from '../common/config.js';
import { GputelError } from '../common/gputel-error.js';
import { exportLiveSettings } from '../common/live-settings-metrics.js';
import { LiveSettings } from '../common/live-settings.js';
import { createLogger, setLogLevel, type Logger } from '../common/logger.js';
import { KeySpace } from '../kv/key-space.js';
import type { KvStore } from '../kv/kv-store.js';
import { LiveConfigFollower } from '../store/live-config-follower.js';
import { HistoryCompactor } from '../store/maintenance/history-compactor.js';
import { StoreHealthMonitor } from '../store/maintenance/store-health-monitor.js';
import { EXIT } from './exit-codes.js';
import { whyPortUnavailable } from './cluster/free-ports.js';
import { requireResolvableHost } from './listen-host.js';
import { openConfiguredStore } from './open-configured-store.js';

export interface RoleRuntime {
  config: GputelConfig;
  /** The settings in effect: `config` overridden by live configuration (docs/configuration.md). */
  settings: LiveSettings;
  logger: Logger;
  kv: KvStore;
  keys: KeySpace;
  /** Registers a stop step; steps run in reverse order of registration. */
  onStop(step: () => Promise<void>): void;
  /** Runs every stop step once, then closes the store. */
  stop(): Promise<void>;
}

/**
 * Opens the store of a role that listens on --host; throws BAD_CONFIG for a --host that does not resolve, or a --port
 * that cannot be listened on, before opening anything (`gputel start` would otherwise write its simulator's back-fill
 * to a store it then cannot serve).
 */
export async function openRoleRuntime(config: GputelConfig, role: string): Promise<RoleRuntime> {
  await requireResolvableHost(config.host);
  const portProblem = await whyPortUnavailable(config.port, config.host);
  if (portProblem !== undefined) throw new GputelError('BAD_CONFIG', `cannot listen on ${config.host}:${config.port}: ${portProblem}`);
  const logger = createLogger(config.logLevel, { service: 'gputel', process: role });
  const kv = await openConfiguredStore(config, logger);
  const encryption = config.encryptionKeyFile === '' ? 'off' : config.encryptionKeyFile;
  logger.info({ driver: kv.driver, etcd: config.etcd, dataDir: config.etcd.length > 0 ? undefined : config.dataDir, encryption }, 'store opened');
  const settings = new LiveSettings(config, logger);
  exportLiveSettings(settings);
  settings.setting('logLevel').onChange((level) => setLogLevel(logger, level));
  const steps: (() => Promise<void>)[] = [];
  let stopping: Promise<void> | undefined;
  const runtime: RoleRuntime = {
    config,
    settings,
    logger,
    kv,
    keys: new KeySpace(config.root),
    onStop: (step) => steps.push(step),
    stop: () =>
      (stopping ??= (async () => {
        for (const step of steps.reverse()) {
          await step().catch((error: unknown) => logger.error({ err: error }, 'stop step failed'));
        }
        await kv.close();
      })()),
  };
  // Before any component starts, so each starts on the live values.
  const follower = new LiveConfigFollower(kv, runtime.keys, config.cluster, settings, logger);
  try {
    await follower.start();
  } catch (error) {
    await kv.close();
    throw error;
  }
  runtime.onStop(() => follower.stop());
  startEtcdMaintenance(runtime, role);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      logger.info({ signal }, 'stopping');
      runtime.stop().then(
        // A stop step may have set the exit code (a streamer whose source had failed).
        () => process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0),
        () => process.exit(EXIT.INTERNAL),
      );
    });
  }
  return runtime;
}

/**
 * On etcd, every role exports etcd's health on /metrics and takes part in
 * electing the one history compactor (the embedded store bounds its own
 * history). They are registered first, so they stop last, after the roles.
 */
function startEtcdMaintenance(runtime: RoleRuntime, role: string): void {
  if (runtime.kv.driver !== 'etcd') return;
  const monitor = new StoreHealthMonitor(runtime.kv, runtime.logger);
  monitor.start();
  runtime.onStop(() => monitor.stop());
  // Started even when the interval is 0 (off): a live --etcd-compaction-interval can turn it on.
  const intervalMs = runtime.settings.setting('etcdCompactionIntervalMs');
  if (intervalMs.value === 0) runtime.logger.info('etcd history compaction is off (--etcd-compaction-interval 0): etcd must compact itself (--auto-compaction-retention)');
  const compactor = new HistoryCompactor(runtime.kv, runtime.keys, { intervalMs, instanceId: `${hostname()}-${process.pid}-${role}`, logger: runtime.logger });
  compactor.start();
  runtime.onStop(() => compactor.stop());
}
