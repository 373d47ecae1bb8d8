/**
 * Times shown with how long ago (`2026-12-01 06:31:20 UTC (12 s ago)`),
 * redrawn every second while they are shown, so every "ago" on the page
 * counts on together instead of freezing at the moment it was written.
 */
import { formatTime } from './format.js';

/** Redraws the "ago" this often: the finest unit formatDuration shows is the second. */
const TICK_MS = 1000;

export class RelativeTimes {
  private readonly shown = new Map<HTMLElement, number>();
  private timer: number | undefined;
  private stopped = false;

  /**
   * Writes `ms` (epoch ms) into `cell` with how long ago, and keeps its
   * "ago" counting from then on (the first call starts the clock; after
   * stop() it writes the text only). A cell shown again takes the new time.
   */
  show(cell: HTMLElement, ms: number): void {
    this.shown.set(cell, ms);
    cell.replaceChildren(formatTime(ms));
    if (!this.stopped) this.timer ??= window.setInterval(() => this.redraw(), TICK_MS);
  }

  /**
   * Stops the clock for good (a view left while its data loaded may call
   * show() after dispose(): no timer may start then); the cells keep their
   * last text. Safe to call twice, and before any show().
   */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) window.clearInterval(this.timer);
    this.timer = undefined;
  }

  private redraw(): void {
    const nowMs = Date.now();
    for (const [cell, ms] of this.shown) cell.replaceChildren(formatTime(ms, nowMs));
  }
}
