/**
 * Compacts etcd's MVCC history, so that gputel never depends on the
 * operator's etcd flags to stay under quota (ARCHITECTURE.md, "etcd history").
 * Every queued message is written and then deleted; etcd keeps every old
 * version until compacted, ~40 bytes per sample measured (MEASUREMENTS.md),
 * which fills etcd's default 2 GiB quota in under an hour at 50k rows/s.
 *
 * As Kubernetes' API server does: every interval, the instance remembers the
 * current revision and compacts to the revision it remembered one interval
 * ago, so a watcher or reader may lag up to one interval without losing
 * history. Only ONE instance compacts: the holder of a leased key
 * (`{root}/maintenance/history-compactor`); every other instance tries to
 * take it once per interval, so a dead leader is replaced within one interval
 * plus the lease TTL.
 */
import { backoffDelayMs, pause } from '../../common/backoff.js';
import { GputelError, errorMessage } from '../../common/gputel-error.js';
import { settingOf, type Setting } from '../../common/setting.js';
import type { Logger } from '../../common/logger.js';
import { counter, gauge } from '../../common/metrics.js';
import type { KeySpace } from '../../kv/key-space.js';
import type { KvStore, Lease } from '../../kv/kv-store.js';

const compactions = counter('gputel_etcd_compactions_total', 'etcd history compactions done by this instance');
const compactionFailures = counter('gputel_etcd_compaction_failures_total', 'Failed attempts of the history compactor (retried with backoff)');
const compactedRevision = gauge('gputel_etcd_compacted_revision', 'Revision this instance last compacted etcd history to');
const compactorLeader = gauge('gputel_etcd_compactor_leader', '1 while this instance is the elected etcd history compactor');

/** TTL of the leadership lease: long enough to ride out a short etcd blip, short enough for a quick takeover. */
const DEFAULT_LEASE_TTL_SECONDS = 10;
/** While compaction is paused (a live interval of 0), how long one wait for the setting to change may last. */
const PAUSED_RECHECK_MS = 3_600_000;

export interface HistoryCompactorOptions {
  /**
   * Compaction interval; history older than one interval is compacted. A
   * number must be > 0; a Setting (live --etcd-compaction-interval) may be 0,
   * which pauses compaction until it is set again. A change applies at once:
   * the wait in progress ends and the next one uses the new interval.
   */
  intervalMs: number | Setting<number>;
  /** Written into the leader key, to tell operators who compacts. */
  instanceId: string;
  logger: Logger;
  leaseTtlSeconds?: number;
}

export class HistoryCompactor {
  private readonly abort = new AbortController();
  private readonly logger: Logger;
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private lease: Lease | undefined;
  private leader = false;
  /** The revision seen at the previous tick as leader: what the next tick compacts to. */
  private previousRevision: number | undefined;
  private lastCompacted = 0;
  private readonly intervalMs: Setting<number>;

  constructor(
    private readonly kv: KvStore,
    private readonly keys: KeySpace,
    private readonly options: HistoryCompactorOptions,
  ) {
    if (typeof options.intervalMs === 'number' && !(options.intervalMs > 0)) throw new GputelError('BAD_CONFIG', `the history compactor needs a positive interval, got ${options.intervalMs} ms`);
    this.intervalMs = settingOf(options.intervalMs);
    this.logger = options.logger.child({ component: 'history-compactor' });
  }

  /** Starts the background loop; returns at once (etcd being down at start is retried, not fatal). */
  start(): void {
    if (this.loop !== undefined || this.stopping !== undefined) return;
    this.loop = this.run();
  }

  /** True while this instance holds the leader key. */
  get isLeader(): boolean {
    return this.leader;
  }

