/**
 * What both drivers' leases share: revoking once, and telling every onLost
 * handler once, asynchronously, when the lease is lost (losing a lease is an
 * event, never an unhandled rejection).
 */
import type { Lease } from './kv-store.js';

export abstract class LeaseHandle implements Lease {
  private lostHandlers: ((error: Error) => void)[] = [];
  private lostError: Error | undefined;
  private revoking: Promise<void> | undefined;

  constructor(readonly id: string) {}

  /** Deletes the lease and its keys. Safe to call twice, and after the lease was lost. */
  revoke(): Promise<void> {
    this.revoking ??= this.revokeOnce();
    return this.revoking;
  }

  /** Calls `handler` once when the lease is lost; at once (asynchronously) if it already was. */
  onLost(handler: (error: Error) => void): void {
    if (this.lostError !== undefined) {
      const error = this.lostError;
      setImmediate(() => handler(error));
      return;
    }
    this.lostHandlers.push(handler);
  }

  /** Stops keeping the lease alive without revoking it: it expires after its TTL, and onLost is not called. */
  abstract release(): void;

  /** @internal Called by the driver when the lease expired or could not be kept alive. */
  markLost(error: Error): void {
    if (this.lostError !== undefined) return;
    this.lostError = error;
    const handlers = this.lostHandlers;
    this.lostHandlers = [];
    for (const handler of handlers) setImmediate(() => handler(error));
  }

  protected abstract revokeOnce(): Promise<void>;
}
