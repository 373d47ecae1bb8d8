/**
 * The GPUs and hosts of a cluster, held in memory and followed through watch
 * on the uuid index and the latest values, so that listing never scans the
 * data prefix and every gateway sees what collectors register within
 * milliseconds. The hosts' utilisation rollups are followed the same way, so
 * that a fleet summary reads no store at all (docs/performance.md).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../common/logger.js';
import { unescapeSegment, type KeySpace } from '../kv/key-space.js';
import type { KeyValue, KvStore, Watcher, WatchEvent } from '../kv/kv-store.js';
import { backoffDelayMs } from '../common/backoff.js';
import { errorMessage } from '../common/gputel-error.js';
import { counter } from '../common/metrics.js';
import { settingOf, type Setting } from '../common/setting.js';
import { decodeGpuMetadata, decodeLatestHost, type GpuMetadata, type LatestGpu, type LatestHost } from './gpu-records.js';

const skippedEntries = counter(
  'gputel_gateway_registry_skipped_total',
  'Registry entries skipped because their key or value is not what gputel writes (logged)',
);
const reloads = counter('gputel_gateway_registry_reloads_total', 'Registry reloads after its watch ended (history compacted, etcd restarted)');

/**
 * A GPU is stale when its newest sample is more than this behind the newest
 * sample of its cluster (the default of --stale-after).
 */
export const STALE_AFTER_MS = 5 * 60_000;

export interface GpuEntry extends GpuMetadata {
  /**
   * The id that names this series alone, the shortest of: its gpuKey (the
   * UUID, or `UUID:mig{n}` for a MIG instance), `hostname:gpu_id`,
   * `hostname:gpuKey`. It changes when another series comes to share the
   * shorter form (the same UUID under a second hostname).
   */
  id: string;
  lastSeenMs: number;
  status: 'active' | 'stale';
  latest: LatestGpu | undefined;
}

export interface HostEntry {
  hostname: string;
  gpuCount: number;
  firstSeenMs: number;
  lastSeenMs: number;
}

export class Registry {
  private gpuByKey = new Map<string, GpuMetadata>();
  private latestByHost = new Map<string, LatestHost>();
  /** `rollups/{host}` by hostname, bytes as stored (summaries scan them per request with sumRollupWindow). */
  private rollupByHost = new Map<string, Pick<KeyValue, 'key' | 'value'>>();
  private watchers: Watcher[] = [];
  private stopping: Promise<void> | undefined;
  private failure: Error | undefined;
  private resyncing: Promise<void> | undefined;
  /** gpus() as last built; dropped on every change. */
  private view: GpuEntry[] | undefined;
  /** Bumped whenever a GPU series is added, changed or removed (not when latest values move): see identityVersion. */
  private identities = 0;
  /** asOfMs() of the view. */
  private viewAsOfMs: number | undefined;
  /** The view's series by each id form; built with the view. */
  private lookup: GpuIdIndex = emptyIndex();

  constructor(
    private readonly kv: KvStore,
    private readonly keys: KeySpace,
    private readonly cluster: string,
    private readonly logger: Logger,
    /** See STALE_AFTER_MS; a Setting follows live --stale-after. */
    staleAfterMs: number | Setting<number> = STALE_AFTER_MS,
  ) {
    this.staleAfterMs = settingOf(staleAfterMs);
    // Statuses are computed with the view: a new threshold needs a new view (the identities stay).
    this.stopFollowingStaleAfter = this.staleAfterMs.onChange(() => {
      this.view = undefined;
    });
  }

  /** Ends the stale threshold's listener (a shared live setting outlives this registry). */
  private readonly stopFollowingStaleAfter: () => void;

  private readonly staleAfterMs: Setting<number>;

