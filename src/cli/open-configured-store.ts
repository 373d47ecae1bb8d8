/**
 * The store a command's settings name, as every command opens it: etcd
 * when endpoints are given, else the embedded store; always through the
 * encryption wrapper (docs/encryption.md), which seals with the key file
 * when one is set, and otherwise refuses sealed values (STORE_KEY) instead
 * of handing their bytes to decoders.
 */
import type { GputelConfig } from '../common/config.js';
import type { Logger } from '../common/logger.js';
import type { KvStore } from '../kv/kv-store.js';
import { openKvStore, type EtcdSecurityConfig } from '../kv/open-kv-store.js';

/** Throws as openKvStore does (KV_UNAVAILABLE, BAD_CONFIG for a bad key file). The caller closes the store. */
export function openConfiguredStore(config: GputelConfig, logger?: Logger): Promise<KvStore> {
  return openKvStore({
    ...(config.etcd.length > 0 ? { endpoints: config.etcd, root: config.root, etcdSecurity: etcdSecurityOf(config) } : { dataDir: config.dataDir }),
    encryption: { root: config.root, keyFile: config.encryptionKeyFile === '' ? undefined : config.encryptionKeyFile, logger },
  });
}

/** The etcd TLS and auth settings that are set (docs/security.md). */
function etcdSecurityOf(config: GputelConfig): EtcdSecurityConfig {
  const set = (value: string): string | undefined => (value === '' ? undefined : value);
  return { caFile: set(config.etcdCa), certFile: set(config.etcdCert), keyFile: set(config.etcdKey), user: set(config.etcdUser), password: set(config.etcdPassword) };
}
