/**
 * This consumer's membership of a topic's consumer group, and its view of the
 * other members.
 *
 * - Registration: a lease, then the member key `members/{id}` attached to it,
 *   created only if absent: two live collectors must never share an id (a
 *   plain put would move the other's key onto this lease). A key held by
 *   another lease (a collector restarted after kill -9) is waited for up to
 *   the lease TTL + 2 s; still held then, registration fails naming the holder.
 *   If the key cannot be written the lease is revoked at once (it would
 *   otherwise be kept alive for nothing, and leak), and only one registration
 *   runs at a time, whatever triggers it (start, the retry timer, a lost lease).
 * - The view: every member key, read once and then followed with a watch on
 *   `members/`. When the watch ends (etcd compacted its revision, the store
 *   closed, a handler failed) the view is read again and a new watch started.
 *
 * The lease is also what the consumer attaches its owner keys to: a member
 * that dies (lease expiry) loses its member key and its partitions together.
 */
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, GputelError } from '../common/gputel-error.js';
import type { Logger } from '../common/logger.js';
import { counter } from '../common/metrics.js';
import { unescapeSegment, type KeySpace } from '../kv/key-space.js';
import type { KvStore, Lease, Watcher } from '../kv/kv-store.js';

const registrations = counter('gputel_collector_member_registrations_total', 'Times this collector registered in its consumer group');
const leasesRevoked = counter('gputel_collector_member_leases_revoked_total', 'Member leases revoked because the member key could not be written');
const watchReloads = counter('gputel_collector_member_watch_reloads_total', 'Times the members/ watch ended and the member list was read again');

export interface GroupMembershipOptions {
  topic: string;
  memberId: string;
  leaseTtlSeconds: number;
  logger: Logger;
  /** Called whenever the member list or this member's lease changed. */
  onChange: () => void;
}

/** How often a member without a lease tries to register again. */
const RETRY_MS = 1_000;
/** A member key held by another lease is waited for this much longer than the TTL (keep-alive and expiry run late). */
const HOLDER_GRACE_MS = 2_000;
/** How often the member key is tried again while another lease holds it. */
const HOLDER_POLL_MS = 250;

export class GroupMembership {
  private currentLease: Lease | undefined;
  private readonly memberIds = new Set<string>();
  private watcher: Watcher | undefined;
  private registering: Promise<void> | undefined;
  private reloading: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private running = false;
  private stopping: Promise<void> | undefined;
  private lastError: string | undefined;
  /** Bumped on every (re)load, so events of an ended watch are ignored. */
  private watchGeneration = 0;

  constructor(
    private readonly kv: KvStore,
    private readonly keys: KeySpace,
    private readonly options: GroupMembershipOptions,
  ) {}

  /** Registers and loads the member list. Throws when the store cannot be reached (nothing is left behind). */
  async start(): Promise<void> {
    if (this.running || this.stopping) return;
    this.running = true;
    try {
      await this.register();
      await this.reload();
    } catch (error) {
      await this.stop();
      throw error;
    }
    // stop() ran meanwhile and cleared no timer yet: none may be set after it.
    if (!this.running) return;
    this.retryTimer = setInterval(() => {
      if (!this.currentLease) this.registerInBackground();
      if (!this.watcher) this.reloadInBackground();
    }, RETRY_MS);
  }

  /** The lease this member's keys hang on; undefined while not registered. */
  get lease(): Lease | undefined {
    return this.currentLease;
  }

  /** Ids of the live members (this one included once it is registered), sorted. */
  members(): string[] {
    const ids = new Set(this.memberIds);
    if (this.currentLease) ids.add(this.options.memberId);
    return [...ids].sort();
  }

  /** Why this member cannot take part now; undefined when it can. */
  get problem(): string | undefined {
    return this.currentLease && this.watcher ? undefined : this.lastError;
  }

  /** Deletes the member key (by revoking the lease, which also frees every owner key on it). Idempotent, safe before start. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.running = false;
    clearInterval(this.retryTimer);
    await this.registering?.catch(() => undefined);
    await this.reloading?.catch(() => undefined);
    await this.watcher?.cancel().catch(() => undefined);
    this.watcher = undefined;
    const lease = this.currentLease;
    this.currentLease = undefined;
    await lease?.revoke().catch(() => undefined);
  }

  /** One registration at a time: a caller arriving while one runs waits for it. */
  private register(): Promise<void> {
    this.registering ??= this.registerOnce().finally(() => (this.registering = undefined));
    return this.registering;
  }

  private registerInBackground(): void {
    this.register().catch((error: unknown) => {
      this.lastError = `registering as member ${this.options.memberId}: ${errorMessage(error)}`;
      this.options.logger.warn({ err: error }, 'registering in the consumer group failed; will retry');
    });
  }

