/** What a stored sample costs in gputel's store: the bytes of its chunks' keys and values. */
import type { KeySpace } from '../src/kv/key-space.js';
import type { KvStore } from '../src/kv/kv-store.js';

/** Bytes of chunk keys and values per stored sample, read back from the store. */
export async function chunkBytesPerSample(kv: KvStore, keys: KeySpace, samples: number): Promise<{ perSample: number; chunks: number }> {
  const prefix = keys.hostsPrefix('default');
  let bytes = 0;
  let chunks = 0;
  let start = prefix;
  for (;;) {
    const page = await kv.range({ start, end: `${prefix}~` }, { limit: 2_000 });
    for (const entry of page.kvs) {
      if (!entry.key.includes('/data/')) continue;
      bytes += entry.key.length + entry.value.length;
      chunks++;
    }
    if (!page.more) break;
    start = `${page.kvs[page.kvs.length - 1].key} `;
  }
  return { perSample: bytes / samples, chunks };
}