  /** Loads the registry and starts following it. */
  async start(): Promise<void> {
    const indexPrefix = this.keys.gpuIndexPrefix(this.cluster);
    const latestPrefix = this.keys.latestPrefix(this.cluster);
    const rollupsPrefix = this.keys.rollupsPrefix(this.cluster);
    const [index, latest, rollups] = await Promise.all([
      this.kv.range({ prefix: indexPrefix }),
      this.kv.range({ prefix: latestPrefix }),
      this.kv.range({ prefix: rollupsPrefix }),
    ]);
    // Loaded aside and swapped in at once: a reload never shows a half-empty registry.
    const previous = [this.gpuByKey, this.latestByHost, this.rollupByHost] as const;
    this.gpuByKey = new Map();
    this.view = undefined;
    this.identities++;
    this.latestByHost = new Map();
    this.rollupByHost = new Map();
    try {
      for (const kv of index.kvs) this.applyIndex({ type: 'put', key: kv.key, value: kv.value, modRevision: kv.modRevision, createRevision: kv.createRevision }, indexPrefix);
      for (const kv of latest.kvs) this.applyLatest({ type: 'put', key: kv.key, value: kv.value, modRevision: kv.modRevision, createRevision: kv.createRevision }, latestPrefix);
      for (const kv of rollups.kvs) this.applyRollup({ type: 'put', key: kv.key, value: kv.value, modRevision: kv.modRevision, createRevision: kv.createRevision }, rollupsPrefix);
    } catch (error) {
      [this.gpuByKey, this.latestByHost, this.rollupByHost] = previous;
      this.view = undefined;
      this.identities++;
      throw error;
    }
    const fromRevision = Math.min(index.revision, latest.revision, rollups.revision) + 1;
    const onError = (error: Error): void => this.watchEnded(error);
    const started = await Promise.allSettled([
      this.kv.watch({ prefix: indexPrefix }, { fromRevision, onEvent: (e) => this.applyIndex(e, indexPrefix), onError }),
      this.kv.watch({ prefix: latestPrefix }, { fromRevision, onEvent: (e) => this.applyLatest(e, latestPrefix), onError }),
      this.kv.watch({ prefix: rollupsPrefix }, { fromRevision, onEvent: (e) => this.applyRollup(e, rollupsPrefix), onError }),
    ]);
    const watchers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) {
      // One watch without the others would follow part of the registry: end them all, and let the caller retry.
      await Promise.all(watchers.map((w) => w.cancel()));
      throw failed.reason;
    }
    this.watchers = watchers;
    this.failure = undefined;
  }

  /** Safe before start and twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopFollowingStaleAfter();
      await this.resyncing;
      await Promise.all(this.watchers.map((w) => w.cancel()));
    })();
    return this.stopping;
  }

  /**
   * A watch can end (history compacted: KV_COMPACTED; store restarted or
   * closed): load everything again and follow from there, retrying with
   * capped exponential backoff and jitter while the store is down.
   */
  private watchEnded(error: Error): void {
    if (this.stopping || this.resyncing) return;
    const compacted = (error as { code?: string }).code === 'KV_COMPACTED';
    // A compacted revision is routine (the history compactor ran while this
    // watch lagged): the registry reloads at once and stays ready.
    if (!compacted) this.failure = error;
    this.logger.warn({ err: error }, `registry watch ended (${errorMessage(error)}); reloading the registry`);
    reloads.inc();
    this.resyncing = (async () => {
      for (let attempt = 0; !this.stopping; attempt++) {
        try {
          await Promise.all(this.watchers.map((w) => w.cancel()));
          await this.start();
          this.logger.info('registry reloaded and followed again');
          return;
        } catch (reloadError) {
          this.failure = reloadError instanceof Error ? reloadError : new Error(String(reloadError));
          await sleep(backoffDelayMs(attempt, { initialMs: 200, maxMs: 5_000 }));
        }
      }
    })().finally(() => {
      this.resyncing = undefined;
    });
  }

  /** Throws when the registry stopped following the store. */
  check(): void {
    if (this.failure) throw this.failure;
  }

  /** Every GPU, sorted by hostname, then gpu_id numerically, then MIG instance. */
  gpus(): readonly GpuEntry[] {
    // Every lookup and listing reads this; it is rebuilt only after the registry changed.
    this.view ??= this.buildView();
    return this.view;
  }

  private buildView(): GpuEntry[] {
    this.viewAsOfMs = this.newestSampleMs();
    const newestMs = this.viewAsOfMs ?? 0;
    const view = [...this.gpuByKey.values()]
      .map((gpu): GpuEntry => {
        const latest = this.latestByHost.get(gpu.hostname)?.gpus[gpu.gpuKey];
        const lastSeenMs = latest?.lastSeenMs ?? gpu.firstSeenMs;
        return { ...gpu, id: '', lastSeenMs, latest, status: newestMs - lastSeenMs > this.staleAfterMs.value ? ('stale' as const) : ('active' as const) };
      })
      .sort(
        (a, b) =>
          (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0) ||
          a.gpuId - b.gpuId ||
          a.migInstanceId.localeCompare(b.migInstanceId, 'en', { numeric: true }),
      );
    this.lookup = indexIds(view);
    return view;
  }

  /** Every host, sorted by hostname. */
  hosts(): HostEntry[] {
    const hosts = new Map<string, HostEntry>();
    for (const gpu of this.gpus()) {
      const host = hosts.get(gpu.hostname);
      if (!host) {
        hosts.set(gpu.hostname, { hostname: gpu.hostname, gpuCount: 1, firstSeenMs: gpu.firstSeenMs, lastSeenMs: gpu.lastSeenMs });
      } else {
        host.gpuCount++;
        host.firstSeenMs = Math.min(host.firstSeenMs, gpu.firstSeenMs);
        host.lastSeenMs = Math.max(host.lastSeenMs, gpu.lastSeenMs);
      }
    }
    return [...hosts.values()];
  }

  /**
   * Every series an id names, in listing order: by gpuKey (the UUID of a
   * whole GPU, `UUID:mig{n}` of a MIG instance), else by UUID (all the
   * instances of a MIG GPU), else by `hostname:gpu_id`, else by
   * `hostname:gpuKey`. Several when the id is ambiguous (a MIG GPU's UUID,
   * a UUID under two hostnames); empty when it names none.
   */
  matchGpus(id: string): readonly GpuEntry[] {
    this.gpus();
    const { byKey, byUuid } = this.lookup;
    const named = byKey.get(id) ?? byUuid.get(id);
    if (named) return named;
    // hostname:gpu_id, then hostname:gpuKey. A gpuKey holds at most one ':' (the MIG separator, see
    // gpuKeyOf), so the hostname ends at the last or the second-last ':' of the id.
    const last = id.lastIndexOf(':');
    if (last <= 0) return [];
    const gpuId = id.slice(last + 1);
    if (/^(0|[1-9]\d{0,8})$/.test(gpuId)) {
      const byGpuId = this.gpusOn(id.slice(0, last)).filter((g) => g.gpuId === Number(gpuId));
      // Whole GPUs only: the index held one GPU, then its replacement. It names the GPU there now, the newest.
      // (Instances of a GPU split by MIG are there at once: that stays ambiguous.)
      if (byGpuId.length > 1 && byGpuId.every((g) => g.migInstanceId === '')) return [byGpuId.reduce((newest, g) => (g.lastSeenMs > newest.lastSeenMs ? g : newest))];
      if (byGpuId.length > 0) return byGpuId;
    }
    const series = this.findSeries(id.slice(0, last), id.slice(last + 1));
    if (series) return [series];
    const secondLast = id.lastIndexOf(':', last - 1);
    const migSeries = secondLast > 0 ? this.findSeries(id.slice(0, secondLast), id.slice(secondLast + 1)) : undefined;
    return migSeries ? [migSeries] : [];
  }

  /**
   * Changes whenever the set of GPU series or their metadata changes, and
   * only then: a GpuEntry's identity (id, uuid, hostname, gpuId, MIG
   * instance) from a view of the same version is still right, while its
   * status and latest values may have moved on. Lets a follower of every
   * stored record (record-stream.ts) index series without rebuilding the
   * whole view each time a latest value changes.
   */
  get identityVersion(): number {
    return this.identities;
  }

  /** The series of one GPU on one host. */
  findSeries(hostname: string, gpuKey: string): GpuEntry | undefined {
    return this.gpusOn(hostname).find((g) => g.gpuKey === gpuKey);
  }

  /** The series of a host, in listing order (a slice of the view); empty for a host never seen. */
  private gpusOn(hostname: string): readonly GpuEntry[] {
    const view = this.gpus();
    const range = this.lookup.byHost.get(hostname);
    return range ? view.slice(range.from, range.to) : [];
  }

  /**
   * The newest sample of the cluster (from the latest values), undefined
   * before any: "now" for GPU status and summaries, so that a replayed
   * export is judged against its own time, not the wall clock.
   */
  asOfMs(): number | undefined {
    this.gpus();
    return this.viewAsOfMs;
  }

  private newestSampleMs(): number | undefined {
    let newest: number | undefined;
    for (const host of this.latestByHost.values()) {
      for (const gpu of Object.values(host.gpus)) if (newest === undefined || gpu.lastSeenMs > newest) newest = gpu.lastSeenMs;
    }
    return newest;
  }

  /**
   * Applies one change of `index/gpus/{gpu}/{host}`. Never throws: a key or
   * value this version did not write is logged, counted and skipped, so one
   * bad entry cannot end the watch (which would stop the registry following).
   */
  private applyIndex(event: WatchEvent, prefix: string): void {
    // The series of `index/gpus/{gpu}/{host}`: the key's own text identifies it.
    const series = event.key.slice(prefix.length);
    const parts = series.split('/');
    if (parts.length === 1) return; // index/gpus/{uuid}: what an earlier version wrote, superseded
    try {
      if (parts.length !== 2) throw new Error('the key is not index/gpus/{gpu}/{host}');
      parts.forEach(unescapeSegment);
      if (event.type === 'delete') {
        this.gpuByKey.delete(series);
      } else {
        this.gpuByKey.set(series, decodeGpuMetadata(event.value));
      }
      this.view = undefined;
      this.identities++;
    } catch (error) {
      this.skip(event.key, error, 'GPU index entry');
    }
  }

  /**
   * The stored utilisation rollup of every host (`rollups/{host}`) as the
   * watch last delivered it, by hostname. The bytes are the store's: read
   * them with sumRollupWindow; a value that does not decode is the reader's
   * to report.
   */
  rollups(): ReadonlyMap<string, Pick<KeyValue, 'key' | 'value'>> {
    return this.rollupByHost;
  }

  /** Applies one change of `rollups/{host}`; never throws (see applyIndex). */
  private applyRollup(event: WatchEvent, prefix: string): void {
    try {
      const segment = event.key.slice(prefix.length);
      if (segment.includes('/')) throw new Error('the key is not rollups/{host}');
      const hostname = unescapeSegment(segment);
      if (event.type === 'delete') this.rollupByHost.delete(hostname);
      // A copy: the event's bytes may be a view into a whole watch response, which holding them would keep alive.
      else this.rollupByHost.set(hostname, { key: event.key, value: Buffer.from(event.value) });
    } catch (error) {
      this.skip(event.key, error, 'utilisation rollup');
    }
  }

  /** Applies one change of `latest/{host}`; never throws (see applyIndex). */
  private applyLatest(event: WatchEvent, prefix: string): void {
    try {
      const segment = event.key.slice(prefix.length);
      if (segment.includes('/')) throw new Error('the key is not latest/{host}');
      const hostname = unescapeSegment(segment);
      if (event.type === 'delete') {
        this.latestByHost.delete(hostname);
      } else {
        this.latestByHost.set(hostname, decodeLatestHost(event.value));
      }
      this.view = undefined;
    } catch (error) {
      this.skip(event.key, error, 'latest values');
    }
  }

  private skip(key: string, error: unknown, what: string): void {
    skippedEntries.inc();
    this.logger.warn({ err: error, key }, `unreadable ${what} at ${key} skipped: ${errorMessage(error)}`);
  }
}