  /** Ends the loop and gives leadership up (revoking the lease deletes the key). Safe before start and twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.abort.abort();
      await this.loop;
      this.setLeader(false);
      const lease = this.lease;
      this.lease = undefined;
      await lease?.revoke().catch((error: unknown) => this.logger.debug({ err: error }, 'revoking the compactor lease failed; it expires by itself'));
    })();
    return this.stopping;
  }

  /** One round: take or keep leadership, then compact to the revision of one interval ago. Exposed for tests. */
  async tick(): Promise<void> {
    if (!(await this.campaign())) {
      this.previousRevision = undefined;
      return;
    }
    const current = await this.kv.revision();
    const target = this.previousRevision;
    if (target !== undefined && target > this.lastCompacted) {
      try {
        await this.kv.compact(target);
        compactions.inc();
        this.logger.debug({ revision: target }, 'etcd history compacted');
      } catch (error) {
        // Someone compacted further already (etcd's own auto-compaction, an
        // earlier leader): that is the goal reached, not a failure.
        if (!(error instanceof GputelError && error.code === 'KV_COMPACTED')) throw error;
      }
      this.lastCompacted = target;
      compactedRevision.set(target);
    }
    this.previousRevision = current;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let failures = 0;
    // A changed interval ends the current wait, so a shorter one applies now, not after the old one;
    // stop ends it too. (One controller per wait: AbortSignal.any needs Node 20.3.)
    let wait = new AbortController();
    let intervalChanged = false;
    const stopListening = this.intervalMs.onChange((intervalMs) => {
      this.logger.info({ intervalMs }, intervalMs > 0 ? 'etcd history compaction interval changed' : 'etcd history compaction paused (interval 0)');
      intervalChanged = true;
      wait.abort();
    });
    const endWait = (): void => wait.abort();
    signal.addEventListener('abort', endWait);
    while (!signal.aborted) {
      const intervalMs = this.intervalMs.value;
      // Off (live 0): wait for the setting to change; the hour only bounds the wait.
      let waitMs = intervalMs > 0 ? intervalMs : PAUSED_RECHECK_MS;
      if (intervalMs > 0) {
        try {
          await this.tick();
          failures = 0;
        } catch (error) {
          if (signal.aborted) break;
          compactionFailures.inc();
          // Retried sooner than the interval, with capped backoff: etcd may be
          // restarting, and a NOSPACE etcd needs its compaction most of all.
          waitMs = Math.min(intervalMs, backoffDelayMs(failures++, { initialMs: 500, maxMs: 30_000 }));
          this.logger.warn({ err: error, retryInMs: Math.round(waitMs) }, `etcd history compaction failed: ${errorMessage(error)}`);
        }
      }
      // Changed during the tick: no wait, the next round takes the new interval.
      if (!wait.signal.aborted) await pause(waitMs, wait.signal);
      // The revision remembered one old interval ago is no longer "one interval ago" after a change.
      if (intervalChanged) this.previousRevision = undefined;
      intervalChanged = false;
      wait = new AbortController();
    }
    stopListening();
    signal.removeEventListener('abort', endWait);
  }

  /** Whether this instance holds the leader key, taking it when it is free. */
  private async campaign(): Promise<boolean> {
    if (this.lease === undefined) {
      const lease = await this.kv.grantLease(this.options.leaseTtlSeconds ?? DEFAULT_LEASE_TTL_SECONDS);
      if (this.abort.signal.aborted) {
        await lease.revoke().catch(() => undefined);
        return false;
      }
      this.lease = lease;
      // A lease lost in an etcd outage is granted again on the next tick.
      lease.onLost((error) => {
        if (this.lease !== lease) return;
        this.lease = undefined;
        this.setLeader(false);
        this.logger.warn({ err: error }, 'the history compactor lost its lease; it campaigns again on the next tick');
      });
    }
    const key = this.keys.historyCompactorLeader();
    // Read first: a leader that holds the key writes nothing, so it goes on
    // compacting while etcd's NOSPACE alarm refuses every write.
    const holder = await this.kv.get(key);
    let leader = holder !== undefined && holder.lease === this.lease.id;
    if (holder === undefined) {
      const result = await this.kv.txn({
        compare: [{ key, target: 'createRevision', operator: '==', operand: 0 }],
        success: [{ type: 'put', key, value: Buffer.from(this.options.instanceId), lease: this.lease.id }],
      });
      leader = result.succeeded;
    }
    this.setLeader(leader);
    return leader;
  }

  private setLeader(leader: boolean): void {
    if (leader !== this.leader) {
      this.logger.info({ instance: this.options.instanceId, intervalMs: this.intervalMs.value }, leader ? 'elected etcd history compactor' : 'no longer the etcd history compactor');
    }
    this.leader = leader;
    compactorLeader.set(leader ? 1 : 0);
  }
}
