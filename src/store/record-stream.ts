/**
 * The record stream: every record of one cluster as it is stored, followed by
 * one etcd watch on the GPUs' chunk keys (`hosts/{host}/gpus/{gpu}/data/…`)
 * and handed to filtered subscribers. The WebSocket stream and GraphQL
 * subscriptions are adapters over it; a gateway holds one watch whatever the
 * number of subscribers, started with the first and stopped with the last.
 *
 * What counts as a new record: the put that creates a message's chunk key. A
 * redelivered message rewrites its keys (createRevision < modRevision), and
 * compaction rewrites records already delivered under `~compacted` keys: both
 * are skipped, as are deletes (retention, compaction) and metadata keys.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelayMs } from '../common/backoff.js';
import { GputelError, errorMessage } from '../common/gputel-error.js';
import type { Logger } from '../common/logger.js';
import { counter, gauge } from '../common/metrics.js';
import { isCompactedChunkKey, unescapeSegment, type KeySpace } from '../kv/key-space.js';
import type { KvStore, Watcher, WatchEvent } from '../kv/kv-store.js';
import type { Chunk } from './chunk-codec.js';
import { decodeStoredChunk } from './chunk-fetch.js';
import { decodeGpuMetadata, type GpuMetadata } from './gpu-records.js';
import { resolveMetricName } from './named-fields.js';
import { RecordSubscribers, type SubscriberFilter } from './record-subscribers.js';
import type { GpuEntry, Registry } from './registry.js';
import { reportUnreadable } from './telemetry-reader.js';

/** One GPU's record at one time: every metric sampled then (those the filter selects). */
export interface StreamedRecord {
  gpu: GpuEntry;
  timestampMs: number;
  values: Record<string, number>;
}

/**
 * Which records a subscriber gets; every given list must match (an absent or
 * empty one matches all). `gpus` are ids as the REST API takes them (UUID,
 * `hostname:gpu_id`, or a MIG instance's `id`); a UUID selects every series
 * of that GPU (all its MIG instances, under any hostname). `metrics` are DCGM
 * field names or the API's named fields (`power_draw`).
 */
export interface RecordFilter {
  gpus?: readonly string[];
  hosts?: readonly string[];
  metrics?: readonly string[];
}

const watchRestarts = counter('gputel_gateway_record_stream_restarts_total', 'Record stream watch restarts after it ended (store restarted or unreachable, history compacted); the log says whether records were missed');
const recordsStreamed = counter('gputel_gateway_record_stream_records_total', 'Records decoded from new chunks for record stream subscribers');
const subscriberCount = gauge('gputel_gateway_record_stream_subscribers', 'Subscribers of the record stream (WebSocket and GraphQL subscriptions)');

/** Backoff of watch restarts while the store is down. */
const RESTART_BACKOFF = { initialMs: 200, maxMs: 5_000 };
/** Metadata of GPUs seen by the watch but not yet by the registry, kept at most (a burst of new GPUs). */
const MAX_PENDING_METADATA = 10_000;

interface CompiledFilter extends SubscriberFilter {
  /** DCGM field names, or undefined for all. */
  metrics: readonly string[] | undefined;
}

interface Subscriber {
  filter: CompiledFilter;
  listener: (records: StreamedRecord[]) => void;
}

/** One run of the watch, from the first subscriber to the last. */
interface Follow {
  abort: AbortController;
  watcher: Watcher | undefined;
  /** Resolves once the first watch is in place; rejects when it could not be set up. */
  ready: Promise<void>;
  restarting: Promise<void> | undefined;
  /** The revision of the last event the watch delivered: a restart resumes after it (see watchEnded). */
  lastRevision: number | undefined;
}

