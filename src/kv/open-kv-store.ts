/**
 * Picks the storage driver (ARCHITECTURE.md, "Two storage drivers, one
 * contract"): etcd whenever endpoints are configured, else the embedded store.
 */
import { GputelError } from '../common/gputel-error.js';
import { EmbeddedKvStore } from './embedded-kv-store.js';
import { EtcdKvStore } from './etcd-kv-store.js';
import type { KvStore } from './kv-store.js';

export interface OpenKvStoreConfig {
  /** etcd client URLs; when non-empty the etcd driver is used and dataDir is ignored. */
  endpoints?: string[];
  /** Directory of the embedded store (':memory:' for a throw-away one). */
  dataDir?: string;
  /** How long to wait for etcd to answer at start (default 5,000 ms). */
  dialTimeoutMs?: number;
}

/**
 * Opens the store the config names: `EtcdKvStore.connect` when endpoints are
 * given (throws KV_UNAVAILABLE, retryable, if etcd does not answer within the
 * dial timeout), else `EmbeddedKvStore.open` at dataDir (throws KV_UNAVAILABLE
 * if another process holds it). Throws BAD_CONFIG when neither is set. The
 * caller owns the returned store and must close() it.
 */
export async function openKvStore(config: OpenKvStoreConfig): Promise<KvStore> {
  if (config.endpoints !== undefined && config.endpoints.length > 0) {
    return EtcdKvStore.connect({ endpoints: config.endpoints, dialTimeoutMs: config.dialTimeoutMs });
  }
  if (config.dataDir !== undefined && config.dataDir.length > 0) {
    return EmbeddedKvStore.open({ dataDir: config.dataDir });
  }
  throw new GputelError('BAD_CONFIG', 'no store configured: give etcd endpoints (--etcd, GPUTEL_ETCD) or a data directory for the embedded store (--data-dir, GPUTEL_DATA_DIR)');
}
