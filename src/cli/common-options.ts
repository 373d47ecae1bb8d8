/**
 * The options every role shares, and turning parsed flags into a validated
 * GputelConfig (flags > GPUTEL_* environment > --config YAML > defaults).
 */
import type { Command } from 'commander';
import { loadConfig, type GputelConfig } from '../common/config.js';
import { GputelError } from '../common/gputel-error.js';

/**
 * Groups of settings beyond the store's, added to the commands that use
 * them (and only those: a command's --help lists what it reads):
 * `log` --log-level; `role` the etcd history compaction every long-running
 * role takes part in; `cluster`, `topic`, `partitions` the queue's names and
 * shape; `server` --host and --port; then each role's own settings.
 */
export type OptionGroup = 'log' | 'role' | 'cluster' | 'topic' | 'partitions' | 'server' | 'streamer' | 'collector' | 'gateway';

/** The groups of a long-running role on the queue (streamer, collector, start), beside its own. */
export const QUEUE_ROLE_GROUPS: readonly OptionGroup[] = ['log', 'role', 'cluster', 'topic', 'partitions', 'server'];

/**
 * Adds the settings a command uses: the store's always (where it is, its
 * root, its encryption and etcd's TLS and auth), and the listed groups.
 * `etcdRequired` (the separate roles) drops the embedded store's --data-dir.
 * No commander defaults: an absent flag must fall through to the
 * environment and the config file.
 */
export function withCommonOptions(command: Command, groups: readonly OptionGroup[] = [], options: { etcdRequired?: boolean } = {}): Command {
  command
    .option('--config <file>', 'YAML file of settings (keys as the flag names)')
    .option('--etcd <urls>', options.etcdRequired ? 'etcd client URLs, comma-separated (required; or GPUTEL_ETCD)' : 'etcd client URLs, comma-separated (default: the embedded store)');
  if (!options.etcdRequired) command.option('--data-dir <dir>', 'embedded store folder (default .gputel)');
  command.option('--root <prefix>', 'root key prefix (default /gputel)');
  if (groups.includes('cluster')) command.option('--cluster <name>', 'cluster name (default "default")');
  if (groups.includes('topic')) command.option('--topic <name>', 'queue topic (default "telemetry")');
  if (groups.includes('partitions')) command.option('--partitions <n>', 'queue partitions (default 16)');
  if (groups.includes('log')) command.option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (default info)');
  if (groups.includes('role')) {
    command.option('--etcd-compaction-interval <duration>', 'compact etcd history to the revision of one interval ago, e.g. 5m; 0 disables (default 5m)');
  }
  command
    .option('--encryption-key-file <file>', 'seal stored telemetry with AES-256-GCM under the keys of this file (ID:KEY lines, newest last; see docs/encryption.md)')
    .option('--etcd-ca <file>', 'PEM CA certificate that signed etcd\'s server certificate (TLS to etcd; use https:// endpoints)')
    .option('--etcd-cert <file>', 'PEM client certificate for etcd (--client-cert-auth), with --etcd-key')
    .option('--etcd-key <file>', 'PEM private key of --etcd-cert')
    .option('--etcd-user <name>', 'etcd user (etcd auth enabled), with --etcd-password')
    .option('--etcd-password <password>', 'password of --etcd-user (prefer GPUTEL_ETCD_PASSWORD: flags show in ps)');
  if (groups.includes('server')) {
    command
      .option('--host <address>', 'address to listen on (default 0.0.0.0; 127.0.0.1 for gputel start); a gateway on a non-loopback address needs API keys or --insecure')
      .option('--port <port>', 'port to listen on (default 8080; streamer and collector: a free port)');
  }
  if (groups.includes('streamer')) {
    command
      .option('--batch-samples <n>', 'samples per streamer flush (default 20000)')
      .option('--flush-interval <duration>', 'longest a row waits for its flush when the batch does not fill, 1ms-60s; lower it (e.g. 10ms) for a live stream with less delay (default 1s)')
      .option('--high-watermark <n>', 'partition depth in messages at which streamers wait (default 1000)')
      .option('--low-watermark <n>', 'partition depth under which waiting streamers go on (default: half the high watermark)')
      .option('--max-clock-skew <duration>', 'streamers reject rows dated further ahead of this clock (default 1h)')
      .option('--max-rate <rows/s>', 'rows per second a streamer reads at most, per source (default 0: unlimited)');
  }
  if (groups.includes('gateway')) {
    command
      .option('--stale-after <duration>', "a GPU whose newest sample is more than this behind the cluster's newest is stale (default 5m)")
      .option('--idle-threshold <percent>', 'default idle_threshold of the summary and idle endpoints: a GPU whose mean utilisation is below this is idle (default 5)')
      .option('--api-keys-file <file>', 'API keys: NAME:ROLE:sha256:HASH lines (`gputel keys create`); without keys the API is open (docs/security.md)')
      .option('--api-keys <lines>', 'API key lines inline, separated by newlines or ";" (or GPUTEL_API_KEYS)')
      .option('--insecure', 'serve without API keys on a non-loopback --host (refused otherwise)')
      .option('--tls-cert <file>', 'serve HTTPS (and WSS) with this PEM certificate (chain), with --tls-key')
      .option('--tls-key <file>', 'PEM private key of --tls-cert')
      .option('--rate-limit <rate>', 'requests per API key (or per client address without one), e.g. 600/min, 20/s; 0 turns it off (default 6000/min)')
      .option('--cors-origins <origins>', 'browser origins allowed to call the API, comma-separated, e.g. https://grafana.example.com (default none)')
      .option('--trust-proxy <addresses>', 'load balancers whose X-Forwarded-For gives the client address (rate limits, logs): IPs or CIDR ranges, comma-separated, e.g. 127.0.0.1,10.0.0.0/8 (default none)');
  }
  if (groups.includes('collector')) {
    command.option('--lease-ttl <seconds>', "collectors' member lease TTL; a dead collector's partitions move within one to two TTLs (default 5s)");
    command.option('--retention <duration>', "keep data this far back from the cluster's newest sample, 1h-3650d (default 7d)");
  }
  return command;
}