export class RecordStream {
  private readonly subscribers = new RecordSubscribers<Subscriber>();
  private follow: Follow | undefined;
  private readonly prefix: string;
  /**
   * The registry's identityVersion when the series were last indexed, and
   * the series by `hostname/gpuKey`. Indexed again only when series come or
   * go: latest values change with every message, and rebuilding the view for
   * each chunk cost 36 ms a time at 8,000 GPUs. Streamed records use only a
   * series' identity, which an older entry still has right.
   */
  private indexedVersion: number | undefined;
  private readonly seriesIndex = new Map<string, GpuEntry>();
  /**
   * GPU metadata seen by this watch (it covers `hosts/…/metadata` too, written
   * no later than the GPU's first chunk) for GPUs the registry, which follows
   * another watch, may not know yet: a new GPU's first records are not lost.
   */
  private readonly pendingMetadata = new Map<string, GpuMetadata>();
  private closed = false;

  constructor(
    private readonly kv: KvStore,
    keys: KeySpace,
    cluster: string,
    private readonly registry: Registry,
    private readonly logger: Logger,
  ) {
    this.prefix = keys.hostsPrefix(cluster);
  }

  /**
   * Calls `listener` with the records of every chunk stored from now on that
   * match `filter`, in store order (per GPU: time order of its messages),
   * until the returned function is called (idempotent). Resolves once the
   * watch is in place. Throws BAD_REQUEST for an unknown metric name,
   * GPU_NOT_FOUND for a GPU id the registry does not know, KV_* when the
   * watch cannot be set up. A listener that throws is logged, not removed.
   */
  async subscribe(filter: RecordFilter, listener: (records: StreamedRecord[]) => void): Promise<() => void> {
    if (this.closed) throw new GputelError('KV_CLOSED', 'the record stream is closed (the gateway is stopping)');
    const subscriber: Subscriber = { filter: this.compile(filter), listener };
    this.subscribers.add(subscriber);
    subscriberCount.inc();
    let subscribed = true;
    const unsubscribe = (): void => {
      if (!subscribed) return;
      subscribed = false;
      // After close() it is gone already, and counted off there.
      if (!this.subscribers.delete(subscriber)) return;
      subscriberCount.dec();
      if (this.subscribers.size === 0) void this.stopFollowing();
    };
    try {
      this.follow ??= this.startFollowing();
      await this.follow.ready;
      if (this.closed) throw new GputelError('KV_CLOSED', 'the record stream closed while the subscription was set up (the gateway is stopping)');
    } catch (error) {
      unsubscribe();
      throw error;
    }
    return unsubscribe;
  }

  /** Stops the watch and refuses new subscribers. Safe twice and before any subscriber. */
  async close(): Promise<void> {
    this.closed = true;
    for (let n = this.subscribers.size; n > 0; n--) subscriberCount.dec();
    this.subscribers.clear();
    await this.stopFollowing();
  }

  private compile(filter: RecordFilter): CompiledFilter {
    // Sorted, so that equal selections are recognised and their records built once per chunk.
    const metrics = filter.metrics && filter.metrics.length > 0 ? [...new Set(filter.metrics.map(resolveMetricName))].sort() : undefined;
    let gpuIds: Set<string> | undefined;
    if (filter.gpus && filter.gpus.length > 0) {
      gpuIds = new Set();
      for (const id of filter.gpus) {
        if (this.registry.matchGpus(id).length === 0) throw new GputelError('GPU_NOT_FOUND', `no GPU ${JSON.stringify(id.slice(0, 120))} in this cluster: use a UUID, hostname:gpu_id, or a MIG instance's id from /api/v1/gpus`);
        gpuIds.add(id);
      }
    }
    const hosts = filter.hosts && filter.hosts.length > 0 ? new Set(filter.hosts) : undefined;
    return { gpuIds, hosts, metrics };
  }

  private startFollowing(): Follow {
    const follow: Follow = { abort: new AbortController(), watcher: undefined, ready: Promise.resolve(), restarting: undefined, lastRevision: undefined };
    follow.ready = this.watch(follow).catch((error: unknown) => {
      // The first watch failed: the next subscriber tries again from scratch.
      if (this.follow === follow) this.follow = undefined;
      throw error;
    });
    return follow;
  }

