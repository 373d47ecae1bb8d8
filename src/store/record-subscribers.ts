/**
 * The record stream's subscribers, indexed by the GPU ids and hosts they
 * filter on, so that finding who wants a chunk costs what matches it, not
 * the number of subscribers: with 10,000 clients each following one GPU,
 * a scan of all of them per chunk (256 chunks/s) was the gateway's main cost
 * (bench/ws-stream.ts).
 */
import type { GpuEntry } from './registry.js';

export interface SubscriberFilter {
  /** GPU ids as the API takes them (gpuKey, UUID, `hostname:gpu_id`); undefined for every GPU. */
  gpuIds: ReadonlySet<string> | undefined;
  /** Hostnames; undefined for every host. */
  hosts: ReadonlySet<string> | undefined;
}

export class RecordSubscribers<S extends { filter: SubscriberFilter }> {
  private readonly all = new Set<S>();
  /** Subscribers with a GPU filter, by each id in it. */
  private readonly byGpuId = new Map<string, Set<S>>();
  /** Subscribers with a host filter and no GPU filter, by each host in it. */
  private readonly byHost = new Map<string, Set<S>>();
  /** Subscribers with neither. */
  private readonly unfiltered = new Set<S>();

  get size(): number {
    return this.all.size;
  }

  add(subscriber: S): void {
    this.all.add(subscriber);
    const { gpuIds, hosts } = subscriber.filter;
    if (gpuIds) for (const id of gpuIds) addTo(this.byGpuId, id, subscriber);
    else if (hosts) for (const host of hosts) addTo(this.byHost, host, subscriber);
    else this.unfiltered.add(subscriber);
  }

  /** Removes a subscriber; false when it was not there (already deleted, or cleared). */
  delete(subscriber: S): boolean {
    if (!this.all.delete(subscriber)) return false;
    const { gpuIds, hosts } = subscriber.filter;
    if (gpuIds) for (const id of gpuIds) removeFrom(this.byGpuId, id, subscriber);
    else if (hosts) for (const host of hosts) removeFrom(this.byHost, host, subscriber);
    else this.unfiltered.delete(subscriber);
    return true;
  }

  clear(): void {
    this.all.clear();
    this.byGpuId.clear();
    this.byHost.clear();
    this.unfiltered.clear();
  }

  /** Every subscriber whose filter matches `gpu`, each once. */
  matching(gpu: GpuEntry): S[] {
    const found: S[] = [...this.unfiltered];
    const ofHost = this.byHost.get(gpu.hostname);
    if (ofHost) for (const subscriber of ofHost) found.push(subscriber);
    if (this.byGpuId.size === 0) return found;
    // A subscriber may name the same GPU by two of its ids: count it once.
    let seen: Set<S> | undefined;
    for (const id of new Set([gpu.id, gpu.gpuKey, gpu.uuid, `${gpu.hostname}:${gpu.gpuId}`, `${gpu.hostname}:${gpu.gpuKey}`])) {
      const named = this.byGpuId.get(id);
      if (!named) continue;
      for (const subscriber of named) {
        const { hosts } = subscriber.filter;
        if (hosts && !hosts.has(gpu.hostname)) continue;
        if (subscriber.filter.gpuIds!.size > 1) {
          seen ??= new Set();
          if (seen.has(subscriber)) continue;
          seen.add(subscriber);
        }
        found.push(subscriber);
      }
    }
    return found;
  }

  /** Every subscriber, for closing. */
  [Symbol.iterator](): IterableIterator<S> {
    return this.all.values();
  }
}

function addTo<S>(index: Map<string, Set<S>>, key: string, subscriber: S): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(subscriber);
}

function removeFrom<S>(index: Map<string, Set<S>>, key: string, subscriber: S): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(subscriber);
  if (set.size === 0) index.delete(key);
}
