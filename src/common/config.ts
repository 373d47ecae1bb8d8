/**
 * Settings of every role, resolved flags > GPUTEL_* environment > YAML file >
 * defaults, and validated at start: every bad value is reported, each on a
 * line naming the setting, where it came from, and what is allowed.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { isAddressRange } from './address-range.js';
import { GputelError } from './gputel-error.js';

export interface GputelConfig {
  /** etcd client URLs; empty means the embedded store. */
  etcd: string[];
  dataDir: string;
  root: string;
  cluster: string;
  topic: string;
  partitions: number;
  host: string;
  port: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Samples per flush of a streamer (one transaction of messages + checkpoint). */
  batchSamples: number;
  /** A partition deeper than this many messages makes streamers wait. */
  highWatermark: number;
  /** A waiting streamer goes on once its partitions are under this depth; 0 means half the high watermark. */
  lowWatermark: number;
  /** Streamers reject rows dated more than this many ms ahead of the wall clock. */
  maxClockSkewMs: number;
  /** Longest a row waits for its streamer flush when the batch does not fill (live sources). */
  flushIntervalMs: number;
  /** Rows per second a streamer reads at most, per source; 0 is unlimited. */
  maxRate: number;
  /** How often the elected instance compacts etcd's history, to the revision of one interval ago; 0 disables it. */
  etcdCompactionIntervalMs: number;
  /** TTL of a collector's member and owner lease: a dead collector's partitions are owned again within about twice this. */
  leaseTtlSeconds: number;
  /** Collectors remove data older than the cluster's newest sample minus this (data time, not the wall clock). */
  retentionMs: number;
  /** A GPU whose newest sample is more than this behind the cluster's newest is "stale" (GPU list, summaries). */
  staleAfterMs: number;
  /** Default idle_threshold (%) of the summary and idle endpoints (REST and GraphQL) when a request names none. */
  idleThreshold: number;
  /** File of encryption keys (ID:KEY lines, newest last) that seal stored values; '' stores them unsealed. */
  encryptionKeyFile: string;
  /** Gateway API keys (docs/security.md): a file of NAME:ROLE:sha256:HASH lines; '' for none. */
  apiKeysFile: string;
  /** The same lines given inline (newline- or ';'-separated), e.g. from GPUTEL_API_KEYS; '' for none. */
  apiKeys: string;
  /** Lets a gateway without keys listen on a non-loopback address (protected mode off). */
  insecure: boolean;
  /** PEM certificate (chain) and private key of the gateway's HTTPS; both or neither. */
  tlsCert: string;
  tlsKey: string;
  /** Requests per window per API key (or per client address when unauthenticated); max 0 turns it off. */
  rateLimit: { max: number; windowMs: number };
  /** Origins allowed to call the API from a browser (CORS); empty: none. */
  corsOrigins: string[];
  /**
   * Addresses and CIDR ranges of the proxies (load balancers) whose X-Forwarded-For a gateway believes:
   * a request from one of them counts, and is logged, under the client address it forwards. Empty: none.
   */
  trustProxy: string[];
  /** etcd client TLS: the CA that signed etcd's certificate, and a client certificate and key (PEM files). */
  etcdCa: string;
  etcdCert: string;
  etcdKey: string;
  /** etcd user and password (etcd's `auth enable`); '' for none. */
  etcdUser: string;
  etcdPassword: string;
}

/** Where a setting's value came from; 'live' is a value written under the cluster's config/settings/ (live-settings.ts). */
export type SettingSource = 'flag' | 'environment' | 'config file' | 'default' | 'live';
type Source = Exclude<SettingSource, 'live'>;

interface SettingSpec<T> {
  flag: string;
  env: string;
  defaultValue: T;
  parse(raw: unknown): Parsed<T>;
  /** The value written back in the flag's own syntax (`5m`, `600/min`); String(value) when absent. */
  format?: (value: T) => string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };
const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const refuse = <T>(reason: string): Parsed<T> => ({ ok: false, reason });

function integer(min: number, max: number) {
  return (raw: unknown): Parsed<number> => {
    const value = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
    return Number.isInteger(value) && value >= min && value <= max ? ok(value) : refuse(`must be a whole number from ${min} to ${max}`);
  };
}