  private stopFollowing(): Promise<void> {
    const follow = this.follow;
    if (!follow) return Promise.resolve();
    this.follow = undefined;
    follow.abort.abort();
    return (async () => {
      await follow.ready.catch(() => undefined);
      await follow.restarting;
      await follow.watcher?.cancel();
    })().catch((error: unknown) => this.logger.warn({ err: error }, `record stream watch did not cancel cleanly: ${errorMessage(error)}`));
  }

  /**
   * Sets up a watch for `follow`: from now, or right after the last event it
   * delivered. One that finishes after the follow was stopped is cancelled
   * at once.
   */
  private async watch(follow: Follow): Promise<void> {
    const watcher = await this.kv.watch(
      { prefix: this.prefix },
      {
        fromRevision: follow.lastRevision === undefined ? undefined : follow.lastRevision + 1,
        onEvent: (event) => {
          if (this.follow !== follow) return;
          follow.lastRevision = event.modRevision;
          this.onEvent(event);
        },
        onError: (error) => this.watchEnded(follow, error),
      },
    );
    if (follow.abort.signal.aborted) {
      await watcher.cancel();
      return;
    }
    follow.watcher = watcher;
  }

  /**
   * The watch ended (store restarted or unreachable, history compacted under
   * a lagging watch): follow again, with backoff while the store is down,
   * from right after the last event delivered, so nothing stored meanwhile
   * is missed. Only when that history is compacted away too does it follow
   * from the current revision, and the log says records were missed: a
   * stream never stalls silently.
   */
  private watchEnded(follow: Follow, error: Error): void {
    if (follow.abort.signal.aborted || follow.restarting) return;
    watchRestarts.inc();
    const compacted = error instanceof GputelError && error.code === 'KV_COMPACTED';
    if (compacted) follow.lastRevision = undefined;
    if (compacted || follow.lastRevision === undefined) {
      this.logger.warn({ err: error }, `record stream watch ended (${errorMessage(error)}); following again from the current revision: records stored meanwhile were not streamed`);
    } else {
      this.logger.warn({ err: error }, `record stream watch ended (${errorMessage(error)}); following again from revision ${follow.lastRevision + 1}, after the last record streamed`);
    }
    follow.restarting = (async () => {
      for (let attempt = 0; !follow.abort.signal.aborted; attempt++) {
        try {
          const ended = follow.watcher;
          follow.watcher = undefined;
          await ended?.cancel().catch(() => undefined);
          await this.watch(follow);
          if (!follow.abort.signal.aborted) this.logger.info('record stream followed again');
          return;
        } catch (restartError) {
          // The history after the last event is gone too: from now on, then.
          if (restartError instanceof GputelError && restartError.code === 'KV_COMPACTED') follow.lastRevision = undefined;
          this.logger.debug({ err: restartError }, 'record stream watch restart failed; retrying');
          await sleep(backoffDelayMs(attempt, RESTART_BACKOFF), undefined, { signal: follow.abort.signal }).catch(() => undefined);
        }
      }
    })().finally(() => {
      follow.restarting = undefined;
    });
  }

