/**
 * `--max-rate`: a token bucket in rows per second. Rows are taken after they
 * were read (a source delivers them synchronously), so the bucket may go into
 * debt; the next take waits the debt off. The bucket starts empty and holds
 * a tenth of a second's worth at most: a full second's burst up front let a
 * short file run 20-40% over the rate a user asked for (new-user trial).
 */
import { setTimeout as sleep } from 'node:timers/promises';

export class TokenBucket {
  private tokens: number;
  private updatedMs: number;
  private burst: number;
  private readonly fixedBurst: boolean;

  /** `ratePerSecond` > 0; `burst` defaults to a tenth of a second's worth (at least 1). */
  constructor(
    private ratePerSecond: number,
    burst?: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.fixedBurst = burst !== undefined;
    this.burst = burst ?? Math.max(1, ratePerSecond / 10);
    this.tokens = 0;
    this.updatedMs = this.now();
  }

  /**
   * Changes the rate (a live --max-rate): tokens earned so far were earned
   * at the old rate; from now on they come at the new one, and a default
   * burst follows the rate.
   */
  setRate(ratePerSecond: number): void {
    if (ratePerSecond === this.ratePerSecond) return;
    const nowMs = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.updatedMs) * this.ratePerSecond) / 1000);
    this.updatedMs = nowMs;
    this.ratePerSecond = ratePerSecond;
    if (!this.fixedBurst) this.burst = Math.max(1, ratePerSecond / 10);
    // A lower rate takes effect at once: what was saved up under the old, larger burst is not spent.
    this.tokens = Math.min(this.tokens, this.burst);
  }

  /** Takes `count` tokens, waiting while in debt. Rejects with an AbortError when the signal aborts the wait. */
  async take(count: number, signal?: AbortSignal): Promise<void> {
    const nowMs = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.updatedMs) * this.ratePerSecond) / 1000);
    this.updatedMs = nowMs;
    this.tokens -= count;
    if (this.tokens < 0) await sleep((-this.tokens * 1000) / this.ratePerSecond, undefined, { signal });
  }
}