function text(pattern: RegExp, rule: string) {
  return (raw: unknown): Parsed<string> => {
    const value = typeof raw === 'string' || typeof raw === 'number' ? String(raw) : undefined;
    return value !== undefined && pattern.test(value) ? ok(value) : refuse(rule);
  };
}

function endpoints(raw: unknown): Parsed<string[]> {
  const list = Array.isArray(raw) ? raw.map(String) : typeof raw === 'string' ? raw.split(',') : undefined;
  if (list === undefined) return refuse('must be a comma-separated list of http(s)://host:port URLs');
  const urls = list.map((s) => s.trim()).filter((s) => s !== '');
  const badUrl = urls.find((u) => !/^https?:\/\/[^/\s]+:\d+\/?$/.test(u));
  return badUrl === undefined ? ok(urls) : refuse(`"${badUrl}" is not an http(s)://host:port URL`);
}

const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of a duration written 500ms, 10s, 15m, 1h or 7d (decimals allowed); NaN when `text` is not one. */
export function parseDurationMs(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  return match ? Math.round(Number(match[1]) * DURATION_UNIT_MS[match[2]]) : NaN;
}

/** A duration in the largest unit that writes it whole: 3600000 → "1h", 1500 → "1500ms"; 0 → "0" (off). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  const [unit, unitMs] = Object.entries(DURATION_UNIT_MS)
    .sort((a, b) => b[1] - a[1])
    .find(([, size]) => ms % size === 0)!;
  return `${ms / unitMs}${unit}`;
}

/**
 * A duration such as 500ms, 10s, 15m, 1h or 7d, in ms, of at least `minMs`;
 * with `offAllowed`, also 0 for "off".
 */
function duration(minMs: number, offAllowed = false, maxMs = Infinity) {
  return (raw: unknown): Parsed<number> => {
    const value = typeof raw === 'string' || typeof raw === 'number' ? String(raw).trim() : '';
    if (offAllowed && value === '0') return ok(0);
    const ms = parseDurationMs(value);
    if (ms > maxMs) return refuse(`must be at most ${formatDuration(maxMs)}`);
    if (ms >= minMs && ms > 0) return ok(ms);
    const least = minMs > 1 ? `a duration of at least ${formatDuration(minMs)}` : 'a positive duration';
    // Examples the setting takes: the usual ones at or above its minimum.
    const examples = ['10ms', '30s', '5m', '1h', '7d', '30d'].filter((example) => parseDurationMs(example) >= minMs && parseDurationMs(example) <= maxMs).slice(0, 3);
    return refuse(`must be ${least} with ms, s, m, h or d (e.g. ${examples.join(', ')})${offAllowed ? ', or 0 to disable' : ''}`);
  };
}

/** Whole seconds, written `5`, `5s` or `1m`. */
function seconds(min: number, max: number) {
  return (raw: unknown): Parsed<number> => {
    const match = /^(\d+)(s|m)?$/.exec(typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw.trim() : '');
    const value = match ? Number(match[1]) * (match[2] === 'm' ? 60 : 1) : NaN;
    return value >= min && value <= max ? ok(value) : refuse(`must be a whole number of seconds from ${min} to ${max} (e.g. 5, 5s or 1m)`);
  };
}

function flag(raw: unknown): Parsed<boolean> {
  if (raw === true || raw === false) return ok(raw);
  const value = typeof raw === 'string' ? raw.trim().toLowerCase() : '';
  if (['true', '1', 'yes'].includes(value)) return ok(true);
  if (['false', '0', 'no'].includes(value)) return ok(false);
  return refuse('must be true or false');
}

const RATE_WINDOW_MS: Record<string, number> = { s: 1_000, sec: 1_000, m: 60_000, min: 60_000, h: 3_600_000 };
const RATE_WINDOW_NAME: Record<number, string> = { 1_000: 's', 60_000: 'min', 3_600_000: 'h' };

function formatRate(rate: { max: number; windowMs: number }): string {
  return rate.max === 0 ? '0' : `${rate.max}/${RATE_WINDOW_NAME[rate.windowMs] ?? `${rate.windowMs}ms`}`;
}