  private onEvent(event: WatchEvent): void {
    if (event.type !== 'put') return;
    // hosts/{host}/gpus/{gpu}/data/{chunk} or hosts/{host}/gpus/{gpu}/metadata; anything else is not ours.
    const parts = event.key.slice(this.prefix.length).split('/');
    if (parts.length < 4 || parts[1] !== 'gpus') return;
    let hostname: string;
    let gpuKey: string;
    try {
      hostname = unescapeSegment(parts[0]);
      gpuKey = unescapeSegment(parts[2]);
    } catch (error) {
      this.logger.debug({ err: error, key: event.key }, 'record stream skipped a key gputel did not write');
      return;
    }
    if (parts.length === 4 && parts[3] === 'metadata') {
      this.rememberMetadata(hostname, gpuKey, event);
      return;
    }
    if (parts.length !== 5 || parts[3] !== 'data') return;
    // A rewrite of an existing key (a redelivered message) holds records already streamed.
    if (event.createRevision !== event.modRevision || isCompactedChunkKey(event.key)) return;
    if (this.subscribers.size === 0) return;
    const gpu = this.series(hostname, gpuKey);
    if (!gpu) {
      this.logger.debug({ key: event.key }, 'record stream skipped a chunk of a GPU with no metadata');
      return;
    }
    const wanting = this.subscribers.matching(gpu);
    if (wanting.length === 0) return;
    const chunk = decodeStoredChunk(event.key, event.value, (key, error) => reportUnreadable(this.logger, key, error));
    if (!chunk) return;
    recordsStreamed.inc(chunk.timestampsMs.length);
    // Subscribers that select the same metrics share the same record objects (a client adapter may cache per record).
    const recordsBySelection = new Map<string, StreamedRecord[]>();
    for (const subscriber of wanting) {
      const selection = subscriber.filter.metrics?.join(',') ?? '';
      let records = recordsBySelection.get(selection);
      if (!records) {
        records = chunkRecords(gpu, chunk, subscriber.filter.metrics);
        recordsBySelection.set(selection, records);
      }
      if (records.length === 0) continue;
      try {
        subscriber.listener(records);
      } catch (error) {
        this.logger.error({ err: error }, `a record stream subscriber failed: ${errorMessage(error)}`);
      }
    }
  }

  private rememberMetadata(hostname: string, gpuKey: string, event: WatchEvent): void {
    try {
      const metadata = decodeGpuMetadata(event.value);
      if (this.pendingMetadata.size >= MAX_PENDING_METADATA) this.pendingMetadata.clear();
      this.pendingMetadata.set(seriesKey(hostname, gpuKey), metadata);
    } catch (error) {
      // The registry logs and counts unreadable metadata; here it only means no early records for that GPU.
      this.logger.debug({ err: error, key: event.key }, 'record stream skipped unreadable GPU metadata');
    }
  }

  /**
   * The GPU of a chunk: the registry's entry, or, for a GPU the registry has
   * not heard of yet, one built from the metadata this watch saw (status
   * 'active', no latest values yet).
   */
  private series(hostname: string, gpuKey: string): GpuEntry | undefined {
    const version = this.registry.identityVersion;
    if (version !== this.indexedVersion) {
      this.indexedVersion = version;
      this.seriesIndex.clear();
      for (const gpu of this.registry.gpus()) {
        this.seriesIndex.set(seriesKey(gpu.hostname, gpu.gpuKey), gpu);
        this.pendingMetadata.delete(seriesKey(gpu.hostname, gpu.gpuKey));
      }
    }
    const key = seriesKey(hostname, gpuKey);
    const known = this.seriesIndex.get(key);
    if (known) return known;
    const metadata = this.pendingMetadata.get(key);
    // Until the registry lists it, the series is named by hostname and gpuKey, which no other series shares.
    return metadata && { ...metadata, id: `${metadata.hostname}:${metadata.gpuKey}`, lastSeenMs: metadata.firstSeenMs, status: 'active', latest: undefined };
  }
}

function seriesKey(hostname: string, gpuKey: string): string {
  return `${hostname}/${gpuKey}`;
}

/** The records of a chunk, each with the metrics sampled then (only `metrics`, when given); records left with none are left out. */
function chunkRecords(gpu: GpuEntry, chunk: Chunk, metrics: readonly string[] | undefined): StreamedRecord[] {
  const columns: { name: string; column: Float64Array }[] = [];
  chunk.metrics.forEach((name, m) => {
    if (!metrics || metrics.includes(name)) columns.push({ name, column: chunk.columns[m] });
  });
  const records: StreamedRecord[] = [];
  for (let r = 0; r < chunk.timestampsMs.length; r++) {
    const values: Record<string, number> = {};
    let sampled = false;
    for (const { name, column } of columns) {
      if (Number.isNaN(column[r])) continue;
      values[name] = column[r];
      sampled = true;
    }
    if (sampled) records.push({ gpu, timestampMs: chunk.timestampsMs[r], values });
  }
  return records;
}
