/**
 * Capped exponential backoff with jitter, for every background loop that
 * retries a store that is down (etcd restarting, a leader election): each
 * failure doubles the wait up to a cap, and the jitter spreads the retries of
 * many processes so that an etcd coming back is not hit by all at once.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface BackoffOptions {
  /** Wait after the first failure (default 200 ms). */
  initialMs?: number;
  /** Longest wait (default 10 s). */
  maxMs?: number;
}

/**
 * The wait before retry number `attempt` (0 for the first retry): a random
 * value in [½, 1] × min(maxMs, initialMs × 2^attempt) ("equal jitter": never
 * shorter than half the step, so a loop cannot spin).
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions = {}): number {
  const initialMs = options.initialMs ?? 200;
  const maxMs = options.maxMs ?? 10_000;
  const stepMs = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return stepMs / 2 + Math.random() * (stepMs / 2);
}

/** Waits `ms`, or less when `signal` aborts; never rejects. */
export async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  await sleep(ms, undefined, { signal }).catch(() => undefined);
}
