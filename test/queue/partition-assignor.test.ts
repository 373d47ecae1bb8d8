/**
 * The assignor is pure: even, complete, deterministic and sticky, checked on
 * examples and, with fast-check, on arbitrary groups and current owners.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { partitionAssignor, type PartitionAssignment } from '../../src/queue/partition-assignor.js';

function sizes(assignment: PartitionAssignment): number[] {
  return [...assignment.values()].map((partitions) => partitions.length);
}

function owners(assignment: PartitionAssignment): Map<number, string> {
  const byPartition = new Map<number, string>();
  for (const [member, partitions] of assignment) for (const partition of partitions) byPartition.set(partition, member);
  return byPartition;
}

const memberIds = fc.uniqueArray(fc.stringMatching(/^[a-z0-9-]{1,8}$/), { minLength: 1, maxLength: 12 });
const partitionCounts = fc.integer({ min: 1, max: 127 });

/** A group, a partition count and some current owners (members or not, some partitions free). */
const situations = fc
  .tuple(memberIds, partitionCounts, fc.array(fc.oneof(fc.constant(undefined), fc.nat({ max: 14 })), { maxLength: 127 }))
  .map(([members, partitions, picks]) => {
    const strangers = ['gone-1', 'gone-2'];
    const pool = [...members, ...strangers];
    const current = new Map<number, string>();
    picks.slice(0, partitions).forEach((pick, partition) => {
      if (pick !== undefined) current.set(partition, pool[pick % pool.length]);
    });
    return { members, partitions, current };
  });

describe('partition assignor', () => {
  it('spreads 16 partitions over 3 members as 6/5/5', () => {
    const assignment = partitionAssignor(['c', 'a', 'b'], 16);
    assert.deepEqual(sizes(assignment).sort(), [5, 5, 6]);
    assert.deepEqual(assignment.get('a'), [0, 1, 2, 3, 4, 5]);
  });

  it('moves exactly the joiner share when a member joins', () => {
    const before = partitionAssignor(['a', 'b'], 16);
    const after = partitionAssignor(['a', 'b', 'c'], 16, owners(before));
    assert.equal(after.get('c')!.length, 5);
    const moved = [...owners(after)].filter(([partition, member]) => owners(before).get(partition) !== member);
    assert.equal(moved.length, 5);
    assert.ok(moved.every(([, member]) => member === 'c'));
  });

  it('moves only the leaver partitions when a member leaves', () => {
    const before = partitionAssignor(['a', 'b', 'c'], 16);
    const after = partitionAssignor(['a', 'c'], 16, owners(before));
    for (const [partition, member] of owners(before)) if (member !== 'b') assert.equal(owners(after).get(partition), member);
    assert.deepEqual(sizes(after), [8, 8]);
  });

  it('gives nothing to nobody', () => {
    assert.equal(partitionAssignor([], 16).size, 0);
  });

  it('assigns every partition exactly once, with shares differing by at most one', () => {
    fc.assert(
      fc.property(situations, ({ members, partitions, current }) => {
        const assignment = partitionAssignor(members, partitions, current);
        const all = [...assignment.values()].flat().sort((a, b) => a - b);
        assert.deepEqual(all, Array.from({ length: partitions }, (_, i) => i));
        const counts = sizes(assignment);
        assert.ok(Math.max(...counts) - Math.min(...counts) <= 1);
        assert.deepEqual([...assignment.keys()].sort(), [...members].sort());
      }),
      { numRuns: 500 },
    );
  });

  it('is deterministic: the order of members does not matter', () => {
    fc.assert(
      fc.property(situations, ({ members, partitions, current }) => {
        const reversed = partitionAssignor([...members].reverse(), partitions, current);
        assert.deepEqual([...reversed].sort(), [...partitionAssignor(members, partitions, current)].sort());
      }),
      { numRuns: 300 },
    );
  });

  it('is sticky: each member keeps as much of what it holds as its share allows, so the fewest partitions move', () => {
    fc.assert(
      fc.property(situations, ({ members, partitions, current }) => {
        const assignment = partitionAssignor(members, partitions, current);
        for (const member of members) {
          const held = [...current].filter(([partition, owner]) => owner === member && partition < partitions).map(([p]) => p);
          const kept = held.filter((partition) => assignment.get(member)!.includes(partition));
          assert.equal(kept.length, Math.min(held.length, assignment.get(member)!.length), `${member} keeps what its share allows`);
        }
        // Minimal movement: a member only gives up partitions when it holds more than any share.
        const base = Math.floor(partitions / members.length);
        for (const member of members) {
          const heldCount = [...current.values()].filter((owner) => owner === member).length;
          if (heldCount <= base) assert.ok(assignment.get(member)!.length >= heldCount);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('is stable: assigning again from its own result moves nothing', () => {
    fc.assert(
      fc.property(situations, ({ members, partitions, current }) => {
        const first = partitionAssignor(members, partitions, current);
        assert.deepEqual(partitionAssignor(members, partitions, owners(first)), first);
      }),
      { numRuns: 300 },
    );
  });
});
