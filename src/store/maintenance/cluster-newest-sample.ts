/**
 * The newest sample time of a cluster, from its `latest/{host}` keys: what
 * retention counts back from when a collector has applied no message of the
 * cluster yet (after a restart or a failover onto a fleet that is quiet).
 */
import type { KeySpace } from '../../kv/key-space.js';
import { prefixEnd, type KvStore } from '../../kv/kv-store.js';
import { decodeLatestHost } from '../gpu-records.js';

/** Latest values read per range: a host's value is at most ~256 KiB. */
const LATEST_PAGE_KEYS = 64;

/** The newest lastSeenMs over the cluster's latest values; undefined when it has none. Unreadable values are skipped. */
export async function clusterNewestSample(kv: KvStore, keys: KeySpace, cluster: string): Promise<number | undefined> {
  const prefix = keys.latestPrefix(cluster);
  let newest: number | undefined;
  let start = prefix;
  for (;;) {
    const page = await kv.range({ start, end: prefixEnd(prefix) }, { limit: LATEST_PAGE_KEYS });
    for (const { value } of page.kvs) {
      try {
        for (const gpu of Object.values(decodeLatestHost(value).gpus)) newest = Math.max(newest ?? -Infinity, gpu.lastSeenMs);
      } catch {
        // The collector repairs it with the host's next message; until then it says nothing of the newest sample.
      }
    }
    if (!page.more || page.kvs.length === 0) return newest;
    start = `${page.kvs[page.kvs.length - 1].key}\u0000`;
  }
}
