/**
 * Compacts etcd's MVCC history, so that gputel never depends on the
 * operator's etcd flags to stay under quota (ARCHITECTURE.md, "etcd history").
 * Every queued message is written and then deleted; etcd keeps every old
 * version until compacted, ~40 bytes per sample measured (MEASUREMENTS.md),
 * which fills etcd's default 2 GiB quota in under an hour at 50k rows/s.
 *
 * As Kubernetes' API server does: every interval, the leader remembers the
 * current revision and compacts to the revision remembered one interval ago,
 * so a watcher or reader may lag up to one interval without losing history.
 * Only ONE instance compacts: the holder of a leased key
 * (`{root}/maintenance/history-compactor`); every other instance tries to
 * take it every FOLLOWER_RECHECK_MS (or interval, if shorter).
 *
 * The remembered revision and its time are kept in etcd
 * (`{root}/maintenance/history-mark`), not only in the leader's memory, and
 * every instance notes since when it has seen the stored mark: a new leader
 * compacts to its predecessor's mark as soon as it has itself seen it for an
 * interval (its own clock), or the mark's own time is two intervals old
 * (the writer's clock, so skew up to an interval between hosts cannot make
 * it compact too early). When each leader kept its own, one that lived less
 * than an interval never compacted: the soak (bench/soak.ts), killing a
 * collector every 2 minutes, stopped all compaction at its third kill, and
 * etcd grew by 12 MB a minute from then on. The mark is written only by the
 * leader (a transaction fenced on its key); when etcd refuses the write
 * (NOSPACE), the leader keeps the mark in memory, so it still compacts.
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
/** How often an instance that is not the leader tries to take the key: a dead leader is replaced within this plus the lease TTL. */
const FOLLOWER_RECHECK_MS = 30_000;

/** A remembered revision: what compaction goes to once `atMs` is one interval ago. */
interface CompactionMark {
  revision: number;
  atMs: number;
}

function decodeMark(value: Buffer): CompactionMark | undefined {
  try {
    const mark = JSON.parse(value.toString()) as Partial<CompactionMark>;
    return Number.isSafeInteger(mark.revision) && Number.isFinite(mark.atMs) ? { revision: mark.revision!, atMs: mark.atMs! } : undefined;
  } catch {
    return undefined;
  }
}

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
  /** The wall clock (default Date.now); tests move it. */
  now?: () => number;
}

export class HistoryCompactor {
  private readonly abort = new AbortController();
  private readonly logger: Logger;
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private lease: Lease | undefined;
  private leader = false;
  /** The mark this instance last made as leader when etcd refused to store it (NOSPACE); cleared when one is stored or leadership ends. */
  private localMark: CompactionMark | undefined;
  /** The stored mark's version (modRevision) and since when, on this instance's own clock, it has been seen. */
  private observed: { modRevision: number; sinceMs: number } | undefined;
  private lastCompacted = 0;
  /** The leader key's modRevision while this instance holds it (it is written once, when taken). */
  private leaderKeyRevision: number | undefined;
  private readonly now: () => number;
  private readonly intervalMs: Setting<number>;