/**
 * The separate roles share their store with other processes, which only etcd
 * allows: the embedded store belongs to the one process that opened it.
 */
export function requireEtcd(config: GputelConfig, role: string): void {
  if (config.etcd.length === 0) {
    throw new GputelError(
      'BAD_CONFIG',
      `gputel ${role} needs etcd: pass --etcd http://HOST:2379 (or set GPUTEL_ETCD). To run every role in one process on the embedded store, use gputel start`,
    );
  }
}

/** Resolves the configuration of a command from its parsed options. */
export function configFrom(options: Record<string, unknown>, defaults: Partial<GputelConfig> = {}): GputelConfig {
  return loadConfig({
    flags: {
      etcd: options.etcd,
      dataDir: options.dataDir,
      root: options.root,
      cluster: options.cluster,
      topic: options.topic,
      partitions: options.partitions,
      host: options.host,
      port: options.port,
      logLevel: options.logLevel,
      batchSamples: options.batchSamples,
      highWatermark: options.highWatermark,
      lowWatermark: options.lowWatermark,
      maxClockSkewMs: options.maxClockSkew,
      flushIntervalMs: options.flushInterval,
      maxRate: options.maxRate,
      etcdCompactionIntervalMs: options.etcdCompactionInterval,
      leaseTtlSeconds: options.leaseTtl,
      retentionMs: options.retention,
      staleAfterMs: options.staleAfter,
      idleThreshold: options.idleThreshold,
      encryptionKeyFile: options.encryptionKeyFile,
      apiKeysFile: options.apiKeysFile,
      apiKeys: options.apiKeys,
      insecure: options.insecure,
      tlsCert: options.tlsCert,
      tlsKey: options.tlsKey,
      rateLimit: options.rateLimit,
      corsOrigins: options.corsOrigins,
      trustProxy: options.trustProxy,
      etcdCa: options.etcdCa,
      etcdCert: options.etcdCert,
      etcdKey: options.etcdKey,
      etcdUser: options.etcdUser,
      etcdPassword: options.etcdPassword,
    },
    file: options.config as string | undefined,
    defaults,
  });
}