/** A registry view indexed for lookups by id (see Registry.matchGpus). */
interface GpuIdIndex {
  /** By gpuKey: several when a gpuKey is seen under several hostnames. */
  byKey: Map<string, GpuEntry[]>;
  /** By UUID, for the series whose gpuKey is not their UUID (MIG instances, escaped UUIDs). */
  byUuid: Map<string, GpuEntry[]>;
  /** The range of the view that holds each host's series (the view is sorted by hostname). */
  byHost: Map<string, { from: number; to: number }>;
}

function emptyIndex(): GpuIdIndex {
  return { byKey: new Map(), byUuid: new Map(), byHost: new Map() };
}

function push(map: Map<string, GpuEntry[]>, key: string, gpu: GpuEntry): void {
  const list = map.get(key);
  if (list) list.push(gpu);
  else map.set(key, [gpu]);
}

/**
 * Indexes a view (sorted by hostname, then gpu_id) and sets each entry's
 * `id`: the first form that matchGpus resolves to that entry alone. Series
 * of one host and gpu_id are neighbours in the view, so that form is checked
 * without a map. `hostname:gpuKey` always names one series, as a host holds
 * one series per gpuKey. Rebuilt with every view: two map inserts per series
 * (registry bench: 10,000 GPUs).
 */
function indexIds(view: GpuEntry[]): GpuIdIndex {
  const index = emptyIndex();
  for (let i = 0; i < view.length; i++) {
    const gpu = view[i];
    push(index.byKey, gpu.gpuKey, gpu);
    // A whole GPU's gpuKey is its UUID (unless escaped, see gpuKeyOf): byKey already answers it.
    if (gpu.gpuKey !== gpu.uuid) push(index.byUuid, gpu.uuid, gpu);
    const host = index.byHost.get(gpu.hostname);
    if (host) host.to = i + 1;
    else index.byHost.set(gpu.hostname, { from: i, to: i + 1 });
  }
  const sameSlot = (a: GpuEntry | undefined, b: GpuEntry): boolean => a !== undefined && a.hostname === b.hostname && a.gpuId === b.gpuId;
  for (let i = 0; i < view.length; i++) {
    const gpu = view[i];
    if (index.byKey.get(gpu.gpuKey)!.length === 1) {
      gpu.id = gpu.gpuKey;
      continue;
    }
    const hostGpuId = `${gpu.hostname}:${gpu.gpuId}`;
    const aloneInSlot = !sameSlot(view[i - 1], gpu) && !sameSlot(view[i + 1], gpu);
    // A gpuKey or UUID that reads like hostname:gpu_id would be found first (contrived, but then not this id).
    gpu.id = aloneInSlot && !index.byKey.has(hostGpuId) && !index.byUuid.has(hostGpuId) ? hostGpuId : `${gpu.hostname}:${gpu.gpuKey}`;
  }
  return index;
}
