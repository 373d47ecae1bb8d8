/**
 * Which member of a consumer group owns which partition: a pure function, so
 * every member computes the same answer from the same view of etcd (members
 * and owner keys), and it can be tested on its own.
 *
 * - Even: the members' shares differ by at most one partition.
 * - Sticky: a member keeps as many of the partitions it owns as its share
 *   allows; only the excess moves, and only to members under their share.
 *   So a join moves exactly the joiner's share, and a leave moves exactly
 *   the leaver's partitions.
 * - Deterministic: the result depends on the set of members (not their
 *   order), the partition count and the current owners, nothing else.
 */

/** Member id → the partitions assigned to it, ascending. Every member appears, even with none. */
export type PartitionAssignment = Map<string, number[]>;

/**
 * Assigns partitions 0..partitions-1 to `members`. `currentOwners` maps a
 * partition to the member that owns it now (owners that are not members are
 * ignored: their partitions are free). Returns an empty map when there are no
 * members. Throws nothing; duplicate member ids count once.
 */
export function partitionAssignor(
  members: readonly string[],
  partitions: number,
  currentOwners: ReadonlyMap<number, string> = new Map(),
): PartitionAssignment {
  const ids = [...new Set(members)].sort();
  const assignment: PartitionAssignment = new Map(ids.map((id) => [id, []]));
  if (ids.length === 0 || partitions <= 0) return assignment;

  const held = new Map<string, number[]>(ids.map((id) => [id, []]));
  for (let partition = 0; partition < partitions; partition++) {
    const owner = currentOwners.get(partition);
    if (owner !== undefined) held.get(owner)?.push(partition);
  }

  // Shares: base for everyone, one more for `extra` members. The members that
  // hold the most now get the larger shares, so the fewest partitions move;
  // ties go by id, so every member picks the same ones.
  const base = Math.floor(partitions / ids.length);
  const extra = partitions % ids.length;
  const byHolding = [...ids].sort((a, b) => held.get(b)!.length - held.get(a)!.length || (a < b ? -1 : a > b ? 1 : 0));
  const share = new Map<string, number>(byHolding.map((id, rank) => [id, base + (rank < extra ? 1 : 0)]));

  const free: number[] = [];
  const taken = new Set<number>();
  for (const id of ids) {
    // Keeps its lowest partitions: any fixed rule works, as long as all members apply the same one.
    const keep = held.get(id)!.slice(0, share.get(id));
    assignment.set(id, keep);
    for (const partition of keep) taken.add(partition);
  }
  for (let partition = 0; partition < partitions; partition++) if (!taken.has(partition)) free.push(partition);

  let next = 0;
  for (const id of ids) {
    const mine = assignment.get(id)!;
    while (mine.length < share.get(id)! && next < free.length) mine.push(free[next++]);
    mine.sort((a, b) => a - b);
  }
  return assignment;
}