/** A percentage from 0 to 100, decimals allowed (the API's idle_threshold takes the same). */
function percent(raw: unknown): Parsed<number> {
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw.trim().replace(/%$/, '')) : NaN;
  return Number.isFinite(value) && value >= 0 && value <= 100 ? ok(value) : refuse('must be a percentage from 0 to 100, e.g. 5 or 2.5');
}

/** `600/min`, `10/s`, `5000/h`, a bare count (per minute), or 0 (off). */
function rate(raw: unknown): Parsed<{ max: number; windowMs: number }> {
  const match = /^(\d+)(?:\/(s|sec|m|min|h))?$/.exec(typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw.trim() : '');
  const max = match ? Number(match[1]) : NaN;
  if (!match || max > 1_000_000_000) return refuse('must be requests per window such as 600/min, 20/s or 10000/h (a bare number is per minute), or 0 to turn rate limits off');
  return ok({ max, windowMs: RATE_WINDOW_MS[match[2] ?? 'min'] });
}

/** Browser origins, comma-separated: scheme://host[:port], no path; '*' is refused (name the dashboards you trust). */
function origins(raw: unknown): Parsed<string[]> {
  const list = Array.isArray(raw) ? raw.map(String) : typeof raw === 'string' ? raw.split(',') : undefined;
  if (list === undefined) return refuse('must be a comma-separated list of origins such as https://grafana.example.com');
  const values = list.map((s) => s.trim()).filter((s) => s !== '');
  const bad = values.find((origin) => !/^https?:\/\/[A-Za-z0-9.-]+(:\d+)?$|^https?:\/\/\[[0-9a-fA-F:]+\](:\d+)?$/.test(origin));
  return bad === undefined ? ok(values) : refuse(`"${bad}" is not an origin (scheme://host[:port], no path; '*' is not allowed)`);
}

/**
 * Proxy addresses, comma-separated: IPs and CIDR ranges (address-range.ts).
 * No names (`loopback`, host names): a name that resolves differently later
 * would widen whom the gateway believes without anyone changing the setting.
 */
