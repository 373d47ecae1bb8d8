/**
 * Picks the storage driver (ARCHITECTURE.md, "Two storage drivers, one
 * contract"): etcd whenever endpoints are configured, else the embedded store.
 */
import { GputelError } from '../common/gputel-error.js';
import type { Logger } from '../common/logger.js';
import { EmbeddedKvStore } from './embedded-kv-store.js';
import { checkEncryptionKeys } from './encryption-key-check.js';
import { loadEncryptionKeyFile } from './encryption-key-file.js';
import { readPemFile } from '../common/pem-file.js';
import { EtcdKvStore, type EtcdKvStoreOptions } from './etcd-kv-store.js';
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
  /** The key space's root (e.g. `/gputel`): etcd's probes read under it, where an etcd user with auth may read. */
  root?: string;
  /** TLS and user/password for etcd (docs/security.md): PEM file paths, read here; unset fields are not used. */
  etcdSecurity?: EtcdSecurityConfig;
  /**
   * Encryption at rest (docs/encryption.md). Given, the store is wrapped in a
   * SealedKvStore for the key space under `root`: with `keyFile` it seals
   * and opens values; without, it writes plaintext and refuses (STORE_KEY)
   * sealed values instead of returning their bytes. The key file is first
   * checked against the store (encryption-key-check.ts). Absent: the bare driver.
   */
  encryption?: { root: string; keyFile?: string; logger?: Logger };
}

export interface EtcdSecurityConfig {
  /** CA certificate of etcd's server certificate; given, the client speaks TLS. */
  caFile?: string;
  /** Client certificate and its key (etcd --client-cert-auth); need caFile. */
  certFile?: string;
  keyFile?: string;
  user?: string;
  password?: string;
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
    return EtcdKvStore.connect({ endpoints: config.endpoints, dialTimeoutMs: config.dialTimeoutMs, probeKey: config.root === undefined ? undefined : `${config.root}/`, ...etcdSecurityOptions(config.etcdSecurity) });
  }
  if (config.dataDir !== undefined && config.dataDir.length > 0) {
    return EmbeddedKvStore.open({ dataDir: config.dataDir });
  }
  throw new GputelError('BAD_CONFIG', 'no store configured: give etcd endpoints (--etcd, GPUTEL_ETCD) or a data directory for the embedded store (--data-dir, GPUTEL_DATA_DIR)');
}

/** The etcd driver's TLS and auth options from file paths. Throws BAD_CONFIG naming the setting and file that cannot be used. */
function etcdSecurityOptions(security: EtcdSecurityConfig | undefined): Pick<EtcdKvStoreOptions, 'tls' | 'auth'> {
  if (security === undefined) return {};
  const { caFile, certFile, keyFile, user, password } = security;
  if ((certFile !== undefined || keyFile !== undefined) && caFile === undefined) {
    throw new GputelError('BAD_CONFIG', '--etcd-cert and --etcd-key need --etcd-ca: the CA that signed etcd\'s server certificate (a client certificate is only sent over TLS)');
  }
  return {
    ...(caFile === undefined
      ? {}
      : {
          tls: {
            ca: readPemFile(caFile, '--etcd-ca'),
            ...(certFile === undefined ? {} : { cert: readPemFile(certFile, '--etcd-cert') }),
            ...(keyFile === undefined ? {} : { key: readPemFile(keyFile, '--etcd-key') }),
          },
        }),
    ...(user === undefined ? {} : { auth: { username: user, password: password ?? '' } }),
  };
}
