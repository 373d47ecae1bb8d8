/**
 * Waiting that a shutdown can cut short, for the live sources' schedules.
 * `timers/promises` rejects with an AbortError on abort; live sources end
 * their iteration without throwing, so this resolves `false` instead.
 */

/**
 * Resolves after `ms` milliseconds with true, or as soon as `signal` aborts
 * with false (at once if it already has). Leaves no timer or listener behind
 * either way. Never rejects.
 */
export function abortableDelay(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, Math.max(0, ms));
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The first multiple of `intervalMs` strictly after `afterMs`: scrapes and ticks land on round times. */
export function nextAlignedTime(afterMs: number, intervalMs: number): number {
  return (Math.floor(afterMs / intervalMs) + 1) * intervalMs;
}