  private async registerOnce(): Promise<void> {
    if (!this.running || this.currentLease) return;
    const lease = await this.kv.grantLease(this.options.leaseTtlSeconds);
    try {
      await this.createMemberKey(lease);
    } catch (error) {
      // Without its member key the lease serves nothing: revoke it now rather
      // than keep it alive (and its keep-alive stream) until the process ends.
      leasesRevoked.inc();
      await lease.revoke().catch((revokeError: unknown) => this.options.logger.warn({ err: revokeError }, 'revoking the unused member lease failed; it expires after its TTL'));
      throw error;
    }
    if (!this.running) {
      await lease.revoke().catch(() => undefined);
      return;
    }
    lease.onLost((error) => {
      if (this.currentLease !== lease) return;
      this.currentLease = undefined;
      this.lastError = `member lease lost: ${errorMessage(error)}`;
      this.options.logger.error({ err: error }, 'member lease lost; every partition is released, registering again');
      this.options.onChange();
      this.registerInBackground();
    });
    this.currentLease = lease;
    this.lastError = undefined;
    registrations.inc();
    this.options.onChange();
  }

  /**
   * Creates the member key on `lease` if no other lease holds it, waiting up
   * to the TTL + 2 s for one that does to lapse. Throws BAD_CONFIG naming the
   * holder when it does not: another live collector uses this id.
   */
  private async createMemberKey(lease: Lease): Promise<void> {
    const key = this.keys.member(this.options.topic, this.options.memberId);
    const value = Buffer.from(JSON.stringify({ memberId: this.options.memberId, pid: process.pid, host: hostname(), since: new Date().toISOString() }));
    const deadline = Date.now() + this.options.leaseTtlSeconds * 1000 + HOLDER_GRACE_MS;
    for (;;) {
      const result = await this.kv.txn({
        compare: [{ key, target: 'createRevision', operator: '==', operand: 0 }],
        success: [{ type: 'put', key, value, lease: lease.id }],
        failure: [{ type: 'range', range: { start: key } }],
      });
      if (result.succeeded) return;
      const read = result.results[0];
      const holder = read?.type === 'range' ? read.result.kvs[0] : undefined;
      if (!holder) continue; // it lapsed between the compare and the read: try again at once
      if (!this.running) return; // stopped while waiting: registerOnce revokes the lease
      if (Date.now() >= deadline) {
        throw new GputelError(
          'BAD_CONFIG',
          `consumer id ${this.options.memberId} is already used by a live collector in topic ${this.options.topic} (${describeHolder(holder.value)}, lease ${holder.lease}); ` +
            'give each collector its own --consumer-id (or stop the other one)',
        );
      }
      await sleep(HOLDER_POLL_MS);
    }
  }

  private reload(): Promise<void> {
    this.reloading ??= this.reloadOnce().finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  private reloadInBackground(): void {
    this.reload().catch((error: unknown) => {
      this.lastError = `reading the consumer group's members: ${errorMessage(error)}`;
      this.options.logger.warn({ err: error }, 'reading the members failed; will retry');
    });
  }

  /** Reads every member key, then watches from the revision after that read: no change is missed between the two. */
  private async reloadOnce(): Promise<void> {
    if (!this.running) return;
    const generation = ++this.watchGeneration;
    await this.watcher?.cancel().catch(() => undefined);
    this.watcher = undefined;
    const prefix = this.keys.membersPrefix(this.options.topic);
    const page = await this.kv.range({ prefix }, { keysOnly: true });
    this.memberIds.clear();
    for (const kv of page.kvs) this.addMember(kv.key.slice(prefix.length));
    this.options.onChange();
    const watcher = await this.kv.watch(
      { prefix },
      {
        fromRevision: page.revision + 1,
        onEvent: (event) => {
          if (generation !== this.watchGeneration) return;
          const segment = event.key.slice(prefix.length);
          if (event.type === 'put') this.addMember(segment);
          else this.removeMember(segment);
          this.options.onChange();
        },
        onError: (error) => {
          if (generation !== this.watchGeneration || !this.running) return;
          watchReloads.inc();
          this.watcher = undefined;
          this.options.logger.warn({ err: error }, 'the members watch ended; reading the members again');
          // A short pause: a store that just closed or is restarting would end the next watch at once.
          sleep(100).then(() => this.reloadInBackground(), () => undefined);
        },
      },
    );
    if (generation !== this.watchGeneration || !this.running) {
      await watcher.cancel();
      return;
    }
    this.watcher = watcher;
  }

  private addMember(segment: string): void {
    const id = this.memberId(segment);
    if (id !== undefined) this.memberIds.add(id);
  }

  private removeMember(segment: string): void {
    const id = this.memberId(segment);
    if (id !== undefined) this.memberIds.delete(id);
  }

  /** A member key's id, or undefined (logged) for a key no member could have written. */
  private memberId(segment: string): string | undefined {
    try {
      return unescapeSegment(segment);
    } catch {
      this.options.logger.warn({ segment }, 'ignoring a malformed key under members/');
      return undefined;
    }
  }
}

/** Who holds a member key, from its value, for the refusal's message. */
function describeHolder(value: Buffer): string {
  try {
    const { pid, host, since } = JSON.parse(value.toString('utf8')) as { pid?: unknown; host?: unknown; since?: unknown };
    return [host === undefined ? '' : `host ${String(host)}`, pid === undefined ? '' : `pid ${String(pid)}`, since === undefined ? '' : `member since ${String(since)}`]
      .filter((part) => part !== '')
      .join(', ') || 'holder unknown';
  } catch {
    return 'holder unknown';
  }
}