function proxyAddresses(raw: unknown): Parsed<string[]> {
  const list = Array.isArray(raw) ? raw.map(String) : typeof raw === 'string' ? raw.split(',') : undefined;
  if (list === undefined) return refuse('must be a comma-separated list of IP addresses or CIDR ranges such as 127.0.0.1,10.0.0.0/8');
  const values = list.map((s) => s.trim()).filter((s) => s !== '');
  const bad = values.find((value) => !isAddressRange(value));
  return bad === undefined
    ? ok(values)
    : refuse(`"${bad}" is not an IP address or a CIDR range (e.g. 127.0.0.1, 10.0.0.0/8, fd00::/8; a prefix from 1 to 32 for IPv4, 1 to 128 for IPv6)`);
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const SPECS: { [K in keyof GputelConfig]: SettingSpec<GputelConfig[K]> } = {
  etcd: { flag: 'etcd', env: 'GPUTEL_ETCD', defaultValue: [], parse: endpoints },
  dataDir: { flag: 'data-dir', env: 'GPUTEL_DATA_DIR', defaultValue: '.gputel', parse: text(/^.+$/, 'must be a directory path') },
  root: { flag: 'root', env: 'GPUTEL_ROOT', defaultValue: '/gputel', parse: text(/^\/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$/, "must start with '/' and use letters, digits, '.', '_', '-', '/'") },
  cluster: { flag: 'cluster', env: 'GPUTEL_CLUSTER', defaultValue: 'default', parse: text(/^[A-Za-z0-9._-]{1,63}$/, "must be 1-63 letters, digits, '.', '_' or '-'") },
  topic: { flag: 'topic', env: 'GPUTEL_TOPIC', defaultValue: 'telemetry', parse: text(/^[A-Za-z0-9._-]{1,63}$/, "must be 1-63 letters, digits, '.', '_' or '-'") },
  // At most 127: one flush writes a message per partition plus the checkpoint
  // in ONE transaction, and etcd allows 128 operations per transaction.
  partitions: { flag: 'partitions', env: 'GPUTEL_PARTITIONS', defaultValue: 16, parse: integer(1, 127) },
  host: { flag: 'host', env: 'GPUTEL_HOST', defaultValue: '0.0.0.0', parse: text(/^[A-Za-z0-9.:[\]-]+$/, 'must be an address to listen on, e.g. 0.0.0.0 or 127.0.0.1') },
  port: { flag: 'port', env: 'GPUTEL_PORT', defaultValue: 8080, parse: integer(0, 65535) },
  logLevel: {
    flag: 'log-level',
    env: 'GPUTEL_LOG_LEVEL',
    defaultValue: 'info',
    parse: (raw) =>
      LOG_LEVELS.includes(raw as GputelConfig['logLevel']) ? ok(raw as GputelConfig['logLevel']) : refuse(`must be one of ${LOG_LEVELS.join(', ')}`),
  },
  batchSamples: { flag: 'batch-samples', env: 'GPUTEL_BATCH_SAMPLES', defaultValue: 20_000, parse: integer(1, 40_000) },
  highWatermark: { flag: 'high-watermark', env: 'GPUTEL_HIGH_WATERMARK', defaultValue: 1_000, parse: integer(1, 1_000_000) },
  lowWatermark: { flag: 'low-watermark', env: 'GPUTEL_LOW_WATERMARK', defaultValue: 0, parse: integer(0, 1_000_000) },
  maxClockSkewMs: { flag: 'max-clock-skew', env: 'GPUTEL_MAX_CLOCK_SKEW', defaultValue: 3_600_000, parse: duration(1), format: formatDuration },
  flushIntervalMs: { flag: 'flush-interval', env: 'GPUTEL_FLUSH_INTERVAL', defaultValue: 1_000, parse: duration(1, false, 60_000), format: formatDuration },
  maxRate: { flag: 'max-rate', env: 'GPUTEL_MAX_RATE', defaultValue: 0, parse: integer(0, 100_000_000) },
  // Kubernetes' API server compacts every 5 minutes too; at least 1 s so a typo (5ms) cannot hammer etcd.
  etcdCompactionIntervalMs: { flag: 'etcd-compaction-interval', env: 'GPUTEL_ETCD_COMPACTION_INTERVAL', defaultValue: 5 * 60_000, parse: duration(1_000, true), format: formatDuration },
  // etcd raises a TTL under 2 s to 2 s; past an hour a dead collector's partitions would wait too long.
  // Shown as `5s` (GET /config), which the flag takes back, as docs and README write it.
  leaseTtlSeconds: { flag: 'lease-ttl', env: 'GPUTEL_LEASE_TTL', defaultValue: 5, parse: seconds(2, 3_600), format: (seconds: number) => `${seconds}s` },
  // At least 1 h (compaction merges 4 h windows; less would remove data as it lands); at most ~10 years.
  retentionMs: { flag: 'retention', env: 'GPUTEL_RETENTION', defaultValue: 7 * 86_400_000, parse: duration(3_600_000, false, 3_650 * 86_400_000), format: formatDuration },
  staleAfterMs: { flag: 'stale-after', env: 'GPUTEL_STALE_AFTER', defaultValue: 5 * 60_000, parse: duration(1_000), format: formatDuration },
  // The API's own default before live configuration; a request's idle_threshold still overrides it.
  idleThreshold: { flag: 'idle-threshold', env: 'GPUTEL_IDLE_THRESHOLD', defaultValue: 5, parse: percent },
  // The file itself is read and checked where the store is opened (encryption-key-file.ts), with its line numbers.
  encryptionKeyFile: { flag: 'encryption-key-file', env: 'GPUTEL_ENCRYPTION_KEY_FILE', defaultValue: '', parse: text(/^.+$/, 'must be the path of a key file') },
  // Security (docs/security.md). The keys' lines are checked where they are loaded (api-key-ring.ts), with their line numbers.
  apiKeysFile: { flag: 'api-keys-file', env: 'GPUTEL_API_KEYS_FILE', defaultValue: '', parse: text(/^.+$/, 'must be the path of a keys file') },
  apiKeys: { flag: 'api-keys', env: 'GPUTEL_API_KEYS', defaultValue: '', parse: text(/^[\s\S]*$/, 'must be NAME:ROLE:sha256:HASH lines') },
  insecure: { flag: 'insecure', env: 'GPUTEL_INSECURE', defaultValue: false, parse: flag },
  tlsCert: { flag: 'tls-cert', env: 'GPUTEL_TLS_CERT', defaultValue: '', parse: text(/^.+$/, 'must be the path of a PEM certificate file') },
  tlsKey: { flag: 'tls-key', env: 'GPUTEL_TLS_KEY', defaultValue: '', parse: text(/^.+$/, 'must be the path of a PEM private key file') },
  // 100 requests/s per key or address: far above a dashboard's polling, far below what floods a gateway.
  rateLimit: { flag: 'rate-limit', env: 'GPUTEL_RATE_LIMIT', defaultValue: { max: 6_000, windowMs: 60_000 }, parse: rate, format: formatRate },
  corsOrigins: { flag: 'cors-origins', env: 'GPUTEL_CORS_ORIGINS', defaultValue: [], parse: origins },
  // None by default: believing X-Forwarded-For from anyone would let every client pick its own rate-limit address.
  trustProxy: { flag: 'trust-proxy', env: 'GPUTEL_TRUST_PROXY', defaultValue: [], parse: proxyAddresses },
  etcdCa: { flag: 'etcd-ca', env: 'GPUTEL_ETCD_CA', defaultValue: '', parse: text(/^.+$/, 'must be the path of a PEM CA certificate file') },
  etcdCert: { flag: 'etcd-cert', env: 'GPUTEL_ETCD_CERT', defaultValue: '', parse: text(/^.+$/, 'must be the path of a PEM client certificate file') },
  etcdKey: { flag: 'etcd-key', env: 'GPUTEL_ETCD_KEY', defaultValue: '', parse: text(/^.+$/, 'must be the path of a PEM client key file') },
  etcdUser: { flag: 'etcd-user', env: 'GPUTEL_ETCD_USER', defaultValue: '', parse: text(/^[^:\s]+$/, 'must be an etcd user name (no spaces or colons)') },
  etcdPassword: { flag: 'etcd-password', env: 'GPUTEL_ETCD_PASSWORD', defaultValue: '', parse: text(/^[\s\S]+$/, 'must be a password') },
};

export interface ConfigSources {
  /** Values from command-line flags, keyed by setting name; undefined when not given. */
  flags?: Partial<Record<keyof GputelConfig, unknown>>;
  env?: NodeJS.ProcessEnv;
  /** YAML file path (flag --config or GPUTEL_CONFIG). */
  file?: string;
  /** Role-specific defaults that replace the global ones (e.g. a streamer's port). */
  defaults?: Partial<GputelConfig>;
}

/** Resolves and validates the configuration. Throws BAD_CONFIG listing every bad value. */
export function loadConfig(sources: ConfigSources = {}): GputelConfig {
  const env = sources.env ?? process.env;
  const problems: string[] = [];
  const filePath = sources.file ?? env.GPUTEL_CONFIG;
  let fileValues: Record<string, unknown> = {};
  if (filePath) {
    try {
      const parsed: unknown = parseYaml(readFileSync(filePath, 'utf8'));
      if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) {
        problems.push(`config file ${filePath} must hold a YAML mapping of setting: value`);
      } else {
        fileValues = (parsed ?? {}) as Record<string, unknown>;
      }
    } catch (error) {
      problems.push(`config file ${filePath} cannot be read: ${error instanceof Error ? error.message : String(error)}`);
    }
    const known = new Set(Object.values(SPECS).map((s) => s.flag));
    for (const key of Object.keys(fileValues)) {
      if (!known.has(key)) problems.push(`config file ${filePath}: unknown setting "${key}" (known: ${[...known].join(', ')})`);
    }
  }

  const config: Record<string, unknown> = {};
  const origins: Record<string, Source> = {};
  for (const [name, spec] of Object.entries(SPECS) as [keyof GputelConfig, SettingSpec<unknown>][]) {
    let raw: unknown;
    let source: Source;
    if (sources.flags?.[name] !== undefined) {
      raw = sources.flags[name];
      source = 'flag';
    } else if (env[spec.env] !== undefined && env[spec.env] !== '') {
      raw = env[spec.env];
      source = 'environment';
    } else if (fileValues[spec.flag] !== undefined) {
      raw = fileValues[spec.flag];
      source = 'config file';
    } else {
      config[name] = sources.defaults?.[name] ?? spec.defaultValue;
      origins[name] = 'default';
      continue;
    }
    origins[name] = source;
    const parsed = spec.parse(raw);
    if (parsed.ok) {
      config[name] = parsed.value;
    } else {
      const where = source === 'flag' ? `--${spec.flag}` : source === 'environment' ? spec.env : `${spec.flag} in ${filePath}`;
      problems.push(`${where} = ${JSON.stringify(raw)}: ${parsed.reason}`);
    }
  }
  if (problems.length === 0) problems.push(...pairProblems(config as unknown as GputelConfig));
  if (problems.length > 0) {
    throw new GputelError('BAD_CONFIG', `invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
  SOURCES.set(config as unknown as GputelConfig, origins as Record<keyof GputelConfig, Source>);
  return config as unknown as GputelConfig;
}

/** Where each setting of a loadConfig result came from; kept beside the object so the config's type stays plain data. */
const SOURCES = new WeakMap<GputelConfig, Record<keyof GputelConfig, Source>>();

/** Where each setting of `config` came from ('default' for every one of a config that loadConfig did not make). */
export function settingSourcesOf(config: GputelConfig): Record<keyof GputelConfig, Source> {
  return SOURCES.get(config) ?? (Object.fromEntries(Object.keys(SPECS).map((name) => [name, 'default'])) as Record<keyof GputelConfig, Source>);
}

/**
 * The settings that change at run time through `{root}/clusters/{cluster}/config/settings/{flag}`
 * (docs/configuration.md). Each is parsed by the same parser as its flag.
 */
export const LIVE_SETTINGS = ['batchSamples', 'flushIntervalMs', 'maxRate', 'rateLimit', 'retentionMs', 'staleAfterMs', 'idleThreshold', 'logLevel', 'etcdCompactionIntervalMs'] as const;
export type LiveSettingName = (typeof LIVE_SETTINGS)[number];

/** Values never shown (GET /config, logs): they grant access. Paths of key files are shown, their contents never read here. */
export const SECRET_SETTINGS: ReadonlySet<keyof GputelConfig> = new Set(['apiKeys', 'etcdPassword']);

/** The low watermark a streamer waits under: `low`, or half of `high` when `low` is 0; never above `high`. */
export function lowWatermarkInEffect(low: number, high: number): number {
  return Math.min(low || Math.ceil(high / 2), high);
}

/** The flag name of a setting (`batchSamples` → `batch-samples`). */
export function flagOf(name: keyof GputelConfig): string {
  return SPECS[name].flag;
}

/** The live setting named by its flag, or undefined for a flag that is not live (or not a flag). */
export function liveSettingOfFlag(flag: string): LiveSettingName | undefined {
  return LIVE_SETTINGS.find((name) => SPECS[name].flag === flag);
}

/** Parses a live value with its flag's parser: the same rules as flags, environment and config file. */
export function parseSetting<K extends keyof GputelConfig>(name: K, raw: string): Parsed<GputelConfig[K]> {
  return SPECS[name].parse(raw);
}

/** A setting's value in its flag's syntax (`5m`, `600/min`, `debug`), which parseSetting reads back to the same value. */
export function formatSetting<K extends keyof GputelConfig>(name: K, value: GputelConfig[K]): string {
  const spec = SPECS[name];
  if (spec.format) return spec.format(value);
  return Array.isArray(value) ? value.join(',') : String(value);
}

/** Settings that only work together: a certificate needs its key, a user its password. */
function pairProblems(config: GputelConfig): string[] {
  const problems: string[] = [];
  if ((config.tlsCert === '') !== (config.tlsKey === '')) problems.push('--tls-cert and --tls-key go together: give both (HTTPS) or neither (HTTP)');
  if ((config.etcdCert === '') !== (config.etcdKey === '')) problems.push('--etcd-cert and --etcd-key go together: give both (a client certificate) or neither');
  if ((config.etcdUser === '') !== (config.etcdPassword === '')) problems.push('--etcd-user and --etcd-password (or GPUTEL_ETCD_PASSWORD) go together: give both or neither');
  return problems;
}
