/**
 * Routes every sample of one host to one partition, so that a GPU's samples
 * flow in order through one partition and one consumer.
 */

/** FNV-1a, 32 bit: stable across processes, versions and machines (unlike a seeded hash). */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** The partition of a host: a stable hash of cluster and hostname, modulo the partition count. */
export function partitionOf(cluster: string, hostname: string, partitions: number): number {
  return fnv1a(`${cluster}/${hostname}`) % partitions;
}

export { fnv1a };
