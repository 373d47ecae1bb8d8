/**
 * A subscription to new latest values: a watch on the cluster's `latest/`
 * keys that hands each changed host's GPUs to a listener. The GraphQL
 * subscriptions and the WebSocket stream are adapters over it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelayMs } from '../common/backoff.js';
import { errorMessage } from '../common/gputel-error.js';
import type { Logger } from '../common/logger.js';
import { unescapeSegment, type KeySpace } from '../kv/key-space.js';
import type { KvStore, Watcher, WatchEvent } from '../kv/kv-store.js';
import { decodeLatestHost, type LatestGpu, type LatestHost } from './gpu-records.js';
import type { GpuEntry, Registry } from './registry.js';

/** The newest record of one GPU: its time and every metric sampled then. */
export interface LatestRecord {
  gpu: GpuEntry;
  timestampMs: number;
  values: Record<string, number>;
}

/** A host whose latest values changed, with the newest record of each of its GPUs. */
export interface LatestUpdate {
  hostname: string;
  gpus: LatestRecord[];
}

export interface LatestSubscriptionOptions {
  /** Also deliver every host's current values once, first (a live view starts from them). */
  initial?: boolean;
}

/** Builds the records of a host's latest values, for GPUs the registry knows, in the registry's order. */
export function latestRecords(registry: Registry, host: LatestHost): LatestRecord[] {
  const records: LatestRecord[] = [];
  for (const [gpuKey, latest] of Object.entries(host.gpus)) {
    // A GPU's metadata is written before (or with) its first latest values, but
    // through another watch: one the registry has not seen yet is left out of
    // this update and appears in the next one.
    const gpu = registry.findSeries(host.hostname, gpuKey);
    if (gpu) records.push(latestRecord(gpu, latest));
  }
  return records.sort((a, b) => a.gpu.gpuId - b.gpu.gpuId || a.gpu.migInstanceId.localeCompare(b.gpu.migInstanceId, 'en', { numeric: true }));
}

export function latestRecord(gpu: GpuEntry, latest: LatestGpu): LatestRecord {
  return { gpu, timestampMs: latest.lastSeenMs, values: latest.values };
}

/**
 * Delivers every change of a `latest/{host}` key, in store order, until
 * closed. When the watch ends (history compacted, store restarted) it reads
 * every host's current values, delivers them, and follows again from there,
 * retrying with backoff while the store is down: a subscriber may see a
 * host's values twice, never miss the newest.
 */
export class LatestSubscription {
  private watcher: Watcher | undefined;
  private closing: Promise<void> | undefined;
  private resyncing: Promise<void> | undefined;
  /** Counts follow() calls: a watch whose call is no longer the newest (its watch failed before it was even set up, and a resync followed again) is cancelled, never kept. */
  private follows = 0;
  private readonly abort = new AbortController();

  constructor(
    private readonly kv: KvStore,
    private readonly keys: KeySpace,
    private readonly cluster: string,
    private readonly registry: Registry,
    private readonly logger: Logger,
    private readonly listener: (update: LatestUpdate) => void,
  ) {}

  /** Starts following; with `initial`, delivers the current values first. */
  async start(options: LatestSubscriptionOptions = {}): Promise<void> {
    await this.follow(options.initial === true);
  }

  /** Stops delivery. Safe before start and twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.abort.abort();
      await this.resyncing;
      await this.watcher?.cancel();
    })();
    return this.closing;
  }

  private async follow(deliverCurrent: boolean): Promise<void> {
    const call = ++this.follows;
    const prefix = this.keys.latestPrefix(this.cluster);
    let fromRevision: number | undefined;
    if (deliverCurrent) {
      const current = await this.kv.range({ prefix });
      for (const kv of current.kvs) this.deliver({ type: 'put', key: kv.key, value: kv.value, modRevision: kv.modRevision, createRevision: kv.createRevision }, prefix);
      fromRevision = current.revision + 1;
    }
    const watcher = await this.kv.watch(
      { prefix },
      { fromRevision, onEvent: (event) => this.deliver(event, prefix), onError: (error) => this.watchEnded(error) },
    );
    if (this.closing || call !== this.follows) {
      await watcher.cancel();
      return;
    }
    this.watcher = watcher;
  }

  private deliver(event: WatchEvent, prefix: string): void {
    if (this.closing || event.type === 'delete') return;
    let host: LatestHost;
    try {
      const segment = event.key.slice(prefix.length);
      unescapeSegment(segment);
      host = decodeLatestHost(event.value);
    } catch (error) {
      // The registry counts and logs these too; one bad value must not end the subscription.
      this.logger.debug({ err: error, key: event.key }, 'unreadable latest values skipped by a subscription');
      return;
    }
    try {
      this.listener({ hostname: host.hostname, gpus: latestRecords(this.registry, host) });
    } catch (error) {
      this.logger.error({ err: error }, `a latest-values subscriber failed: ${errorMessage(error)}`);
    }
  }

  private watchEnded(error: Error): void {
    if (this.closing || this.resyncing) return;
    this.logger.warn({ err: error }, `latest-values subscription watch ended (${errorMessage(error)}); following again`);
    this.resyncing = (async () => {
      for (let attempt = 0; !this.closing; attempt++) {
        try {
          await this.watcher?.cancel();
          await this.follow(true);
          return;
        } catch {
          await sleep(backoffDelayMs(attempt, { initialMs: 200, maxMs: 5_000 }), undefined, { signal: this.abort.signal }).catch(() => undefined);
        }
      }
    })().finally(() => {
      this.resyncing = undefined;
    });
  }
}
