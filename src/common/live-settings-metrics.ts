/**
 * The live settings in effect, as metrics: GET /config answers one process
 * when asked, these let Prometheus see every instance at once, so an
 * operator can check that `gputel config set` reached all of them, and
 * alert on a refused value.
 */
import type { LiveSettings } from './live-settings.js';
import { gauge } from './metrics.js';

/** The settings the gauges read at each scrape: one LiveSettings per process (the last one exported). */
let exported: LiveSettings | undefined;

// Registered once, when this module loads; each reads `exported` at every scrape.
gauge(
  'gputel_live_setting_info',
  'Each live setting in effect (always 1): its value in the flag syntax, and where it came from (flag, env, file, default, live)',
  ['key', 'value', 'source'],
  function collect() {
    // Reset first: a changed value is a new label set, and the old one must go.
    this.reset();
    for (const row of exported?.describe() ?? []) if (row.live) this.set({ key: row.key, value: row.value, source: row.source }, 1);
  },
);

gauge(
  'gputel_live_setting_refused',
  'Per live setting, 1 while its stored live value is refused (bad value; the previous value stays in effect), else 0',
  ['key'],
  function collect() {
    this.reset();
    for (const row of exported?.describe() ?? []) if (row.live) this.set({ key: row.key }, row.rejected === undefined ? 0 : 1);
  },
);

/** Makes `settings` the ones the live-setting gauges report from now on. */
export function exportLiveSettings(settings: LiveSettings): void {
  exported = settings;
}
