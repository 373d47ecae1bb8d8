/**
 * The settings of one process in effect: what it was started with (flag,
 * environment, config file or default), overridden by the live values
 * written under `{root}/clusters/{cluster}/config/settings/{flag}`.
 *
 * Precedence (docs/configuration.md): a live value wins over every started
 * source; removing it (`gputel config unset`) returns to the started value.
 * A live value that does not parse is refused: the value in effect stays,
 * the refusal is logged and shown at GET /config until the value is fixed.
 */
import {
  LIVE_SETTINGS,
  SECRET_SETTINGS,
  flagOf,
  formatSetting,
  liveSettingOfFlag,
  lowWatermarkInEffect,
  parseSetting,
  settingSourcesOf,
  type GputelConfig,
  type LiveSettingName,
  type SettingSource,
} from './config.js';
import type { Logger } from './logger.js';
import { SettingValue, type Setting } from './setting.js';

/** One row of GET /config. */
export interface SettingInEffect {
  /** The flag name, e.g. `batch-samples`. */
  key: string;
  /** In the flag's syntax; `(hidden)` for secrets, '' for a secret that is not set. */
  value: string;
  source: SettingSource;
  live: boolean;
  /**
   * What the process uses when it is not `value` as written, and why: only
   * low-watermark, whose 0 means half the high watermark (and which is
   * capped at it), e.g. "500 (half of high-watermark)".
   */
  effective?: string;
  /** A live value that was refused, and why; the value above stayed in effect. */
  rejected?: { value: string; reason: string };
}

/**
 * The low watermark a streamer waits under, as queue-producer.ts computes
 * it (0: half the high watermark; never above the high watermark), with
 * why, or undefined when it is the value as set.
 */
export function effectiveLowWatermark(low: number, high: number): string | undefined {
  const inEffect = lowWatermarkInEffect(low, high);
  if (low === 0) return `${inEffect} (half of high-watermark)`;
  if (low > high) return `${inEffect} (capped at high-watermark)`;
  return undefined;
}

const HIDDEN = '(hidden)';

export class LiveSettings {
  private readonly values = new Map<LiveSettingName, SettingValue<unknown>>();
  /** Live values in effect, by setting, as written (the flag syntax). */
  private readonly liveRaw = new Map<LiveSettingName, string>();
  private readonly rejected = new Map<LiveSettingName, { value: string; reason: string }>();

  constructor(
    /** What the process was started with; never changed. */
    readonly started: GputelConfig,
    private readonly logger?: Logger,
  ) {
    for (const name of LIVE_SETTINGS) this.values.set(name, new SettingValue<unknown>(started[name]));
  }

  /** The setting a component keeps and reads (see setting.ts). */
  setting<K extends LiveSettingName>(name: K): Setting<GputelConfig[K]> {
    return this.values.get(name) as unknown as Setting<GputelConfig[K]>;
  }

  /** Sets a value; a component that fails to take it is logged, and the others (and the value) stay applied. */
  private setListened(flag: string, value: SettingValue<unknown>, next: unknown): void {
    try {
      value.set(next);
    } catch (error) {
      this.logger?.error({ key: flag, err: error }, `live setting ${flag}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /**
   * Makes the stored live values, keyed by flag name, the ones in effect:
   * each parsed value applies, a setting absent from `stored` returns to its
   * started value, a bad value or unknown key is logged and changes nothing.
   */
  applyAll(stored: ReadonlyMap<string, string>): void {
    for (const [flag, raw] of stored) this.apply(flag, raw);
    for (const name of LIVE_SETTINGS) if (!stored.has(flagOf(name))) this.apply(flagOf(name), undefined);
  }

  /** Applies one live value (`undefined`: removed). Returns the refusal's reason, or undefined when it applied. */
  apply(flag: string, raw: string | undefined): string | undefined {
    const name = liveSettingOfFlag(flag);
    if (name === undefined) {
      const reason = `"${flag}" is not a live setting (live: ${LIVE_SETTINGS.map(flagOf).join(', ')})`;
      this.logger?.error({ key: flag }, `live configuration ignored: ${reason}`);
      return reason;
    }
    const value = this.values.get(name)!;
    if (raw === undefined) {
      this.rejected.delete(name);
      if (!this.liveRaw.delete(name)) return undefined;
      this.setListened(flag, value, this.started[name]);
      this.logger?.info({ key: flag, value: formatSetting(name, this.started[name]) }, `live setting ${flag} removed: back to the started value`);
      return undefined;
    }
    const parsed = parseSetting(name, raw);
    if (!parsed.ok) {
      this.rejected.set(name, { value: raw, reason: parsed.reason });
      this.logger?.error(
        { key: flag, refused: raw, inEffect: formatSetting(name, value.value as GputelConfig[typeof name]) },
        `live setting ${flag} = ${JSON.stringify(raw)} refused: ${parsed.reason}; keeping ${formatSetting(name, value.value as GputelConfig[typeof name])}`,
      );
      return parsed.reason;
    }
    this.rejected.delete(name);
    const changed = this.liveRaw.get(name) !== raw;
    this.liveRaw.set(name, raw);
    this.setListened(flag, value, parsed.value);
    if (changed) this.logger?.info({ key: flag, value: raw }, `live setting ${flag} = ${raw} applied`);
    return undefined;
  }

  /** Every setting in effect with its source, secrets hidden, in the order of config.ts. */
  describe(): SettingInEffect[] {
    const sources = settingSourcesOf(this.started);
    return (Object.keys(sources) as (keyof GputelConfig)[]).map((name) => {
      const live = (LIVE_SETTINGS as readonly string[]).includes(name) ? (name as LiveSettingName) : undefined;
      const inEffect = live !== undefined ? this.values.get(live)!.value : this.started[name];
      const shown = SECRET_SETTINGS.has(name) ? (inEffect === '' ? '' : HIDDEN) : formatSetting(name, inEffect as never);
      const row: SettingInEffect = { key: flagOf(name), value: shown, source: live !== undefined && this.liveRaw.has(live) ? 'live' : sources[name], live: live !== undefined };
      const refused = live !== undefined ? this.rejected.get(live) : undefined;
      if (name === 'lowWatermark') {
        const effective = effectiveLowWatermark(this.started.lowWatermark, this.started.highWatermark);
        if (effective !== undefined) row.effective = effective;
      }
      if (refused) row.rejected = refused;
      return row;
    });
  }
}
