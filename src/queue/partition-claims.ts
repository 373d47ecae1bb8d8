/**
 * Claims on single partitions: one leased owner key `owners/{partition}` per
 * partition, holding the owner's member id. A claim is made and released one
 * partition at a time, on the member's lease, without touching the lease
 * itself, so a member can hand one partition over and keep the rest.
 *
 * The revision a claim was written at is its fencing token: every write of
 * a message's effect compares the owner key's modRevision with it, so a
 * member that lost a claim (a pause, a partition of the network) writes
 * nothing, whoever believes what.
 */
import { GputelError } from '../common/gputel-error.js';
import type { KeySpace } from '../kv/key-space.js';
import type { KvStore, Lease } from '../kv/kv-store.js';

/** The owner key of one partition, as stored. */
export interface PartitionOwner {
  memberId: string;
  /** The claim's fencing token. */
  modRevision: number;
  /** The lease the owner key hangs on. */
  lease: string;
}

export class PartitionClaims {
  constructor(
    private readonly kv: KvStore,
    private readonly keys: KeySpace,
    private readonly topic: string,
    private readonly memberId: string,
  ) {}

  /**
   * Claims `partition` on `lease` if nobody owns it. Resolves to the claim's
   * revision, or undefined when another claim holds it. Throws (retryable)
   * when the store fails; the outcome is then unknown, and `owners()` tells.
   */
  async claim(partition: number, lease: Lease): Promise<number | undefined> {
    const ownerKey = this.keys.owner(this.topic, partition);
    const result = await this.kv.txn({
      compare: [{ key: ownerKey, target: 'createRevision', operator: '==', operand: 0 }],
      success: [{ type: 'put', key: ownerKey, value: Buffer.from(this.memberId), lease: lease.id }],
    });
    return result.succeeded ? result.revision : undefined;
  }

  /**
   * Deletes the owner key if it still holds the claim made at `claimRevision`
   * (a newer claim, by anyone, is never deleted). Resolves to whether it did.
   */
  async release(partition: number, claimRevision: number): Promise<boolean> {
    const ownerKey = this.keys.owner(this.topic, partition);
    const result = await this.kv.txn({
      compare: [{ key: ownerKey, target: 'modRevision', operator: '==', operand: claimRevision }],
      success: [{ type: 'delete', range: { start: ownerKey } }],
    });
    return result.succeeded;
  }

  /** Whether the claim made at `claimRevision` still holds. Throws when the store fails. */
  async holds(partition: number, claimRevision: number): Promise<boolean> {
    const owner = await this.kv.get(this.keys.owner(this.topic, partition));
    return owner?.modRevision === claimRevision;
  }

  /** Every partition's owner key, by partition. Keys that name no partition below `partitions` are skipped. */
  async owners(partitions: number): Promise<Map<number, PartitionOwner>> {
    return readPartitionOwners(this.kv, this.keys, this.topic, partitions);
  }
}

/** Every owner key of a topic, by partition (shared with `gputel queue status`). */
export async function readPartitionOwners(kv: KvStore, keys: KeySpace, topic: string, partitions: number): Promise<Map<number, PartitionOwner>> {
  const prefix = keys.ownersPrefix(topic);
  const page = await kv.range({ prefix });
  const owners = new Map<number, PartitionOwner>();
  for (const entry of page.kvs) {
    const segment = entry.key.slice(prefix.length);
    const partition = /^\d{4}$/.test(segment) ? Number(segment) : NaN;
    if (!(partition < partitions)) continue;
    owners.set(partition, { memberId: entry.value.toString('utf8'), modRevision: entry.modRevision, lease: entry.lease });
  }
  return owners;
}

/** The error a worker stops with when its claim was taken away. */
export function claimLost(topic: string, partition: number): GputelError {
  return new GputelError('CONFLICT', `the claim on partition ${partition} of topic "${topic}" no longer holds; another collector owns it now`, { retryable: true });
}