  constructor(
    private readonly kv: KvStore,
    private readonly keys: KeySpace,
    private readonly options: HistoryCompactorOptions,
  ) {
    if (typeof options.intervalMs === 'number' && !(options.intervalMs > 0)) throw new GputelError('BAD_CONFIG', `the history compactor needs a positive interval, got ${options.intervalMs} ms`);
    this.intervalMs = settingOf(options.intervalMs);
    this.now = options.now ?? Date.now;
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

  /**
   * One round: note how long this instance has seen the stored mark; take or
   * keep leadership; as leader, compact to the mark once it is ripe, and
   * remember the current revision as the next mark. Returns how long to wait
   * before the next round. Exposed for tests.
   *
   * Ripe: this instance has itself seen that mark for one interval (its own
   * clock: a follower starts counting before it leads, so a short-lived
   * leader's mark is not started over), or the mark's own time is two
   * intervals old (another host's clock: up to one interval of skew between
   * the two cannot make it compact history younger than an interval).
   */
  async tick(): Promise<number> {
    const intervalMs = this.intervalMs.value;
    const stored = await this.kv.get(this.keys.historyCompactionMark());
    if (stored === undefined) this.observed = undefined;
    else if (this.observed?.modRevision !== stored.modRevision) this.observed = { modRevision: stored.modRevision, sinceMs: this.now() };
    if (!(await this.campaign())) return Math.min(intervalMs, FOLLOWER_RECHECK_MS);
    const current = await this.kv.revision();
    // The time after the revision: a mark never claims its revision was current before it was read.
    const now = this.now();
    // A mark gputel wrote holds a revision read before the mark was put, and not past the store's: any other (a copied
    // or hand-made value) is replaced, never compacted to.
    const storedMark = stored === undefined ? undefined : decodeMark(stored.value);
    const valid = storedMark !== undefined && storedMark.revision < stored!.modRevision && storedMark.revision <= current ? storedMark : undefined;
    const candidates: { mark: CompactionMark; ripeInMs: number }[] = [];
    if (valid !== undefined) {
      const seenForMs = now - this.observed!.sinceMs;
      candidates.push({ mark: valid, ripeInMs: Math.min(intervalMs - seenForMs, 2 * intervalMs - (now - valid.atMs)) });
    }
    // A mark of this instance's own that etcd refused to store (NOSPACE): its own clock only.
    if (this.localMark !== undefined && this.localMark.revision <= current) candidates.push({ mark: this.localMark, ripeInMs: intervalMs - (now - this.localMark.atMs) });
    if (candidates.length === 0) {
      await this.remember({ revision: current, atMs: now });
      return this.leader ? intervalMs : Math.min(intervalMs, FOLLOWER_RECHECK_MS);
    }
    const ripe = candidates.filter((c) => c.ripeInMs <= 0).sort((a, b) => b.mark.revision - a.mark.revision)[0];
    if (ripe === undefined) return Math.max(1, Math.min(...candidates.map((c) => c.ripeInMs)));
    if (ripe.mark.revision > this.lastCompacted) {
      try {
        await this.kv.compact(ripe.mark.revision);
        compactions.inc();
        this.logger.debug({ revision: ripe.mark.revision }, 'etcd history compacted');
      } catch (error) {
        // Someone compacted further already (etcd's own auto-compaction, an
        // earlier leader): that is the goal reached, not a failure.
        if (!(error instanceof GputelError && error.code === 'KV_COMPACTED')) throw error;
      }
      this.lastCompacted = ripe.mark.revision;
      compactedRevision.set(ripe.mark.revision);
    }
    await this.remember({ revision: current, atMs: now });
    return this.leader ? intervalMs : Math.min(intervalMs, FOLLOWER_RECHECK_MS);
  }

  /**
   * Stores `mark` in etcd while this instance holds the leader key (then it
   * has seen its own mark from now on). A write etcd refuses (NOSPACE) keeps
   * it in memory instead, logged, not thrown; losing the key ends leadership.
   */
  private async remember(mark: CompactionMark): Promise<void> {
    const leaderKeyRevision = this.leaderKeyRevision;
    if (leaderKeyRevision === undefined) return;
    try {
      // Fenced on the leader key as this instance holds it: a key taken by another since (a new put) or gone fails it.
      const result = await this.kv.txn({
        compare: [{ key: this.keys.historyCompactorLeader(), target: 'modRevision', operator: '==', operand: leaderKeyRevision }],
        success: [{ type: 'put', key: this.keys.historyCompactionMark(), value: Buffer.from(JSON.stringify(mark)) }],
      });
      if (!result.succeeded) {
        this.setLeader(false);
        return;
      }
      this.localMark = undefined;
      this.observed = { modRevision: result.revision, sinceMs: mark.atMs };
    } catch (error) {
      this.localMark = mark;
      this.logger.warn({ err: error }, `the history compaction mark could not be written (kept in memory): ${errorMessage(error)}`);
    }
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let failures = 0;
    // A changed interval ends the current wait, so a shorter one applies now, not after the old one;
    // stop ends it too. (One controller per wait: AbortSignal.any needs Node 20.3.)
    let wait = new AbortController();
    const stopListening = this.intervalMs.onChange((intervalMs) => {
      this.logger.info({ intervalMs }, intervalMs > 0 ? 'etcd history compaction interval changed' : 'etcd history compaction paused (interval 0)');
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
          waitMs = await this.tick();
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
      // (The marks keep their times, so a changed interval needs nothing else: each is ripe once the new interval has passed.)
      if (!wait.signal.aborted) await pause(waitMs, wait.signal);
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
    this.leaderKeyRevision = leader ? holder!.modRevision : undefined;
    if (holder === undefined) {
      const result = await this.kv.txn({
        compare: [{ key, target: 'createRevision', operator: '==', operand: 0 }],
        success: [{ type: 'put', key, value: Buffer.from(this.options.instanceId), lease: this.lease.id }],
      });
      leader = result.succeeded;
      this.leaderKeyRevision = leader ? result.revision : undefined;
    }
    this.setLeader(leader);
    return leader;
  }

  private setLeader(leader: boolean): void {
    // A mark kept only in memory belongs to this term: a later one would overwrite a newer leader's stored mark with it.
    if (!leader) this.localMark = undefined;
    if (leader !== this.leader) {
      this.logger.info({ instance: this.options.instanceId, intervalMs: this.intervalMs.value }, leader ? 'elected etcd history compactor' : 'no longer the etcd history compactor');
    }
    this.leader = leader;
    compactorLeader.set(leader ? 1 : 0);
  }
}
