/**
 * Follows a cluster's live settings (config/settings/) into a LiveSettings:
 * reads them all at start, then applies each change from a watch within a
 * round trip. When the watch ends (etcd restarted, its history compacted,
 * the store closed under it) everything is read again and a new watch
 * starts after that read, with capped backoff while the store does not
 * answer: a change made while no watch ran is never missed.
 */
import { backoffDelayMs, pause } from '../common/backoff.js';
import { errorMessage } from '../common/gputel-error.js';
import type { LiveSettings } from '../common/live-settings.js';
import type { Logger } from '../common/logger.js';
import type { KeySpace } from '../kv/key-space.js';
import type { KvStore, Watcher } from '../kv/kv-store.js';
import { readLiveSettings, settingFlagOfKey } from './live-config-store.js';

export class LiveConfigFollower {
  private readonly abort = new AbortController();
  private readonly logger: Logger;
  private watcher: Watcher | undefined;
  private restarting: Promise<void> | undefined;
  /** Bumped when a restart begins: a watcher of an older generation (cancelled) ends without restarting anything. */
  private generation = 0;
  /** A restart was asked for while one was under way (the new watch ended at once). */
  private restartAgain = false;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly kv: KvStore,
    private readonly keys: KeySpace,
    private readonly cluster: string,
    private readonly settings: LiveSettings,
    logger: Logger,
  ) {
    this.logger = logger.child({ component: 'live-config' });
  }

  /**
   * Applies the stored live values, then follows them. Throws what the first
   * read throws (the store does not answer): a role that cannot read its
   * settings at start should not start on the wrong ones.
   */
  async start(): Promise<void> {
    await this.follow();
  }

  /** Stops following; safe before start and twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.abort.abort();
      await this.restarting;
      await this.watcher?.cancel();
    })();
    return this.stopping;
  }

  private async follow(): Promise<void> {
    const { values, revision } = await readLiveSettings(this.kv, this.keys, this.cluster);
    this.settings.applyAll(values);
    if (this.abort.signal.aborted) return;
    const generation = this.generation;
    const prefix = this.keys.liveSettingsPrefix(this.cluster);
    const watcher = await this.kv.watch(
      { prefix },
      {
        fromRevision: revision + 1,
        onEvent: (event) => {
          const flag = settingFlagOfKey(prefix, event.key);
          if (flag !== undefined) this.settings.apply(flag, event.type === 'put' ? event.value.toString('utf8') : undefined);
        },
        // Only the current watcher's end counts: a replaced one's (its cancel) does not.
        onError: (error) => {
          if (generation === this.generation) this.restart(error);
        },
      },
    );
    if (this.abort.signal.aborted) await watcher.cancel();
    else this.watcher = watcher;
  }

  /** Reads everything again and watches anew, retrying with backoff until it works or stop() is called. */
  private restart(cause: Error): void {
    if (this.abort.signal.aborted) return;
    if (this.restarting !== undefined) {
      // The watch set up by this restart ended already: go round once more when it is done.
      this.restartAgain = true;
      return;
    }
    this.generation++;
    this.logger.warn({ err: cause }, `live configuration watch ended (${errorMessage(cause)}); reading the settings again`);
    this.restarting = (async () => {
      await this.watcher?.cancel().catch(() => undefined);
      this.watcher = undefined;
      for (let attempt = 0; !this.abort.signal.aborted; attempt++) {
        try {
          await this.follow();
          this.logger.info('live configuration followed again');
          return;
        } catch (error) {
          const waitMs = backoffDelayMs(attempt, { initialMs: 200, maxMs: 5_000 });
          this.logger.warn({ err: error, retryInMs: Math.round(waitMs) }, `live configuration cannot be read: ${errorMessage(error)}`);
          await pause(waitMs, this.abort.signal);
        }
      }
    })().finally(() => {
      this.restarting = undefined;
      if (this.restartAgain) {
        this.restartAgain = false;
        this.restart(new Error('the watch ended while it was being set up again'));
      }
    });
  }
}
