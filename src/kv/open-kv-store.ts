/**
 * Picks the storage driver (ARCHITECTURE.md, "Two storage drivers, one
 * contract"): etcd whenever endpoints are configured, else the embedded store.
 */
import { GputelError } from '../common/gputel-error.js';
import type { Logger } from '../common/logger.js';
import { EmbeddedKvStore } from './embedded-kv-store.js';
import { checkEncryptionKeys } from './encryption-key-check.js';
import { loadEncryptionKeyFile } from './encryption-key-file.js';
import { EtcdKvStore } from './etcd-kv-store.js';
import { KeySpace } from './key-space.js';
import type { KvStore } from './kv-store.js';
import { SealedKvStore } from './sealed-kv-store.js';
import { sealedKeyPolicy } from './sealed-key-policy.js';
import { ValueSealer } from './value-sealer.js';

export interface OpenKvStoreConfig {
  /** etcd client URLs; when non-empty the etcd driver is used and dataDir is ignored. */
  endpoints?: string[];
  /** Directory of the embedded store (':memory:' for a throw-away one). */
  dataDir?: string;
  /** How long to wait for etcd to answer at start (default 5,000 ms). */
  dialTimeoutMs?: number;
  /**
   * Encryption at rest (docs/encryption.md). Given, the store is wrapped in a
   * SealedKvStore for the key space under `root`: with `keyFile` it seals
   * and opens values; without, it writes plaintext and refuses (STORE_KEY)
   * sealed values instead of returning their bytes. The key file is first
   * checked against the store (encryption-key-check.ts). Absent: the bare driver.
   */
  encryption?: { root: string; keyFile?: string; logger?: Logger };
}

/**
 * Opens the store the config names: `EtcdKvStore.connect` when endpoints are
 * given (throws KV_UNAVAILABLE, retryable, if etcd does not answer within the
 * dial timeout), else `EmbeddedKvStore.open` at dataDir (throws KV_UNAVAILABLE
 * if another process holds it). Throws BAD_CONFIG when neither is set, or
 * when the encryption key file cannot be read or is malformed, and STORE_KEY
 * when it does not match the keys that sealed the store's data. The
 * caller owns the returned store and must close() it.
 */
export async function openKvStore(config: OpenKvStoreConfig): Promise<KvStore> {
  const { encryption } = config;
  if (encryption === undefined) return openDriver(config);
  // The key file is read first: a bad one is refused before any connection is made.
  const ring = encryption.keyFile === undefined ? undefined : loadEncryptionKeyFile(encryption.keyFile);
  for (const warning of ring?.warnings ?? []) encryption.logger?.warn(warning);
  const sealer = new ValueSealer(ring);
  const inner = await openDriver(config);
  try {
    await checkEncryptionKeys(inner, sealer, new KeySpace(encryption.root), encryption.logger);
  } catch (error) {
    await inner.close();
    throw error;
  }
  return new SealedKvStore(inner, { sealer, isSealedKey: sealedKeyPolicy(encryption.root), logger: encryption.logger });
}

async function openDriver(config: OpenKvStoreConfig): Promise<KvStore> {
  if (config.endpoints !== undefined && config.endpoints.length > 0) {
    return EtcdKvStore.connect({ endpoints: config.endpoints, dialTimeoutMs: config.dialTimeoutMs });
  }
  if (config.dataDir !== undefined && config.dataDir.length > 0) {
    return EmbeddedKvStore.open({ dataDir: config.dataDir });
  }
  throw new GputelError('BAD_CONFIG', 'no store configured: give etcd endpoints (--etcd, GPUTEL_ETCD) or a data directory for the embedded store (--data-dir, GPUTEL_DATA_DIR)');
}
