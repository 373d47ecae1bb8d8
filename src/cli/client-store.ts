/**
 * The store of a one-shot client command (`queue status`, `dlq …`): opened,
 * used, closed, with no server, no signal handlers and quiet logs.
 */
import type { GputelConfig } from '../common/config.js';
import { KeySpace } from '../kv/key-space.js';
import type { KvStore } from '../kv/kv-store.js';
import { openConfiguredStore } from './open-configured-store.js';

/** Runs `use` on the configured store (etcd, or the embedded store when no --etcd is given) and closes it. */
export async function withClientStore<T>(config: GputelConfig, use: (kv: KvStore, keys: KeySpace) => Promise<T>): Promise<T> {
  const kv = await openConfiguredStore(config);
  try {
    return await use(kv, new KeySpace(config.root));
  } finally {
    await kv.close();
  }
}
