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
/** Longest wait between attempts to claim a lost source again while the store does not answer. */
const RECLAIM_MAX_BACKOFF_MS = 5_000;

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
  /** The streamer's logger: its lines already carry the source id. */
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
  private released = false;
  /** Ends a reclaim's wait between attempts when the claim is released. */
  private readonly stopReclaiming = new AbortController();

  private constructor(
    private readonly kv: KvStore,
    private lease: Lease,
    readonly key: string,
    private readonly holderValue: Buffer,
    private readonly options: SourceClaimOptions,
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
          options.logger.info({ holder }, 'the source is claimed by another streamer; waiting for the claim to be released or to expire');
        }
        await sleep(RETRY_MS, undefined, { signal: options.signal });
      }
    } catch (error) {
      await lease.revoke().catch(() => undefined);
      throw error;
    }
    const claim = new SourceClaim(kv, lease, key, Buffer.from(JSON.stringify(me)), options);
    claim.watchLease();
    return claim;
  }

  /** Releases the claim (revokes its lease). Safe to call twice. */
  release(): Promise<void> {
    this.released = true;
    this.stopReclaiming.abort();
    this.releasing ??= this.lease.revoke();
    return this.releasing;
  }

  /**
   * When the lease is lost (the store unreachable past its TTL), claims the
   * source again under a new lease, retrying while the store does not
   * answer. Before, a streamer that rode out an etcd stall streamed on
   * without a claim for good, and a second streamer of its source was not
   * refused at start (the checkpoint's compare-and-swap stopped it later).
   */
  private watchLease(): void {
    this.lease.onLost((error) => {
      if (this.released) return;
      this.options.logger.error({ err: error }, 'the claim on the source was lost (store unreachable past its lease); claiming it again');
      void this.reclaim();
    });
  }

  private async reclaim(): Promise<void> {
    const ttlSeconds = this.options.ttlSeconds ?? DEFAULT_SOURCE_CLAIM_TTL_SECONDS;
    for (let attempt = 0; !this.released; attempt++) {
      let lease: Lease | undefined;
      try {
        lease = await this.kv.grantLease(ttlSeconds);
        const result = await this.kv.txn({
          compare: [{ key: this.key, target: 'createRevision', operator: '==', operand: 0 }],
          success: [{ type: 'put', key: this.key, value: this.holderValue, lease: lease.id }],
          failure: [{ type: 'range', range: { start: this.key } }],
        });
        if (this.released) {
          await lease.revoke().catch(() => undefined);
          return;
        }
        if (result.succeeded) {
          this.lease = lease;
          this.watchLease();
          this.options.logger.info('the claim on the source is held again');
          return;
        }
        await lease.revoke().catch(() => undefined);
        const held = result.results[0];
        const holder = held?.type === 'range' && held.result.kvs[0] ? describeHolder(held.result.kvs[0].value) : 'another streamer';
        this.options.logger.error({ holder }, `the source is now claimed by ${holder}: the checkpoint lets only one of the two streamers commit`);
        return;
      } catch (error) {
        await lease?.revoke().catch(() => undefined);
        this.options.logger.warn({ err: error }, 'claiming the source again failed; retrying');
        await sleep(Math.min(RECLAIM_MAX_BACKOFF_MS, RETRY_MS * 2 ** attempt), undefined, { signal: this.stopReclaiming.signal }).catch(() => undefined);
      }
    }
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
