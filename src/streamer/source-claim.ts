/**
 * One streamer per source: a streamer holds `{root}/queue/{topic}/sources/{source-id}`
 * under a lease while it reads the source. A second streamer of the same
 * source is refused, naming the holder; the claim goes with `release()` and,
 * after a crash, when the lease expires (its TTL).
 *
 * The checkpoint's compare-and-swap already keeps two streamers from both
 * committing; the claim turns that late CONFLICT into a clear refusal at start.
 */
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { GputelError } from '../common/gputel-error.js';
import type { Logger } from '../common/logger.js';
import type { KeySpace } from '../kv/key-space.js';
import type { KvStore, Lease } from '../kv/kv-store.js';

export const DEFAULT_SOURCE_CLAIM_TTL_SECONDS = 5;
const RETRY_MS = 250;

export interface SourceClaimOptions {
  topic: string;
  sourceId: string;
  /** What the source reads, recorded for whoever is refused. */
  location: string;
  ttlSeconds?: number;
  /**
   * How long a held claim is waited for before refusing: a streamer restarted
   * right after a kill -9 finds its predecessor's claim until the lease lapses.
   * Default: the TTL plus 2 s.
   */
  waitMs?: number;
  logger: Logger;
  signal?: AbortSignal;
}

interface ClaimHolder {
  holder: string;
  location: string;
  since: string;
}

export class SourceClaim {
  private releasing: Promise<void> | undefined;

  private constructor(
    private readonly lease: Lease,
    readonly key: string,
  ) {}

  /**
   * Claims the source. Throws CONFLICT naming the holder when another
   * streamer still holds it after `waitMs`, the signal's reason when aborted,
   * and store errors as they come (the lease granted for the claim is revoked
   * on every failure, never leaked).
   */
  static async acquire(kv: KvStore, keys: KeySpace, options: SourceClaimOptions): Promise<SourceClaim> {
    const ttlSeconds = options.ttlSeconds ?? DEFAULT_SOURCE_CLAIM_TTL_SECONDS;
    const key = keys.sourceClaim(options.topic, options.sourceId);
    const me: ClaimHolder = { holder: `pid ${process.pid} on ${hostname()}`, location: options.location, since: new Date().toISOString() };
    const lease = await kv.grantLease(ttlSeconds);
    try {
      const deadline = Date.now() + (options.waitMs ?? ttlSeconds * 1000 + 2_000);
      let logged = false;
      for (;;) {
        const result = await kv.txn({
          compare: [{ key, target: 'createRevision', operator: '==', operand: 0 }],
          success: [{ type: 'put', key, value: Buffer.from(JSON.stringify(me)), lease: lease.id }],
          failure: [{ type: 'range', range: { start: key } }],
        });
        if (result.succeeded) break;
        const held = result.results[0];
        const holder = held?.type === 'range' && held.result.kvs[0] ? describeHolder(held.result.kvs[0].value) : 'another streamer';
        if (Date.now() >= deadline) {
          throw new GputelError(
            'CONFLICT',
            `source ${options.sourceId} (${options.location}) is already being streamed by ${holder}; run one streamer per source, ` +
              `or give this one another --source-id (a streamer that was killed releases its claim within ${ttlSeconds} s)`,
          );
        }
        if (!logged) {
          logged = true;
          options.logger.info({ sourceId: options.sourceId, holder }, 'the source is claimed by another streamer; waiting for the claim to be released or to expire');
        }
        await sleep(RETRY_MS, undefined, { signal: options.signal });
      }
    } catch (error) {
      await lease.revoke().catch(() => undefined);
      throw error;
    }
    lease.onLost((error) => options.logger.error({ err: error, sourceId: options.sourceId }, 'the claim on the source was lost (store unreachable past its lease); the checkpoint still refuses a second streamer'));
    return new SourceClaim(lease, key);
  }

  /** Releases the claim (revokes its lease). Safe to call twice. */
  release(): Promise<void> {
    this.releasing ??= this.lease.revoke();
    return this.releasing;
  }
}

function describeHolder(value: Buffer): string {
  try {
    const parsed = JSON.parse(value.toString('utf8')) as Partial<ClaimHolder>;
    return `${parsed.holder ?? 'another streamer'} (reading ${parsed.location ?? '?'} since ${parsed.since ?? '?'})`;
  } catch {
    return 'another streamer';
  }
}
