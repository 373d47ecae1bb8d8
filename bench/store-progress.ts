/** What the benches wait on: samples counted as stored, and chunks that compaction has still to merge. */
import { unescapeSegment, type KeySpace } from '../src/kv/key-space.js';
import type { KvStore } from '../src/kv/kv-store.js';
import { decodeJson, type PartitionStats } from '../src/store/gpu-records.js';
import { DEFAULT_COMPACTION_GRACE_MS, DEFAULT_COMPACTION_WINDOW_MS, DEFAULT_OPEN_WINDOW_MERGE_AGE_MS, planCompaction } from '../src/store/maintenance/chunk-compactor.js';
import { listGpuChunks } from '../src/store/maintenance/gpu-chunk-list.js';

/** Samples the partition counters of `cluster` say are stored. */
export async function storedSamples(kv: KvStore, keys: KeySpace, cluster = 'default'): Promise<number> {
  const counters = await kv.range({ prefix: keys.statsPrefix(cluster) });
  return counters.kvs.reduce((sum, entry) => sum + decodeJson<PartitionStats>(entry.value).samples, 0);
}

/** The cluster's GPUs from the uuid index: [hostname, gpuKey]. */
async function gpusOf(kv: KvStore, keys: KeySpace, cluster: string): Promise<[string, string][]> {
  const prefix = keys.gpuIndexPrefix(cluster);
  return (await kv.range({ prefix }, { keysOnly: true })).kvs.map(({ key }) => {
    const [gpu, host] = key.slice(prefix.length).split('/');
    return [unescapeSegment(host), unescapeSegment(gpu)];
  });
}

/** Chunks a running collector would still merge (0 once compaction has run to rest): the compactor's own plan. */
export async function uncompactedChunks(kv: KvStore, keys: KeySpace, cluster = 'default'): Promise<number> {
  let left = 0;
  const options = { windowMs: DEFAULT_COMPACTION_WINDOW_MS, graceMs: DEFAULT_COMPACTION_GRACE_MS, openWindowMergeAgeMs: DEFAULT_OPEN_WINDOW_MERGE_AGE_MS };
  for (const [hostname, gpuKey] of await gpusOf(kv, keys, cluster)) {
    const chunks = await listGpuChunks(kv, keys, { cluster, hostname, gpuKey });
    for (const merge of planCompaction(chunks, new Set(), options)) left += merge.length;
  }
  return left;
}
