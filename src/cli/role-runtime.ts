/**
 * What every long-running command does around its components: open the
 * store, stop everything in order on SIGINT/SIGTERM, and exit with a code
 * that says whether it ended cleanly.
 */
import type { GputelConfig } from '../common/config.js';
import { createLogger, type Logger } from '../common/logger.js';
import { KeySpace } from '../kv/key-space.js';
import type { KvStore } from '../kv/kv-store.js';
import { openKvStore } from '../kv/open-kv-store.js';

export interface RoleRuntime {
  config: GputelConfig;
  logger: Logger;
  kv: KvStore;
  keys: KeySpace;
  /** Registers a stop step; steps run in reverse order of registration. */
  onStop(step: () => Promise<void>): void;
  /** Runs every stop step once, then closes the store. */
  stop(): Promise<void>;
}

export async function openRoleRuntime(config: GputelConfig, role: string): Promise<RoleRuntime> {
  const logger = createLogger(config.logLevel, { service: 'gputel', process: role });
  const kv = await openKvStore(config.etcd.length > 0 ? { endpoints: config.etcd } : { dataDir: config.dataDir });
  logger.info({ driver: kv.driver, etcd: config.etcd, dataDir: config.etcd.length > 0 ? undefined : config.dataDir }, 'store opened');
  const steps: (() => Promise<void>)[] = [];
  let stopping: Promise<void> | undefined;
  const runtime: RoleRuntime = {
    config,
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
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      logger.info({ signal }, 'stopping');
      runtime.stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
  return runtime;
}
