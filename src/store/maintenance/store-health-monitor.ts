/**
 * Polls the store's health (etcd's database size, in-use size and alarms)
 * into gauges on /metrics, on every role, so that operators see etcd filling
 * up before its quota refuses writes. Logs when an alarm is raised or
 * cleared, once per change rather than once per poll.
 */
import { errorMessage } from '../../common/gputel-error.js';
import type { Logger } from '../../common/logger.js';
import { gauge } from '../../common/metrics.js';
import type { KvStore, StoreStatus } from '../../kv/kv-store.js';
import { pause } from '../../common/backoff.js';

const up = gauge('gputel_etcd_up', '1 when etcd answered the last health poll, else 0');
const dbSize = gauge('gputel_etcd_db_size_bytes', 'Bytes etcd\'s backend database takes on disk (dbSize, of the member that answered)');
const dbSizeInUse = gauge('gputel_etcd_db_size_in_use_bytes', 'Bytes of etcd\'s backend database in use (dbSizeInUse); the rest returns only by defragmentation');
const alarm = gauge('gputel_etcd_alarm', '1 while etcd has raised this alarm (NOSPACE: the backend quota is full and every write fails)', ['alarm']);
const revision = gauge('gputel_etcd_revision', 'etcd\'s current revision');

/** The alarms etcd knows; each is exported, 0 when not raised, so that alerts can match on a value. */
const KNOWN_ALARMS = ['NOSPACE', 'CORRUPT'];
const DEFAULT_POLL_MS = 10_000;

export class StoreHealthMonitor {
  private readonly abort = new AbortController();
  private readonly logger: Logger;
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private raised = new Set<string>();
  private wasUp = true;
  /** The last status read, undefined until the first poll answered. */
  last: StoreStatus | undefined;

  constructor(
    private readonly kv: KvStore,
    logger: Logger,
    private readonly pollMs = DEFAULT_POLL_MS,
  ) {
    this.logger = logger.child({ component: 'store-health' });
    for (const name of KNOWN_ALARMS) alarm.set({ alarm: name }, 0);
  }

  /** Starts polling; returns at once. */
  start(): void {
    if (this.loop !== undefined || this.stopping !== undefined) return;
    this.loop = this.run();
  }

  /** Safe before start and twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.abort.abort();
      await this.loop;
    })();
    return this.stopping;
  }

  /** Reads the status once into the gauges. Never throws: a failed poll sets gputel_etcd_up to 0. */
  async poll(): Promise<void> {
    try {
      const status = await this.kv.status();
      this.last = status;
      up.set(1);
      dbSize.set(status.dbSizeBytes);
      dbSizeInUse.set(status.dbSizeInUseBytes);
      revision.set(status.revision);
      const now = new Set(status.alarms);
      for (const name of new Set([...KNOWN_ALARMS, ...now, ...this.raised])) alarm.set({ alarm: name }, now.has(name) ? 1 : 0);
      for (const name of now) {
        if (!this.raised.has(name)) this.logger.error({ alarm: name, dbSizeBytes: status.dbSizeBytes }, `etcd raised the ${name} alarm${name === 'NOSPACE' ? ': writes fail until it is compacted, defragmented and disarmed (docs/etcd-operations.md)' : ''}`);
      }
      for (const name of this.raised) if (!now.has(name)) this.logger.info({ alarm: name }, `etcd's ${name} alarm was cleared`);
      this.raised = now;
      if (!this.wasUp) this.logger.info('etcd answers again');
      this.wasUp = true;
    } catch (error) {
      up.set(0);
      if (this.wasUp) this.logger.warn({ err: error }, `etcd health poll failed: ${errorMessage(error)}`);
      this.wasUp = false;
    }
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      await this.poll();
      await pause(this.pollMs, this.abort.signal);
    }
  }
}
