/**
 * `gputel config set|get|unset|history`: the live settings of a cluster
 * (docs/configuration.md). Every running streamer, collector, gateway and
 * `gputel start` on the same store applies a change within a second.
 */
import { userInfo, hostname } from 'node:os';
import { Argument, Command } from 'commander';
import { LIVE_SETTINGS, flagOf, type GputelConfig } from '../common/config.js';
import { normalizeLiveValue, readConfigHistory, readLiveSettings, requireLiveSetting, writeLiveSetting, type ConfigChange } from '../store/live-config-store.js';
import { GputelError } from '../common/gputel-error.js';
import type { KeySpace } from '../kv/key-space.js';
import type { KvStore } from '../kv/kv-store.js';
import { withClientStore } from './client-store.js';
import { configFrom, withCommonOptions } from './common-options.js';
import { formatTable, outputFormat, printable } from './output-format.js';

const LIVE_KEYS = LIVE_SETTINGS.map(flagOf);

/** Who a change is recorded as: the user and machine of the command (GPUTEL_CONFIG_AUTHOR overrides, e.g. in CI). */
function author(): string {
  if (process.env.GPUTEL_CONFIG_AUTHOR) return process.env.GPUTEL_CONFIG_AUTHOR;
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (a container's arbitrary uid): the host still says where.
  }
  return `${user}@${hostname()}`;
}

/** The store options, and --cluster (whose settings these are). */
function withStoreOptions(command: Command): Command {
  return withCommonOptions(command, ['cluster']);
}

function configOf(options: Record<string, unknown>): GputelConfig {
  return configFrom(options, { logLevel: 'warn' });
}

/**
 * withClientStore, with what to do when the embedded store is held: only one
 * process opens it, so a running `gputel start` cannot be reached this way
 * (docs/configuration.md, "The embedded store").
 */
async function withSettingsStore<T>(config: GputelConfig, use: (kv: KvStore, keys: KeySpace) => Promise<T>): Promise<T> {
  try {
    return await withClientStore(config, use);
  } catch (error) {
    if (config.etcd.length > 0 || !(error instanceof GputelError) || error.code !== 'KV_UNAVAILABLE') throw error;
    throw new GputelError(
      'KV_UNAVAILABLE',
      `${error.message}. A gputel start on the embedded store holds it: stop it and set the value (it applies when it starts again), or run it with --etcd to change settings while it runs`,
    );
  }
}

function keyArgument(): Argument {
  return new Argument('<key>', `a live setting: ${LIVE_KEYS.join(', ')}`).choices(LIVE_KEYS);
}

/** One line per change, for people: when, who, key, old → new ('-' for not set). */
export function formatHistory(changes: ConfigChange[]): string {
  return formatTable(
    ['WHEN', 'WHO', 'KEY', 'CHANGE'],
    changes.map((c) => [new Date(c.at).toISOString(), printable(c.by, 60), c.key, `${printable(c.old ?? '-', 60)} → ${printable(c.new ?? '-', 60)}`]),
  );
}

export function configCommand(): Command {
  const set = withStoreOptions(new Command('set'))
    .description('set a live setting: validated as its flag is, then applied by every running instance within a second')
    .addArgument(keyArgument())
    .argument('<value>', "the value in the flag's syntax, e.g. 5000, 500ms, 600/min, debug")
    .action(async (key: string, value: string, options: Record<string, unknown>) => {
      const config = configOf(options);
      // Checked before the store is opened: a bad value is refused at once (exit 3), not after a connect that may wait for seconds.
      normalizeLiveValue(key, value);
      const change = await withSettingsStore(config, (kv, keys) => writeLiveSetting(kv, keys, config.cluster, key, value, author()));
      process.stdout.write(change.old === change.new ? `${key} is already ${change.new}\n` : `${key}: ${change.old ?? '(not set)'} → ${change.new}\n`);
    });
  const unset = withStoreOptions(new Command('unset'))
    .description('remove a live setting: every instance goes back to the value it was started with')
    .addArgument(keyArgument())
    .action(async (key: string, options: Record<string, unknown>) => {
      const config = configOf(options);
      const change = await withSettingsStore(config, (kv, keys) => writeLiveSetting(kv, keys, config.cluster, key, null, author()));
      process.stdout.write(change.old === null ? `${key} was not set\n` : `${key}: ${change.old} → (started value)\n`);
    });
  const get = withStoreOptions(new Command('get'))
    .description("print a live setting's value alone (an empty output when it is not set), or every live setting (null: not set)")
    .addArgument(new Argument('[key]', 'a live setting').choices(LIVE_KEYS))
    .option('--output <format>', 'without KEY: json or table (default: table on a terminal, else json)')
    .action(async (key: string | undefined, options: Record<string, unknown>) => {
      const config = configOf(options);
      if (key !== undefined) requireLiveSetting(key);
      const format = key === undefined ? outputFormat(options.output) : undefined;
      const { values } = await withSettingsStore(config, (kv, keys) => readLiveSettings(kv, keys, config.cluster));
      if (key !== undefined) {
        const value = values.get(key);
        if (value !== undefined) process.stdout.write(`${value}\n`);
        return;
      }
      // Not set: each instance uses what it was started with (its GET /config shows that).
      const rows = LIVE_KEYS.map((k) => ({ key: k, value: values.get(k) ?? null }));
      process.stdout.write(
        format === 'json'
          ? JSON.stringify(Object.fromEntries(rows.map((row) => [row.key, row.value]))) + '\n'
          : formatTable(['KEY', 'LIVE VALUE'], rows.map((row) => [row.key, row.value === null ? '- (started value)' : printable(row.value, 80)])),
      );
    });
  const history = withStoreOptions(new Command('history'))
    .description('the last changes of live settings (who, when, old → new), oldest first')
    .option('--output <format>', 'json or table (default: table on a terminal, else json)')
    .action(async (options: Record<string, unknown>) => {
      const format = outputFormat(options.output);
      const config = configOf(options);
      const changes = await withSettingsStore(config, (kv, keys) => readConfigHistory(kv, keys, config.cluster));
      // JSON as the API writes times: RFC 3339.
      process.stdout.write(format === 'json' ? JSON.stringify(changes.map((c) => ({ ...c, at: new Date(c.at).toISOString() }))) + '\n' : formatHistory(changes));
    });
  return new Command('config')
    .description('live configuration of a cluster: set, get, unset and the history of its settings (docs/configuration.md)')
    .addCommand(set)
    .addCommand(get)
    .addCommand(unset)
    .addCommand(history);
}
