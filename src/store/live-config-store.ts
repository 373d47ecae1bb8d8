/**
 * Reading and writing the live settings of a cluster
 * (`{root}/clusters/{cluster}/config/settings/{flag}`, the value as text in
 * the flag's syntax, so `etcdctl put` works too) and their bounded change
 * history (`config/history/`): etcd's MVCC history is compacted, so who
 * changed what is kept explicitly, the last CONFIG_HISTORY_LIMIT changes.
 */
import { randomBytes } from 'node:crypto';
import { LIVE_SETTINGS, flagOf, formatSetting, liveSettingOfFlag, parseSetting } from '../common/config.js';
import { GputelError } from '../common/gputel-error.js';
import { unescapeSegment, type KeySpace } from '../kv/key-space.js';
import type { KvStore, TxnOp } from '../kv/kv-store.js';

/** Changes kept in `config/history/`; older ones are removed by the write that goes past it. */
export const CONFIG_HISTORY_LIMIT = 100;
/** Orders the history entries this process writes in the same millisecond. */
let historySequence = 0;
/** Tries of a set whose setting another writer changed between its read and its write. */
const MAX_WRITE_TRIES = 5;

export interface ConfigChange {
  /** Epoch ms of the change. */
  at: number;
  /** Who made it: user@host of the `gputel config` command. */
  by: string;
  key: string;
  /** null: was not set (the started value applied). */
  old: string | null;
  /** null: removed (`config unset`). */
  new: string | null;
}

/** The stored live values, keyed by flag name, as written (a bad value written with etcdctl included). */
export async function readLiveSettings(kv: KvStore, keys: KeySpace, cluster: string): Promise<{ values: Map<string, string>; revision: number }> {
  const prefix = keys.liveSettingsPrefix(cluster);
  const result = await kv.range({ prefix });
  const values = new Map<string, string>();
  for (const { key, value } of result.kvs) {
    const flag = settingFlagOfKey(prefix, key);
    if (flag !== undefined) values.set(flag, value.toString('utf8'));
  }
  return { values, revision: result.revision };
}

/** The flag name a key under `prefix` (config/settings/) stands for; undefined for a key gputel cannot have written. */
export function settingFlagOfKey(prefix: string, key: string): string | undefined {
  try {
    return unescapeSegment(key.slice(prefix.length));
  } catch {
    return undefined;
  }
}

/**
 * The value of a live setting as it should be stored: parsed with the flag's
 * parser and written back in the flag's syntax. Throws BAD_CONFIG naming the
 * key and the rule for an unknown key or a bad value.
 */
export function normalizeLiveValue(flag: string, raw: string): string {
  const name = requireLiveSetting(flag);
  const parsed = parseSetting(name, raw);
  if (!parsed.ok) throw new GputelError('BAD_CONFIG', `${flag} = ${JSON.stringify(raw)}: ${parsed.reason}; the value in effect is unchanged`);
  return formatSetting(name, parsed.value);
}

/** Throws BAD_CONFIG for a key that is not a live setting, listing those that are. */
export function requireLiveSetting(flag: string): (typeof LIVE_SETTINGS)[number] {
  const name = liveSettingOfFlag(flag);
  if (name === undefined) throw new GputelError('BAD_CONFIG', `"${flag}" is not a live setting; live settings: ${LIVE_SETTINGS.map(flagOf).join(', ')}`);
  return name;
}

/**
 * Sets (`raw` a string) or removes (`raw` null) a live setting and records
 * the change in the history, in one transaction guarded by the setting's
 * revision, so two writers cannot both record the same "old" value.
 * Validates first (BAD_CONFIG); returns the change (old === new when nothing changed, and then nothing is written).
 */
export async function writeLiveSetting(kv: KvStore, keys: KeySpace, cluster: string, flag: string, raw: string | null, by: string): Promise<ConfigChange> {
  const value = raw === null ? (requireLiveSetting(flag), null) : normalizeLiveValue(flag, raw);
  const key = keys.liveSetting(cluster, flag);
  for (let attempt = 0; ; attempt++) {
    const current = await kv.get(key);
    const old = current === undefined ? null : current.value.toString('utf8');
    const change: ConfigChange = { at: Date.now(), by, key: flag, old, new: value };
    if (old === value) return change;
    const write: TxnOp = value === null ? { type: 'delete', range: { start: key } } : { type: 'put', key, value: Buffer.from(value, 'utf8') };
    // Within one millisecond, this process's changes keep their order (the counter); another process's tie breaks at random.
    const entry = keys.configHistoryEntry(cluster, change.at, `${String(++historySequence % 1_000_000).padStart(6, '0')}-${randomBytes(4).toString('hex')}`);
    const result = await kv.txn({
      compare: [{ key, target: 'modRevision', operator: '==', operand: current?.modRevision ?? 0 }],
      success: [write, { type: 'put', key: entry, value: Buffer.from(JSON.stringify(change), 'utf8') }],
    });
    if (result.succeeded) {
      await trimHistory(kv, keys, cluster);
      return change;
    }
    if (attempt + 1 >= MAX_WRITE_TRIES) throw new GputelError('CONFLICT', `${flag} kept changing under this write (${MAX_WRITE_TRIES} tries); read it again with gputel config get ${flag}`, { retryable: true });
  }
}

/** Removes the oldest entries past CONFIG_HISTORY_LIMIT (one range delete). */
async function trimHistory(kv: KvStore, keys: KeySpace, cluster: string): Promise<void> {
  const prefix = keys.configHistoryPrefix(cluster);
  const entries = await kv.range({ prefix }, { keysOnly: true });
  if (entries.count <= CONFIG_HISTORY_LIMIT) return;
  await kv.delete({ start: prefix, end: entries.kvs[entries.count - CONFIG_HISTORY_LIMIT].key });
}

/** The recorded changes, oldest first (at most CONFIG_HISTORY_LIMIT; an entry that does not parse is skipped). */
export async function readConfigHistory(kv: KvStore, keys: KeySpace, cluster: string): Promise<ConfigChange[]> {
  const result = await kv.range({ prefix: keys.configHistoryPrefix(cluster) });
  const changes: ConfigChange[] = [];
  for (const { value } of result.kvs) {
    try {
      changes.push(JSON.parse(value.toString('utf8')) as ConfigChange);
    } catch {
      // Not written by gputel; the history is informational, so one bad entry does not hide the rest.
    }
  }
  return changes;
}
